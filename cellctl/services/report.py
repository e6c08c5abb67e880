"""The production report: runs, counts, defects, downtime and OEE over a period.

Built from the stations' own event logs (the source of truth), read-only, with
the metrics of `cellctl.domain.metrics` so the report and the board agree.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from cellctl.domain import metrics
from cellctl.domain.events import Event

TABLES = ("runs", "counts", "defects", "downtime", "oee")


class ReportError(ValueError):
    """A report cannot be made as asked (a missing or foreign file, a bad period)."""


def read_station_events(path: str | Path, containing: str | None = None) -> list[Event]:
    """The events of a station's SQLite, opened read-only (a running station is unaffected);
    with `containing`, only those whose payload text contains it (a serial's trace)."""
    p = Path(path)
    if not p.exists():
        raise ReportError(f"{p}: no such store file")
    try:
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise ReportError(f"{p}: {exc}") from None
    try:
        sql = "SELECT seq, id, type, cell, time, operator, schema, payload FROM events"
        args: tuple[str, ...] = ()
        if containing is not None:
            sql += " WHERE instr(payload, ?) > 0"
            args = (containing,)
        rows = conn.execute(sql + " ORDER BY seq", args).fetchall()
    except sqlite3.DatabaseError as exc:
        raise ReportError(f"{p}: not a station store ({exc})") from None
    finally:
        conn.close()
    return [
        Event(type=t, cell=c, payload=json.loads(pl), operator=op, id=i, time=tm, seq=s, schema=sc)
        for s, i, t, c, tm, op, sc, pl in rows
    ]


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_report(
    events: Iterable[Event],
    *,
    start: datetime,
    end: datetime,
    shifts: Sequence[metrics.ShiftSpec],
    ideal_cycle_s: dict[str, float] | None = None,
    planned_reasons: Iterable[str] = (),
    tz: tzinfo = UTC,
) -> dict[str, Any]:
    """Every table of the report over [start, end), as lists of plain rows."""
    if end <= start:
        raise ReportError("--to must be after --from")
    ideal = ideal_cycle_s or {}
    planned = set(planned_reasons)
    every = sorted(events, key=lambda e: (metrics.parse_time(e.time), e.cell, e.seq))
    inside = [e for e in every if start <= metrics.parse_time(e.time) < end]

    counts = metrics.counts_by(inside, "step")
    by_cell_step: dict[tuple[str, int, str], metrics.Counts] = defaultdict(metrics.Counts)
    run_cells: dict[str, set[str]] = defaultdict(set)
    run_times: dict[str, list[str]] = defaultdict(list)
    for e in inside:
        rid = e.payload.get("run_id")
        if rid is None:
            continue
        run_cells[str(rid)].add(e.cell)
        run_times[str(rid)].append(e.time)
        if e.type in ("units_counted", "count_undone"):
            sign = 1 if e.type == "units_counted" else -1
            p = e.payload
            by_cell_step[(str(rid), int(p["step"]), e.cell)] += metrics.Counts(
                sign * int(p.get("good", 0)),
                sign * int(p.get("scrap", 0)),
                sign * int(p.get("reworked", 0)),
            )
    yields = metrics.run_yields(inside)
    completed = {
        (str(e.payload["run_id"]), int(e.payload["step"]))
        for e in inside
        if e.type == "run_step_completed"
    }
    # Per run once, not a scan of every step per run: a month of a site has thousands.
    steps_of: dict[str, list] = defaultdict(list)
    for r, s in counts:
        steps_of[r].append(s)
    completed_of: dict[str, int] = defaultdict(int)
    for r, _ in completed:
        completed_of[r] += 1
    runs = []
    for rid in sorted(run_cells):
        steps = sorted(steps_of.get(rid, []))
        total = sum((counts[(rid, s)] for s in steps), metrics.Counts())
        y = yields.get(rid)
        runs.append({
            "run_id": rid,
            "cells": " ".join(sorted(run_cells[rid])),
            "steps_counted": len(steps),
            "steps_completed": completed_of.get(rid, 0),
            "good": total.good,
            "scrap": total.scrap,
            "yield": _r(y.yield_) if y else None,
            "first_pass_yield": _r(y.first_pass_yield) if y else None,
            "first_event": min(run_times[rid]),
            "last_event": max(run_times[rid]),
        })  # fmt: skip
    count_rows = [
        {"run_id": rid, "step": step, "cell": cell, "good": c.good, "scrap": c.scrap,
         "reworked": c.reworked, "yield": _r(c.yield_), "first_pass_yield": _r(c.first_pass_yield)}
        for (rid, step, cell), c in sorted(by_cell_step.items())
    ]  # fmt: skip
    defects = [
        {"code": row.code, "count": row.count, "share": _r(row.share),
         "cumulative": _r(row.cumulative)}
        for row in metrics.defect_pareto(inside)
    ]  # fmt: skip
    downtime = []
    for cell, spans in sorted(metrics.downtimes(every, end, planned).items()):
        for d in spans:
            lo, hi = max(d.start, start), min(d.end, end)
            if lo < hi:
                downtime.append({"cell": cell, "start": _iso(lo), "end": _iso(hi),
                                 "duration_s": round((hi - lo).total_seconds(), 3),
                                 "reason": d.reason, "planned": d.planned})  # fmt: skip
    oee_rows = []
    by_cell: dict[str, list[Event]] = defaultdict(list)
    for e in every:
        by_cell[e.cell].append(e)
    for cell in sorted(by_cell):
        cycle = ideal.get(cell)
        if cycle is None:
            cycle = ideal.get("*", 60.0)
        o = metrics.oee(by_cell[cell], cell, shifts=shifts, period_start=start, period_end=end,
                        ideal_cycle_s=cycle, tz=tz, planned_reasons=planned)  # fmt: skip
        oee_rows.append({
            "cell": cell, "planned_s": round(o.planned_s, 3), "run_s": round(o.run_s, 3),
            "unplanned_downtime_s": round(o.unplanned_downtime_s, 3),
            "planned_downtime_s": round(o.planned_downtime_s, 3), "good": o.good,
            "total": o.total, "ideal_cycle_s": cycle, "availability": _r(o.availability),
            "performance": _r(o.performance), "quality": _r(o.quality), "oee": _r(o.oee),
        })  # fmt: skip
    return {
        "from": _iso(start),
        "to": _iso(end),
        "events": len(inside),
        "runs": runs,
        "counts": count_rows,
        "defects": defects,
        "downtime": downtime,
        "oee": oee_rows,
    }


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
