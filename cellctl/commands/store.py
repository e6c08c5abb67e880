"""`cellctl store rebuild|check|dump` on a station's store; `store check --site` on the
site's scheduler store (conservation of units from step to step)."""

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
        if name == "check":
            which = sp.add_mutually_exclusive_group(required=True)
            which.add_argument("--station", help="the station's TOML file")
            which.add_argument(
                "--site",
                help="the site's TOML file: check every run's step counts in the scheduler's "
                "store (a step never uses more units than its upstream step made good; a "
                "step done short was closed short)",
            )
        else:
            sp.add_argument("--station", required=True, help="the station's TOML file")
        sp.add_argument("--db", help="the store file (default: from the station or site file)")
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
    from cellctl.store.schema import READ_TABLES

    store = _open(args)
    changed = store.rebuild()
    print(f"rebuilt {len(READ_TABLES)} read tables from {store.event_count()} events")
    if changed:
        print(f"tables that differed before the rebuild: {', '.join(changed)}")
    return 0


def _check(args: argparse.Namespace) -> int:
    if getattr(args, "site", None):
        return _check_site(args)
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


def _check_site(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cellctl.config.load import load_site
    from cellctl.errors import CliError, ConfigError
    from cellctl.store.scheduler_store import SchedulerStore

    try:
        site = load_site(args.site)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    db = Path(args.db) if args.db else Path(args.site).parent / site.scheduler_store
    if not db.is_file():
        raise CliError(f"no scheduler store at {db}: pass --db, or run the scheduler first")
    store = SchedulerStore(db)
    try:
        runs = store.runs()
        violations = store.conservation_violations(r["id"] for r in runs)
        alerts = store.conservation_alerts()
    finally:
        store.close()
    for v in violations:
        print(f"conservation: {v}")
    for a in alerts:
        print(f"alert ({a['time']}): {a['message']}")
    if violations or alerts:
        bad = len({v.run_id for v in violations} | {a["run_id"] for a in alerts})
        print(f"{bad} of {len(runs)} run(s) break conservation of units")
        return 1
    print(f"ok: {len(runs)} run(s); every step used at most what the step before made good")
    return 0
