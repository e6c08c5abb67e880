"""`cellctl runs list|show|submit|import|cancel|prioritise`: asking the scheduler.

The scheduler runs on the central machine and owns its store; these commands reach it
over the bus (MQTT 5 request/response, `cellctl/scheduler/requests.py`), as the board and
the shop's API do, so an order is applied by the one process that holds the queue, and the
answer says what it did or why not. Cancel and prioritise need the badge of a supervisor
from the site file (the scheduler checks it). `--db FILE` reads a scheduler store file
directly for forensics on one machine: `list` and `show` only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="production runs in the scheduler's queue")
    rsub = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--site", default="stations/demo/site.toml", help="the site's TOML file")
        sp.add_argument("--url", help="broker URL, overriding the site file's [mqtt] url")
        sp.add_argument(
            "--db", help="read this scheduler store file instead of asking (forensics: list, show)"
        )
        sp.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for an answer")

    sp = rsub.add_parser("list", help="runs and where they are")
    common(sp)
    sp.add_argument("--all", action="store_true", help="include done and cancelled runs")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=_list)

    sp = rsub.add_parser("show", help="one run, its steps and counts per cell")
    common(sp)
    sp.add_argument("run_id")
    sp.set_defaults(func=_show)

    sp = rsub.add_parser("submit", help="queue a new run")
    common(sp)
    sp.add_argument("--id", required=True)
    sp.add_argument("--sku", required=True)
    sp.add_argument("--quantity", required=True)
    sp.add_argument("--margin", required=True, dest="unit_margin", help="margin per unit")
    sp.add_argument("--due", required=True, help="ISO date-time, e.g. 2026-11-30T12:00Z")
    sp.add_argument("--routing", required=True, help="cell kinds in order, e.g. cut>print>qa")
    sp.add_argument("--sla", default="standard", help="standard, express or critical")
    sp.add_argument("--priority", default=0, dest="manual_priority")
    sp.add_argument("--batch")
    sp.add_argument("--title", default="")
    sp.add_argument("--cycle-s", default=30.0, dest="cycle_s", help="seconds per unit per step")
    sp.set_defaults(func=_submit)

    sp = rsub.add_parser("import", help="queue runs from a CSV file (a header row of fields)")
    common(sp)
    sp.add_argument("csv", help="columns: id, sku, quantity, unit_margin, due, routing, ...")
    sp.set_defaults(func=_import)

    sp = rsub.add_parser("cancel", help="cancel a run (supervisor)")
    common(sp)
    sp.add_argument("run_id")
    sp.add_argument("--by", required=True, help="the supervisor's badge")
    sp.set_defaults(func=_cancel)

    sp = rsub.add_parser("prioritise", help="set a run's manual priority (supervisor)")
    common(sp)
    sp.add_argument("run_id")
    sp.add_argument("priority", type=int, help="higher goes first; 0 is normal")
    sp.add_argument("--by", required=True, help="the supervisor's badge")
    sp.set_defaults(func=_prioritise)


def _ask(args: argparse.Namespace, what: str, body: dict[str, Any]) -> Any:
    from cellctl.bus.site_request import SiteRequestError, ask_scheduler_sync
    from cellctl.commands.historian import load_site_for_bus
    from cellctl.errors import CliError

    if args.db and what not in ("runs", "run"):
        raise CliError(
            "--db reads a store file (list, show); orders go to the running scheduler: "
            "leave --db out"
        )
    if args.db:
        return _from_file(args, what, body)
    site = load_site_for_bus(args.site, args.url)
    try:
        return ask_scheduler_sync(site.mqtt, site.site.id, what, body, timeout_s=args.timeout)
    except SiteRequestError as exc:
        raise CliError(str(exc)) from None


def _from_file(args: argparse.Namespace, what: str, body: dict[str, Any]) -> Any:
    """A scheduler store read in place, with the scheduler's own answers (read only)."""
    from cellctl.bus.responder import RequestRefused
    from cellctl.errors import CliError
    from cellctl.scheduler.requests import SchedulerRequests
    from cellctl.store.db import StoreError
    from cellctl.store.scheduler_store import SchedulerStore

    path = Path(args.db)
    if not path.is_file():
        raise CliError(f"{path}: no such scheduler store file")
    try:
        store = SchedulerStore(path)
    except StoreError as exc:
        raise CliError(f"{path}: {exc}") from None

    class _ReadOnly:
        def __init__(self) -> None:
            self.store = store

        async def apply_command(self, client: Any, cmd: dict[str, Any]) -> str:
            raise RequestRefused("read only")

        def mark_changed(self) -> None:
            pass

    import asyncio

    try:
        return asyncio.run(SchedulerRequests(_ReadOnly(), None).handle(what, body))  # type: ignore[arg-type]  # reading needs no bus session
    except (RequestRefused, StoreError) as exc:
        raise CliError(str(exc)) from None
    finally:
        store.close()


