"""The production report: runs, counts, defects, downtime and OEE over a period.

Pure: built from events or from added-up inputs (the historian's `GROUP BY`), with
the metrics of `cellctl.domain.metrics` so the report and the board agree.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from cellctl.domain import metrics
from cellctl.domain.events import Event

TABLES = ("runs", "counts", "defects", "downtime", "oee")


class ReportError(ValueError):
    """A report cannot be made as asked (a missing or foreign file, a bad period)."""


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class ReportInputs:
    """What a report is made of, added up: from a list of events (`inputs_of`) or from
    a database that keeps these sums (the site historian). Both are over [start, end) and,
    for OEE, cut at the same `now`."""

    events: int = 0  # events in the period
    # (run_id, step, cell) -> counts in the period (events naming a run)
    by_cell_step: dict[tuple[str, int, str], metrics.Counts] = field(default_factory=dict)
    # run_id -> (cells, first event time, last event time) in the period
    runs: dict[str, tuple[set[str], str, str]] = field(default_factory=dict)
    completed: set[tuple[str, int]] = field(default_factory=set)
    defects: dict[str, int] = field(default_factory=dict)  # code -> count in the period
    # downtime_started/_ended events up to the end (with any still open at the start)
    downtime_events: list[Event] = field(default_factory=list)
    # cell -> its first event: a cell is in service from then on (an OEE row each)
    in_service: dict[str, datetime] = field(default_factory=dict)
    # state_changed events that say when each cell was running over its OEE period (at
    # least the last one before it, those inside it and the first one after it)
    state_changes: list[Event] = field(default_factory=list)
    # cell -> what it produced over its OEE period (`oee_period`), undo at count time
    produced: dict[str, metrics.Counts] = field(default_factory=dict)


def oee_period(
    in_service: datetime, start: datetime, end: datetime, now: datetime | None
) -> tuple[datetime, datetime]:
    """A cell's OEE period: from its first event at the earliest (a station added at noon
    did not lose the morning) to the end of the report, cut at now."""
    since = max(start, in_service)
    return since, metrics.cut_at(since, max(since, end), now)


def inputs_of(
    events: Iterable[Event], start: datetime, end: datetime, now: datetime | None = None
) -> ReportInputs:
    out = ReportInputs()
    by_cell_step: dict[tuple[str, int, str], metrics.Counts] = defaultdict(metrics.Counts)
    defects: dict[str, int] = defaultdict(int)
    of_cell: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        at = metrics.parse_time(e.time)
        first = out.in_service.get(e.cell)
        if first is None or at < first:
            out.in_service[e.cell] = at
        if e.type in ("downtime_started", "downtime_ended"):
            out.downtime_events.append(e)
        elif e.type == "state_changed":
            out.state_changes.append(e)
        elif e.type in ("units_counted", "count_undone"):
            of_cell[e.cell].append(e)
        if not start <= at < end:
            continue
        out.events += 1
        p = e.payload
        rid = p.get("run_id")
        if rid is not None:
            rid = str(rid)
            cells, first_t, last_t = out.runs.get(rid, (set(), e.time, e.time))
            cells.add(e.cell)
            out.runs[rid] = (cells, min(first_t, e.time), max(last_t, e.time))
        delta = metrics.count_delta(e)
        if delta is not None:
            if rid is not None:
                by_cell_step[(rid, int(p["step"]), e.cell)] += delta
        elif e.type == "run_step_completed":
            out.completed.add((str(p["run_id"]), int(p["step"])))
        elif e.type == "defect_recorded":
            defects[str(p["code"])] += int(p.get("count", 1))
    for cell, counting in of_cell.items():
        since, until = oee_period(out.in_service[cell], start, end, now)
        out.produced[cell] = metrics.produced(counting, cell, since, until)
    out.by_cell_step, out.defects = dict(by_cell_step), dict(defects)
    return out


def build_report(
    events: Iterable[Event],
    *,
    start: datetime,
    end: datetime,
    shifts: Sequence[metrics.ShiftSpec],
    ideal_cycle_s: dict[str, float] | None = None,
    planned_reasons: Iterable[str] = (),
    tz: tzinfo = UTC,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Every table of the report over [start, end), as lists of plain rows. With `now`
    (the command passes the clock), time after it is neither planned time nor downtime."""
    if end <= start:
        raise ReportError("--to must be after --from")
    return report_from(
        inputs_of(events, start, end, now), start=start, end=end, shifts=shifts,
        ideal_cycle_s=ideal_cycle_s, planned_reasons=planned_reasons, tz=tz, now=now,
    )  # fmt: skip


