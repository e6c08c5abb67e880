"""`cellctl historian run|status|ask`: the site historian service and questions to it."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "historian",
        help="the site historian: every cell's events once, indexed, answering the site",
    )
    hsub = p.add_subparsers(dest="historian_command", metavar="ACTION", required=True)
    run = hsub.add_parser(
        "run",
        help="run the historian until interrupted (on the central machine)",
        description="Consume every cell's events from the broker exactly once into the site "
        "database (SQLite by default, or PostgreSQL: --db postgresql://...) and answer "
        "trace, batch, run and report requests over MQTT 5.",
    )
    status = hsub.add_parser("status", help="ask the running historian how it is doing")
    imp = hsub.add_parser(
        "import",
        help="load station store files into the historian's database (once each event)",
        description="Copy the events of station store files (e.g. from the one-machine "
        "layout, or a kiosk's card) into the historian's database; events it holds already "
        "are skipped, so importing twice doubles nothing.",
    )
    imp.add_argument("--store", action="append", required=True, metavar="FILE",
                     help="a station store file (repeatable)")  # fmt: skip
    for sp in (run, status, imp):
        sp.add_argument("--site", default="stations/demo/site.toml", help="the site's TOML file")
        sp.add_argument("--url", help="broker URL, overriding the site file's [mqtt] url")
    for sp in (run, imp):
        sp.add_argument(
            "--db",
            help="a SQLite file or a postgresql:// URL (default: the site file's historian_db)",
        )
    imp.set_defaults(func=_import)
    run.set_defaults(func=_run)
    status.add_argument("--timeout", type=float, default=3.0, help="seconds to wait")
    status.set_defaults(func=_status)


def load_site_for_bus(site_path: str, url: str | None):
    """The site file, with the broker URL overridden when given."""
    from cellctl.config.load import load_site
    from cellctl.errors import CliError, ConfigError

    try:
        site = load_site(site_path)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if url:
        try:
            site = site.model_copy(update={"mqtt": site.mqtt.model_copy(update={"url": url})})
        except ValueError as exc:
            raise CliError(str(exc)) from None
    return site


def database_of(site, site_path: str, db: str | None) -> str:
    from pathlib import Path

    target = db or site.historian_db
    if target.startswith(("postgresql://", "postgres://")):
        return target
    path = Path(target)
    return str(path if path.is_absolute() or db else Path(site_path).parent / path)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import logging
    import signal

    from cellctl.bus.connection import Backoff
    from cellctl.errors import CliError
    from cellctl.historian.answers import SiteContext
    from cellctl.historian.backends import open_store
    from cellctl.historian.service import Historian
    from cellctl.historian.store import HistorianStoreError, StoreUnavailable

    site = load_site_for_bus(args.site, args.url)
    target = database_of(site, args.site, args.db)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        backoff = Backoff(first=0.5, cap=10.0)
        while True:
            # A database server still starting (or away) is waited for: the cells keep
            # their events meanwhile. One that refuses us for good is an error.
            try:
                store = open_store(target)
                break
            except StoreUnavailable as exc:
                logging.error("historian: database unavailable (%s); retrying", exc)
            except HistorianStoreError as exc:
                raise CliError(f"cannot open the historian's database: {exc}") from None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff.next())
            if stop.is_set():
                return
        historian = Historian(store, context=SiteContext.load(site, args.site), mqtt=site.mqtt)
        await historian.start()
        print(
            f"historian for site {site.site.id} on {site.mqtt.url}, "
            f"database {store.describe()} ({store.count()} events)",
            flush=True,
        )
        await stop.wait()
        await historian.stop()
        store.close()

    asyncio.run(main())
    return 0


def _status(args: argparse.Namespace) -> int:
    from cellctl.bus.site_request import SiteRequestError, ask_site_sync
    from cellctl.errors import CliError

    site = load_site_for_bus(args.site, args.url)
    try:
        result = ask_site_sync(site.mqtt, site.site.id, "status", {}, timeout_s=args.timeout)
    except SiteRequestError as exc:
        raise CliError(str(exc)) from None
    print(json.dumps(result, indent=1))
    return 0


def _import(args: argparse.Namespace) -> int:
    from cellctl.errors import CliError
    from cellctl.historian.backends import open_store
    from cellctl.historian.store import HistorianStoreError
    from cellctl.store.db import StoreError
    from cellctl.store.reader import read_events

    site = load_site_for_bus(args.site, None)
    target = database_of(site, args.site, args.db)
    try:
        store = open_store(target)
    except HistorianStoreError as exc:
        raise CliError(f"cannot open the historian's database: {exc}") from None
    try:
        for path in args.store:
            try:
                events = read_events(path)
            except StoreError as exc:
                raise CliError(str(exc)) from None
            stored = duplicates = conflicts = 0
            for i in range(0, len(events), 2000):
                result = store.ingest(events[i : i + 2000])
                stored += len(result.stored)
                duplicates += result.duplicates
                conflicts += result.conflicts
            print(f"{path}: {stored} events stored, {duplicates} already held"
                  + (f", {conflicts} in conflict (see the log)" if conflicts else ""))  # fmt: skip
    finally:
        store.close()
    return 0
