"""`cellctl runs list|show|submit|import|cancel|prioritise` on the scheduler's store.

The commands write the scheduler's SQLite directly (WAL lets them beside the
running service, which notices the change within a tick); cancel and prioritise
need the badge of a supervisor from the site file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="production runs in the scheduler's queue")
    rsub = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--site", default="stations/demo/site.toml", help="the site's TOML file")
        sp.add_argument("--db", help="the scheduler's store (default: from the site file)")

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


def _open(args: argparse.Namespace):
    from cellctl.config.load import load_site
    from cellctl.errors import CliError, ConfigError
    from cellctl.store.scheduler_store import SchedulerStore

    try:
        site = load_site(args.site)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    db = Path(args.db) if args.db else Path(args.site).parent / site.scheduler_store
    return site, SchedulerStore(db)


def _store_error(fn):
    def wrapped(args: argparse.Namespace) -> int:
        from cellctl.domain.run_spec import RunSpecError
        from cellctl.errors import CliError
        from cellctl.store.db import StoreError

        try:
            return fn(args)
        except (StoreError, RunSpecError) as exc:
            raise CliError(str(exc)) from None

    return wrapped


def _check_role(site, badge: str, action: str) -> None:
    from cellctl.domain.model import role_allows
    from cellctl.errors import CliError

    operator = site.operator(badge)
    if operator is None:
        raise CliError(f"no operator with badge {badge!r} in the site file")
    if not role_allows(operator.role, action):
        raise CliError(f"{operator.name} ({operator.role}) may not do this: it needs a supervisor")


@_store_error
def _list(args: argparse.Namespace) -> int:
    _, store = _open(args)
    runs = store.runs(None if args.all else ["queued", "active"])
    rows = []
    for r in runs:
        steps = store.steps(r["id"])
        current = next((s for s in steps if s["status"] != "done"), None)
        where = "-" if current is None else f"{current['kind']}:{current['cell'] or 'waiting'}"
        rows.append({**r, "at": where, "steps_done": sum(s["status"] == "done" for s in steps)})
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


@_store_error
def _show(args: argparse.Namespace) -> int:
    _, store = _open(args)
    run = store.run(args.run_id)
    # What breaks conservation of units on this run (empty when the counts add up).
    run["conservation"] = [str(v) for v in store.conservation_violations([args.run_id])] + [
        a["message"] for a in store.conservation_alerts() if a["run_id"] == args.run_id
    ]
    print(json.dumps(run, indent=1, default=str))
    return 0


@_store_error
def _submit(args: argparse.Namespace) -> int:
    from cellctl.domain.run_spec import parse_run

    _, store = _open(args)
    fields = (
        "id", "sku", "quantity", "unit_margin", "due", "routing", "sla", "manual_priority",
        "batch", "title", "cycle_s",
    )  # fmt: skip
    spec = parse_run({f: getattr(args, f) for f in fields})
    store.add_run(spec, source="cli")
    print(f"queued run {spec.id}: {spec.quantity} × {spec.sku} via {'>'.join(spec.routing)}")
    return 0


@_store_error
def _import(args: argparse.Namespace) -> int:
    import csv

    from cellctl.domain.run_spec import RunSpecError, parse_run
    from cellctl.errors import CliError

    _, store = _open(args)
    try:
        with open(args.csv, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise CliError(f"cannot read {args.csv}: {exc}") from None
    specs, problems = [], []
    for line, row in enumerate(rows, start=2):
        try:
            specs.append(parse_run({k: v for k, v in row.items() if k and v not in (None, "")}))
        except RunSpecError as exc:
            problems.extend(f"{args.csv}:{line}: {p}" for p in exc.problems)
    if problems:  # all or nothing: a half-imported plan is worse than none
        raise CliError("nothing imported:\n" + "\n".join(problems))
    for spec in specs:
        store.add_run(spec, source=f"csv:{Path(args.csv).name}")
    print(f"queued {len(specs)} runs from {args.csv}")
    return 0


@_store_error
def _cancel(args: argparse.Namespace) -> int:
    site, store = _open(args)
    _check_role(site, args.by, "cancel_run")
    cells = store.cancel(args.run_id)
    store.log_command("cancel", args.by, True, f"run {args.run_id} cancelled (cli)")
    note = f"; withdrawn from {', '.join(cells)}" if cells else ""
    print(f"cancelled run {args.run_id}{note}")
    return 0


@_store_error
def _prioritise(args: argparse.Namespace) -> int:
    site, store = _open(args)
    _check_role(site, args.by, "prioritise")
    store.set_priority(args.run_id, args.priority)
    store.log_command("prioritise", args.by, True, f"run {args.run_id} priority {args.priority}")
    print(f"run {args.run_id} now has priority {args.priority}")
    return 0