def _list(args: argparse.Namespace) -> int:
    rows = _ask(args, "runs", {"all": args.all})
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    if not rows:
        print("no runs" + ("" if args.all else " in the queue (--all shows finished ones)"))
        return 0
    print(f"{'run':<14} {'status':<9} {'prio':>4} {'sku':<12} {'qty':>6} {'due':<20} at")
    for r in rows:
        print(
            f"{r['id']:<14} {r['status']:<9} {r['manual_priority']:>4} {r['sku']:<12} "
            f"{r['quantity']:>6} {r['due'][:19]:<20} {r['at']}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    print(json.dumps(_ask(args, "run", {"run_id": args.run_id}), indent=1, default=str))
    return 0


def _submit(args: argparse.Namespace) -> int:
    from cellctl.domain.run_spec import RunSpecError, parse_run
    from cellctl.errors import CliError
    from stations.kinds import names

    fields = (
        "id", "sku", "quantity", "unit_margin", "due", "routing", "sla", "manual_priority",
        "batch", "title", "cycle_s",
    )  # fmt: skip
    run = {f: getattr(args, f) for f in fields if getattr(args, f) is not None}
    try:  # said here, before the bus: the same checks as the scheduler's
        spec = parse_run(run, kinds=names())
    except RunSpecError as exc:
        raise CliError("\n".join(exc.problems)) from None
    _ask(args, "submit", {"run": run, "source": "cli"})
    print(f"queued run {spec.id}: {spec.quantity} × {spec.sku} via {'>'.join(spec.routing)}")
    return 0


def _import(args: argparse.Namespace) -> int:
    import csv

    from cellctl.domain.run_spec import RunSpecError, parse_run
    from cellctl.errors import CliError
    from stations.kinds import names

    try:
        with open(args.csv, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise CliError(f"cannot read {args.csv}: {exc}") from None
    runs: list[dict[str, Any]] = []
    problems: list[str] = []
    for line, row in enumerate(rows, start=2):
        run = {k: v for k, v in row.items() if k and v not in (None, "")}
        try:
            parse_run(run, kinds=names())
        except RunSpecError as exc:
            problems.extend(f"{args.csv}:{line}: {p}" for p in exc.problems)
        runs.append(run)
    if problems:  # all or nothing: a half-imported plan is worse than none
        raise CliError("nothing imported:\n" + "\n".join(problems))
    _ask(args, "import", {"runs": runs, "source": f"csv:{Path(args.csv).name}"})
    print(f"queued {len(runs)} runs from {args.csv}")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    done = _ask(args, "cancel", {"run_id": args.run_id, "badge": args.by})
    print(done["done"])
    return 0


def _prioritise(args: argparse.Namespace) -> int:
    body = {"run_id": args.run_id, "priority": args.priority, "badge": args.by}
    print(_ask(args, "prioritise", body)["done"])
    return 0
