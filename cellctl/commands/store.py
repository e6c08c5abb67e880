"""`cellctl store rebuild|check|dump` on a station's store."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("store", help="inspect and repair a station's event store")
    ssub = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    for name, help_text, func in (
        ("rebuild", "rebuild the read tables from the event log", _rebuild),
        ("check", "check integrity and invariants (exit 1 on problems)", _check),
        ("dump", "print the read tables as JSON", _dump),
    ):
        sp = ssub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("--station", required=True, help="the station's TOML file")
        sp.add_argument("--db", help="the store file (default: from the station file)")
        sp.set_defaults(func=func)


def _open(args: argparse.Namespace):
    from cellctl.config.load import load_station
    from cellctl.errors import CliError, ConfigError
    from cellctl.store.station_store import StationStore

    try:
        loaded = load_station(args.station)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    return StationStore(args.db or loaded.store_path(), loaded.id)


def _rebuild(args: argparse.Namespace) -> int:
    store = _open(args)
    before = store.read_tables()
    store.rebuild()
    after = store.read_tables()
    changed = [t for t in before if before[t] != after[t]]
    print(f"rebuilt {len(after)} read tables from {store.event_count()} events")
    if changed:
        print(f"tables that differed before the rebuild: {', '.join(changed)}")
    return 0


def _check(args: argparse.Namespace) -> int:
    store = _open(args)
    problems = store.check()
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"ok: {store.event_count()} events, {store.outbox_count()} waiting in the outbox")
    return 0


def _dump(args: argparse.Namespace) -> int:
    print(json.dumps(_open(args).read_tables(), indent=1, default=str))
    return 0
