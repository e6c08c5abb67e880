"""SKU analytics: lead time, yield, first-pass yield and scrap Pareto per SKU.

What a maker needs to size the next edition. Pure: it takes the events of some runs
(from station stores or the historian) and gives plain rows; no I/O.

- A run's SKU, step kinds and which step is its last come from the assignments the
  cells accepted (`assignment_accepted` carries the assignment: `sku`, `kind`,
  `next_kind` is None on the last step, `submitted_at` when the scheduler sent it; an
  older scheduler did not, and the first step's `assigned_at` stands in).
- Lead time = submitted -> last step done; it splits into wait (submitted -> first
  `run_step_started`) and make (first start -> the last step's `run_step_completed`).
  p50/p90 by linear interpolation between order statistics (numpy's default).
- Yield and FPY per (SKU, step) from the counts (`metrics.Counts`, undos subtracted);
  per SKU rolled: the product over its steps, as `metrics.rolled_yields` does per run.
- Scrap Pareto per SKU from `defect_recorded` (its `count`, 1 if absent).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cellctl.domain import metrics
from cellctl.domain.events import Event

SKU_TABLES = ("sku", "sku_steps", "sku_scrap")
UNKNOWN_SKU = "?"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear between order statistics; None when empty."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class RunTimes:
    run_id: str
    sku: str = UNKNOWN_SKU
    submitted: datetime | None = None
    first_start: datetime | None = None
    done: datetime | None = None
    last_step: int | None = None

    @property
    def lead_s(self) -> float | None:
        if self.submitted is None or self.done is None:
            return None
        return (self.done - self.submitted).total_seconds()

    @property
    def wait_s(self) -> float | None:
        if self.submitted is None or self.first_start is None:
            return None
        return (self.first_start - self.submitted).total_seconds()

    @property
    def make_s(self) -> float | None:
        if self.first_start is None or self.done is None:
            return None
        return (self.done - self.first_start).total_seconds()


def _t(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return metrics.parse_time(text)
    except ValueError:
        return None


def run_times(events: Iterable[Event]) -> tuple[dict[str, RunTimes], dict[tuple[str, int], str]]:
    """Per run its SKU and times; and (run, step) -> the step's cell kind."""
    evs = sorted(events, key=lambda e: (e.time, e.cell, e.seq))
    runs: dict[str, RunTimes] = {}
    kinds: dict[tuple[str, int], str] = {}
    completed: dict[tuple[str, int], datetime] = {}
    for e in evs:
        rid = e.payload.get("run_id")
        if rid is None:
            continue
        rid = str(rid)
        r = runs.setdefault(rid, RunTimes(rid))
        at = metrics.parse_time(e.time)
        if e.type == "assignment_accepted":
            a = e.payload.get("assignment") or {}
            step = int(e.payload.get("step", a.get("step", 0)))
            if a.get("sku"):
                r.sku = str(a["sku"])
            if a.get("kind"):
                kinds[(rid, step)] = str(a["kind"])
            if "next_kind" in a and a.get("next_kind") is None:
                r.last_step = step
            sub = _t(a.get("submitted_at")) or (_t(a.get("assigned_at")) if step == 0 else None)
            if sub is not None and (r.submitted is None or sub < r.submitted):
                r.submitted = sub
        elif e.type == "serials_allocated" and r.sku == UNKNOWN_SKU and e.payload.get("sku"):
            r.sku = str(e.payload["sku"])
        elif e.type == "run_step_started":
            if r.first_start is None or at < r.first_start:
                r.first_start = at
        elif e.type == "run_step_completed":
            key = (rid, int(e.payload["step"]))
            completed[key] = max(at, completed.get(key, at))
    for rid, r in runs.items():
        if r.last_step is not None:
            r.done = completed.get((rid, r.last_step))
    return runs, kinds


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def sku_report(events: Iterable[Event]) -> dict[str, list[dict[str, Any]]]:
    """The three SKU tables (`SKU_TABLES`) from the events of the runs to report on."""
    evs = list(events)
    runs, kinds = run_times(evs)
    per_step: dict[tuple[str, int], metrics.Counts] = defaultdict(metrics.Counts)
    scrap: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in evs:
        rid = e.payload.get("run_id")
        if rid is None:
            continue
        sku = runs[str(rid)].sku
        delta = metrics.count_delta(e)
        if delta is not None:
            step = int(e.payload["step"])
            per_step[(sku, step)] += delta
        elif e.type == "defect_recorded":
            scrap[sku][str(e.payload["code"])] += int(e.payload.get("count", 1))
    kind_of: dict[tuple[str, int], str] = {}
    for (rid, step), kind in kinds.items():
        kind_of.setdefault((runs[rid].sku, step), kind)

    skus = sorted({r.sku for r in runs.values()})
    rolled = metrics.rolled_yields(per_step)
    sku_rows = []
    for sku in skus:
        mine = [r for r in runs.values() if r.sku == sku]
        lead = [v for r in mine if (v := r.lead_s) is not None]
        wait = [v for r in mine if (v := r.wait_s) is not None]
        make = [v for r in mine if (v := r.make_s) is not None]
        steps = sorted(s for (k, s) in per_step if k == sku)
        last = per_step.get((sku, steps[-1])) if steps else None
        y = rolled.get(sku)
        sku_rows.append({
            "sku": sku,
            "runs": len(mine),
            "runs_done": sum(1 for r in mine if r.done is not None),
            "good": last.good if last else 0,
            "scrap": sum(c.scrap for (k, _), c in per_step.items() if k == sku),
            "yield": _r(y.yield_ if y else None),
            "fpy": _r(y.first_pass_yield if y else None),
            "lead_p50_s": _r(percentile(lead, 50), 1),
            "lead_p90_s": _r(percentile(lead, 90), 1),
            "wait_p50_s": _r(percentile(wait, 50), 1),
            "wait_p90_s": _r(percentile(wait, 90), 1),
            "make_p50_s": _r(percentile(make, 50), 1),
            "make_p90_s": _r(percentile(make, 90), 1),
        })  # fmt: skip
    step_rows = [
        {
            "sku": sku,
            "step": step,
            "kind": kind_of.get((sku, step), ""),
            "good": c.good,
            "scrap": c.scrap,
            "reworked": c.reworked,
            "yield": _r(c.yield_),
            "fpy": _r(c.first_pass_yield),
        }
        for (sku, step), c in sorted(per_step.items())
    ]
    scrap_rows = []
    for sku in sorted(scrap):
        total = sum(scrap[sku].values())
        running = 0
        for code, n in sorted(scrap[sku].items(), key=lambda kv: (-kv[1], kv[0])):
            running += n
            scrap_rows.append({
                "sku": sku, "code": code, "count": n,
                "share": _r(n / total), "cumulative": _r(running / total),
            })  # fmt: skip
    return {"sku": sku_rows, "sku_steps": step_rows, "sku_scrap": scrap_rows}
