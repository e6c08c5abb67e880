"""`cellctl station --headless --station FILE`: a cell with no screen."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "station",
        help="run a cell's controller without a screen",
        description="Run one cell headless: broker link, machine, labels; no operator screen.",
    )
    p.add_argument("--station", required=True, help="the station's TOML file")
    p.add_argument("--headless", action="store_true", help="no screen (the only mode here)")
    p.add_argument("--db", help="the store file (default: from the station file)")
    p.add_argument("--broker", help="override the site's MQTT URL (mqtt://host:port)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from cellctl.station.runtime import StationRuntime, open_station

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    controller = open_station(args.station, db=args.db)
    runtime = StationRuntime(controller, broker_url=args.broker)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"{controller.cell}: running headless; Ctrl-C stops", flush=True)
        await runtime.run_headless(stop)

    asyncio.run(main())
    return 0
