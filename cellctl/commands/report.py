"""`cellctl report --from … --to … --format csv|json`: runs, counts, defects, downtime, OEE.

Asks the site historian over the bus; `--store FILE` reads station store files instead
(forensics on one machine)."""

from __future__ import annotations

import argparse
from datetime import datetime, tzinfo


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="export runs, counts, defects, downtime and OEE over a period",
        description="A production report from the site historian (asked over the broker), "
        "or with --store from those station store files only (read-only). Times without a "
        "zone are in the site's timezone (UTC without --site). OEE follows ISO 22400-2 (see "
        "cellctl/domain/metrics.py): time after now is neither planned time nor downtime, "
        "and a performance above 100 % is reported as a setting to check.",
    )
    p.add_argument("--from", dest="start", required=True, help="start: 2026-01-05 or ISO time")
    p.add_argument("--to", dest="end", required=True, help="end (exclusive), same forms")
    p.add_argument("--format", choices=("csv", "json"), default="json")
    p.add_argument("--site", help="the site file: its broker and site id; shifts, cycle times")
    p.add_argument(
        "--store",
        action="append",
        default=[],
        metavar="FILE",
        help="read this station store file instead of asking the historian (repeatable)",
    )
    p.add_argument("--cell", action="append", default=[], help="only this cell (repeatable)")
    p.add_argument("--url", help="broker URL, overriding the site file's [mqtt] url")
    p.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the historian (30)"
    )
    p.add_argument(
        "--table",
        default="all",
        choices=("all", "runs", "counts", "defects", "downtime", "oee", "sku"),
        help="one table; `sku` is lead time, yield, FPY and scrap Pareto per SKU",
    )
    p.add_argument(
        "--plots",
        metavar="DIR",
        help="with --table sku: also write PNG and SVG charts and an HTML page to mail",
    )
    p.add_argument("--out", help="write to this file instead of standard output")
    p.set_defaults(func=_run)


def _when(text: str, tz: tzinfo) -> datetime:
    from cellctl.errors import CliError

    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{text!r} is not a date or ISO time (e.g. 2026-01-05 or "
                       "2026-01-05T06:00)") from None  # fmt: skip
    return value if value.tzinfo else value.replace(tzinfo=tz)


def _run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from cellctl.domain.report import to_csv, to_json

    if args.table == "sku":
        return _sku(args)
    if args.plots:
        from cellctl.errors import CliError

        raise CliError("--plots goes with --table sku")
    report = _from_stores(args) if args.store else _ask_historian(args)
    for row in report["oee"]:
        if row["problem"]:
            # said on stderr too, so a person piping the table elsewhere still sees it
            print(f"report: {row['problem']}", file=sys.stderr)
    text = (to_csv if args.format == "csv" else to_json)(report, args.table)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _sku(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from cellctl.site.sku_output import sku_csv, sku_json, write_plots

    report = _sku_from_stores(args) if args.store else _ask_historian(args, "sku")
    text = (sku_csv if args.format == "csv" else sku_json)(report)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    if args.plots:
        written = write_plots(report, Path(args.plots))
        print(f"report: wrote {len(written)} files to {args.plots}", file=sys.stderr)
    return 0


def _sku_from_stores(args: argparse.Namespace) -> dict:
    from datetime import UTC
    from pathlib import Path
    from zoneinfo import ZoneInfo

    from cellctl.config.load import load_site
    from cellctl.domain import metrics
    from cellctl.domain.sku_report import sku_report
    from cellctl.errors import CliError, ConfigError
    from cellctl.store.db import StoreError
    from cellctl.store.reader import read_events

    tz: tzinfo = UTC
    if args.site:
        try:
            tz = ZoneInfo(load_site(args.site).site.timezone)
        except ConfigError as exc:
            raise CliError(str(exc)) from None
    start, end = _when(args.start, tz), _when(args.end, tz)
    if end <= start:
        raise CliError("--to must be after --from")
    try:
        events = [e for path in args.store for e in read_events(Path(path))]
    except StoreError as exc:
        raise CliError(str(exc)) from None

    # The runs with events in the period, with all their events (as the historian does).
    def within(e) -> bool:
        return start <= metrics.parse_time(e.time) < end

    runs = {str(e.payload["run_id"]) for e in events if e.payload.get("run_id") and within(e)}
    mine = [e for e in events if str(e.payload.get("run_id")) in runs]
    iso = lambda t: t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")  # noqa: E731
    return {"from": iso(start), "to": iso(end), **sku_report(mine)}


def _ask_historian(args: argparse.Namespace, what: str = "report") -> dict:
    from zoneinfo import ZoneInfo

    from cellctl.bus.site_request import SiteRequestError, ask_site_sync
    from cellctl.commands.historian import load_site_for_bus
    from cellctl.errors import CliError

    if not args.site:
        raise CliError("give --site (to ask the site historian) or --store FILE")
    site = load_site_for_bus(args.site, args.url)
    # Checked here too, so a typo is said at once rather than by the historian.
    tz = ZoneInfo(site.site.timezone)
    if _when(args.end, tz) <= _when(args.start, tz):
        raise CliError("--to must be after --from")
    body = {"from": args.start, "to": args.end, "cells": args.cell}
    try:
        return ask_site_sync(site.mqtt, site.site.id, what, body, timeout_s=args.timeout)
    except SiteRequestError as exc:
        raise CliError(str(exc)) from None


def _from_stores(args: argparse.Namespace) -> dict:
    from datetime import UTC
    from pathlib import Path
    from zoneinfo import ZoneInfo

    from cellctl.config.load import load_site, load_station
    from cellctl.domain import metrics
    from cellctl.domain.report import ReportError, build_report
    from cellctl.errors import CliError, ConfigError
    from cellctl.store.db import StoreError
    from cellctl.store.reader import read_events

    stores = [Path(s) for s in args.store]
    shifts = [metrics.ShiftSpec("all day", "00:00", "00:00", days=metrics.WEEKDAYS)]
    ideal: dict[str, float] = {}
    planned: set[str] = set()
    tz: tzinfo = UTC
    try:
        if args.site:
            site = load_site(args.site)
            tz = ZoneInfo(site.site.timezone)
            if site.shifts:
                shifts = [metrics.ShiftSpec(s.name, s.start, s.end, tuple(s.days), s.breaks_min)
                          for s in site.shifts]  # fmt: skip
            planned = {r.code for r in site.downtime_reasons if r.planned}
            for name in site.stations:
                path = Path(args.site).parent / name
                if path.is_file():  # a kiosk machine holds only its own station file
                    station = load_station(path)
                    ideal[station.id] = station.config.station.ideal_cycle_s
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    start, end = _when(args.start, tz), _when(args.end, tz)
    try:
        events = [e for path in stores for e in read_events(path)]
        if args.cell:
            events = [e for e in events if e.cell in args.cell]
        return build_report(events, start=start, end=end, shifts=shifts, ideal_cycle_s=ideal,
                            planned_reasons=planned, tz=tz, now=datetime.now(UTC))  # fmt: skip
    except (ReportError, StoreError) as exc:
        raise CliError(str(exc)) from None
