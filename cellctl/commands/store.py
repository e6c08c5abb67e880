"""`cellctl store rebuild|check|dump|info|prune` on a station's store; `store check --site` on the
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
        (
            "info",
            "show the store's size, the oldest event kept, the historian's confirmed seq "
            "and what was pruned",
            _info,
        ),
        (
            "prune",
            "prune the events the historian confirmed and older than the site's "
            "[history] retention_days (the station does this at start and daily)",
            _prune,
        ),
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
        if name == "prune":
            sp.add_argument(
                "--retention-days",
                type=float,
                help="override the site file's [history] retention_days",
            )
            sp.add_argument(
                "--vacuum",
                action="store_true",
                help="then VACUUM, giving the space back to the disk (not while the "
                "station runs: it rewrites the file)",
            )
        if name == "info":
            sp.add_argument("--json", action="store_true", help="print JSON")
        sp.add_argument("--db", help="the store file (default: from the station or site file)")
        sp.set_defaults(func=func)


def _loaded(args: argparse.Namespace):
    from cellctl.config.load import load_station
    from cellctl.errors import CliError, ConfigError

    try:
        return load_station(args.station)
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def _open(args: argparse.Namespace):
    from cellctl.store.station_store import StationStore

    loaded = _loaded(args)
    return StationStore(args.db or loaded.store_path(), loaded.id)


def _pruned_line(rec) -> str:
    if not rec.events:
        return "pruned: nothing yet"
    return (
        f"pruned: {rec.events} events through seq {rec.through_seq} "
        f"(to {rec.through_time}), in {rec.runs} run(s); last run {rec.last_run_at}: "
        f"{rec.last_run_events} events"
    )


def _info(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cellctl.store.pruning import summary

    store = _open(args)
    info = summary(store.conn, Path(store.path))
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    size = info["size_bytes"]
    print(f"store: {store.path} ({'?' if size is None else f'{size / 1e6:.1f} MB'})")
    print(
        f"events kept: {info['events']} (seq {info['first_seq']}..{info['last_seq']}), "
        f"oldest {info['oldest_event_time']}"
    )
    print(f"confirmed by the historian: through seq {info['confirmed_seq']}")
    print(f"waiting in the outbox: {info['outbox']}")
    from cellctl.store.pruning import PruneRecord

    print(_pruned_line(PruneRecord(**info["pruned"])))
    return 0


def _prune(args: argparse.Namespace) -> int:
    from cellctl.store.pruning import prune

    loaded = _loaded(args)
    days = args.retention_days or loaded.site.history.retention_days
    store = _open(args)
    result = prune(store.conn, retention_days=days, vacuum=args.vacuum)
    print(
        f"pruned {result.pruned} events (retention {days:g} days); the store now starts "
        f"after seq {result.through_seq}"
        + (f" ({result.through_time})" if result.through_time else "")
    )
    print(f"kept from there on: held back by {result.limited_by}")
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from cellctl.store.pruning import pruned
    from cellctl.store.schema import READ_TABLES

    store = _open(args)
    changed = store.rebuild()
    rec = pruned(store.conn)
    base = f"the checkpoint at seq {rec.through_seq} and " if rec.events else ""
    print(f"rebuilt {len(READ_TABLES)} read tables from {base}{store.event_count()} events")
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
    from cellctl.store.pruning import pruned

    rec = pruned(store.conn)
    after = f" (seq {rec.through_seq + 1} on; {rec.events} pruned)" if rec.events else ""
    print(f"ok: {store.event_count()} events{after}, {store.outbox_count()} waiting in the outbox")
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
