"""`cellctl kiosk --station FILE`: the Textual terminal at a cell."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "kiosk",
        help="run the station kiosk (Textual) for one cell",
        description="Run the kiosk of one cell: sign in, counts, defects, labels, machine.",
    )
    p.add_argument("--station", required=True, help="the station's TOML file")
    p.add_argument("--db", help="the store file (default: from the station file)")
    p.add_argument("--broker", help="override the site's MQTT URL (mqtt://host:port)")
    p.add_argument("--no-broker", action="store_true", help="run offline, do not connect")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from cellctl.tui.kiosk.app import build_kiosk

    build_kiosk(
        args.station, db=args.db, broker_url=args.broker, connect_broker=not args.no_broker
    ).run()
    return 0