def report_from(
    inputs: ReportInputs,
    *,
    start: datetime,
    end: datetime,
    shifts: Sequence[metrics.ShiftSpec],
    ideal_cycle_s: dict[str, float] | None = None,
    planned_reasons: Iterable[str] = (),
    tz: tzinfo = UTC,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The report's tables from its added-up inputs (made with the same `now`): the cost
    follows the runs and cells of the period, not its events."""
    if end <= start:
        raise ReportError("--to must be after --from")
    until = metrics.cut_at(start, end, now)
    ideal = ideal_cycle_s or {}
    planned = set(planned_reasons)
    at = _iso(start)
    per_step: dict[tuple[str, int], metrics.Counts] = defaultdict(metrics.Counts)
    for (rid, step, _cell), c in inputs.by_cell_step.items():
        per_step[(rid, step)] += c
    yields = metrics.rolled_yields(per_step)
    steps_of: dict[str, list[int]] = defaultdict(list)
    for rid, step in per_step:
        steps_of[rid].append(step)
    completed_of: dict[str, int] = defaultdict(int)
    for rid, _ in inputs.completed:
        completed_of[rid] += 1
    runs = []
    for rid in sorted(inputs.runs):
        cells, first, last = inputs.runs[rid]
        steps = sorted(steps_of.get(rid, []))
        total = sum((per_step[(rid, s)] for s in steps), metrics.Counts())
        y = yields.get(rid)
        runs.append({
            "run_id": rid,
            "cells": " ".join(sorted(cells)),
            "steps_counted": len(steps),
            "steps_completed": completed_of.get(rid, 0),
            "good": total.good,
            "scrap": total.scrap,
            "yield": _r(y.yield_) if y else None,
            "first_pass_yield": _r(y.first_pass_yield) if y else None,
            "first_event": first,
            "last_event": last,
        })  # fmt: skip
    count_rows = [
        {"run_id": rid, "step": step, "cell": cell, "good": c.good, "scrap": c.scrap,
         "reworked": c.reworked, "yield": _r(c.yield_), "first_pass_yield": _r(c.first_pass_yield)}
        for (rid, step, cell), c in sorted(inputs.by_cell_step.items())
    ]  # fmt: skip
    defect_events = [
        Event("defect_recorded", "", {"code": code, "count": n}, id="", time=at)
        for code, n in inputs.defects.items()
    ]
    defects = [
        {"code": row.code, "count": row.count, "share": _r(row.share),
         "cumulative": _r(row.cumulative)}
        for row in metrics.defect_pareto(defect_events)
    ]  # fmt: skip
    downtime = []
    spans_of = metrics.downtimes(inputs.downtime_events, until, planned)
    for cell, spans in sorted(spans_of.items()):
        for d in spans:
            lo, hi = max(d.start, start), min(d.end, until)
            if lo < hi:
                downtime.append({"cell": cell, "start": _iso(lo), "end": _iso(hi),
                                 "duration_s": round((hi - lo).total_seconds(), 3),
                                 "reason": d.reason, "planned": d.planned})  # fmt: skip
    # OEE by the book needs when each cell was down and when it was running.
    of_cell: dict[str, list[Event]] = defaultdict(list)
    for e in (*inputs.downtime_events, *inputs.state_changes):
        of_cell[e.cell].append(e)
    oee_rows = []
    for cell in sorted(inputs.in_service):
        cycle = ideal.get(cell)
        if cycle is None:
            cycle = ideal.get("*", 60.0)
        since, _ = oee_period(inputs.in_service[cell], start, end, now)
        o = metrics.oee(of_cell[cell], cell, shifts=shifts, period_start=since,
                        period_end=max(since, end), ideal_cycle_s=cycle, tz=tz,
                        planned_reasons=planned, now=now,
                        counts=inputs.produced.get(cell, metrics.Counts()))  # fmt: skip
        oee_rows.append(oee_row(o))
    return {
        "from": _iso(start),
        "to": _iso(end),
        "events": inputs.events,
        "runs": runs,
        "counts": count_rows,
        "defects": defects,
        "downtime": downtime,
        "oee": oee_rows,
    }


def oee_row(o: metrics.Oee) -> dict[str, Any]:
    """A cell's OEE as a report row: ISO 22400-2 times (PBT as `planned_s`, APT as `run_s`),
    the ratios, and `problem` when a performance above 100 % makes them meaningless (then
    performance and OEE are empty rather than thousands of percent)."""
    return {
        "cell": o.cell, "planned_s": round(o.planned_s, 3), "run_s": round(o.run_s, 3),
        "unplanned_downtime_s": round(o.unplanned_downtime_s, 3),
        "planned_downtime_s": round(o.planned_downtime_s, 3), "delay_s": round(o.delay_s, 3),
        "good": o.good, "total": o.total, "ideal_cycle_s": o.ideal_cycle_s,
        "availability": _r(o.availability), "performance": _r(o.performance),
        "quality": _r(o.quality), "oee": _r(o.oee), "problem": o.problem or "",
    }  # fmt: skip


def to_json(report: dict[str, Any], table: str = "all") -> str:
    body = report if table == "all" else {k: report[k] for k in ("from", "to", table)}
    return json.dumps(body, indent=2) + "\n"


def to_csv(report: dict[str, Any], table: str = "all") -> str:
    """One table, or with `all` every table in one file with a `section` column first."""
    tables = TABLES if table == "all" else (table,)
    columns: list[str] = ["section"] if table == "all" else []
    for name in tables:
        for row in report[name]:
            for key in row:
                if key not in columns:
                    columns.append(key)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for name in tables:
        for row in report[name]:
            writer.writerow({"section": name, **row} if table == "all" else row)
    return out.getvalue()
