"""`cellctl scheduler run|status`: the run scheduler service and a look at its store."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scheduler", help="the run scheduler service")
    ssub = p.add_subparsers(dest="scheduler_command", metavar="ACTION", required=True)
    for name, help_text, func in (
        ("run", "run the scheduler until interrupted", _run),
        ("status", "what the scheduler's store holds", _status),
    ):
        sp = ssub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("--site", default="stations/demo/site.toml", help="the site's TOML file")
        sp.add_argument("--db", help="the scheduler's store (default: from the site file)")
        sp.add_argument("--url", help="broker URL, overriding the site file's [mqtt] url")
        sp.set_defaults(func=func)
        if name == "run":
            sp.add_argument(
                "--rule",
                choices=("plan", "index"),
                default="plan",
                help="plan: the ATC index refined by a whole-shop plan while the queue is "
                "small (the default); index: the ATC index alone",
            )
            sp.add_argument(
                "--move-after-down",
                type=float,
                default=600.0,
                metavar="SECONDS",
                help="a cell that reports DOWN keeps its step; after this long (default "
                "600 s) the step moves to a free cell of the same kind, if there is one",
            )


def _load(args: argparse.Namespace):
    from cellctl.config.load import load_site
    from cellctl.errors import CliError, ConfigError

    try:
        site = load_site(args.site)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if args.url:
        try:
            site = site.model_copy(update={"mqtt": site.mqtt.model_copy(update={"url": args.url})})
        except ValueError as exc:
            raise CliError(str(exc)) from None
    db = Path(args.db) if args.db else Path(args.site).parent / site.scheduler_store
    return site, db


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from cellctl.scheduler import Scheduler
    from cellctl.store.scheduler_store import SchedulerStore

    site, db = _load(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    async def main() -> None:
        sched = Scheduler(
            SchedulerStore(db),
            site=site,
            plan=args.rule == "plan",
            move_after_down_s=args.move_after_down,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await sched.start()
        print(f"scheduler for site {site.site.id} on {site.mqtt.url}, store {db}", flush=True)
        await stop.wait()
        await sched.stop()

    asyncio.run(main())
    return 0


def _status(args: argparse.Namespace) -> int:
    from cellctl.store.scheduler_store import SchedulerStore

    _, db = _load(args)
    store = SchedulerStore(db)
    summary = store.summary()
    summary["sequence_marks"] = store.seq_marks()
    summary["holds"] = store.holds()
    print(json.dumps(summary, indent=1))
    return 0
