"""Traceability: the genealogy of a unit or a batch, from the events of every cell.

Pure: give it the events (any order, any cells) and the query; it returns plain dicts
ready for JSON. The links it follows:

- a serial belongs to the batch and run of the `serials_allocated` event that issued it;
- a batch belongs to the runs that allocated its serials or were assigned with it;
- an event belongs to the genealogy when its payload names the batch, the serial or one
  of those runs, or an NCR opened for the batch; machine events at a cell belong to it
  while one of those runs' steps was under way there.

In a unit's genealogy, events about other units of the same batch (their inspections,
their labels) are left out; the batch's sample, verdicts, holds and NCRs stay in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cellctl.domain.codes import CodeError, decode_unit_url
from cellctl.domain.events import Event

MACHINE_EVENTS = ("machine_job_started", "machine_job_finished", "machine_alarm")
# Events whose `serials` list is the batch's business even when the unit is not in it.
BATCH_WIDE_LISTS = ("sample_drawn", "nonconformance_opened")


class TraceError(LookupError):
    """The query names nothing the site's stores know."""


@dataclass(frozen=True, slots=True)
class BatchUnits:
    batch: str
    sku: str | None
    run_id: str | None
    serials: list[str]


def batch_units(events: Iterable[Event], batch: str) -> BatchUnits | None:
    """The serials issued for a batch (in issue order), with its SKU and run."""
    serials: list[str] = []
    sku = run_id = None
    for e in sorted(events, key=_order):
        if e.type == "serials_allocated" and e.payload.get("batch") == batch:
            serials.extend(s for s in e.payload["serials"] if s not in serials)
            sku = sku or e.payload.get("sku")
            run_id = run_id or e.payload.get("run_id")
    return BatchUnits(batch, sku, run_id, serials) if serials else None


def _order(e: Event) -> tuple[str, str, int]:
    return (e.time, e.cell, e.seq)


def normalise_query(text: str) -> str:
    """Accept a scanned unit or batch code as well as the bare serial or batch."""
    text = text.strip()
    if text.startswith(("https://", "http://")) and "#" in text:
        try:
            return decode_unit_url(text).serial
        except CodeError:
            return text
    if text.startswith("CU:") and text.count(":") >= 2:
        return text[3:].rpartition(":")[0]
    if text.startswith("CB:"):
        return text[3:]
    return text


def _serials_of(p: Mapping[str, Any]) -> list[str]:
    out = list(p.get("serials") or p.get("nonconforming_serials") or [])
    if p.get("serial"):
        out.append(p["serial"])
    return out


def trace(
    events: Iterable[Event],
    query: str,
    *,
    cells: Mapping[str, Mapping[str, Any]] | None = None,
    operators: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The genealogy of a serial or a batch; TraceError when neither is known.

    `cells` maps a cell id to what the site says of it (kind, name, machine);
    `operators` maps a badge to a name."""
    evs = sorted(events, key=_order)
    q = normalise_query(query)
    cells = cells or {}
    operators = operators or {}
    serial: str | None = None
    batch: str | None = None
    sku: str | None = None
    for e in evs:
        if e.type == "serials_allocated" and q in e.payload.get("serials", []):
            serial, batch, sku = q, e.payload.get("batch"), e.payload.get("sku")
            break
    if serial is None:
        if any(e.payload.get("batch") == q for e in evs) or any(
            isinstance(e.payload.get("assignment"), dict)
            and e.payload["assignment"].get("batch") == q
            for e in evs
        ):
            batch = q
        elif any(q in _serials_of(e.payload) for e in evs):
            serial = q  # labelled or inspected, but issued by no store we can read
        else:
            raise TraceError(
                f"{q!r} is neither a serial nor a batch known to any station of this site "
                f"({len(evs)} events searched)"
            )

    runs: set[str] = set()
    ncr_ids: set[str] = set()
    for e in evs:
        p = e.payload
        a = p.get("assignment") if isinstance(p.get("assignment"), dict) else None
        of_batch = batch is not None and (
            p.get("batch") == batch or (a and a.get("batch") == batch)
        )
        if of_batch or (serial is not None and serial in _serials_of(p)):
            if p.get("run_id"):
                runs.add(p["run_id"])
            if p.get("ncr_id"):
                ncr_ids.add(p["ncr_id"])
            if e.type == "serials_allocated" and sku is None:
                sku = p.get("sku")
            if sku is None and p.get("sku"):
                sku = p["sku"]

    windows = _step_windows(evs, runs)
    members: set[str] = set()
    if serial is None and batch is not None:
        found = batch_units(evs, batch)
        members = set(found.serials) if found else set()

    def relevant(e: Event) -> bool:
        p = e.payload
        named = _serials_of(p)
        if serial is not None and named and serial not in named:
            if e.type not in BATCH_WIDE_LISTS:
                return False
        elif serial is not None and serial in named:
            return True
        if members and members.intersection(named):
            return True
        if batch is not None and p.get("batch"):
            # An event of another batch of the same run is not this genealogy's.
            return bool(p["batch"] == batch)
        a = p.get("assignment")
        if batch is not None and isinstance(a, dict) and a.get("batch") == batch:
            return True
        if p.get("run_id") in runs:
            return True
        if p.get("ncr_id") in ncr_ids:
            return True
        if e.type in MACHINE_EVENTS:
            return any(s <= e.time <= (end or "~") for s, end in windows.get(e.cell, []))
        return False

    chosen = [e for e in evs if relevant(e)]
    return _genealogy(q, serial, batch, sku, runs, chosen, cells, operators)


def _step_windows(evs: list[Event], runs: set[str]) -> dict[str, list[tuple[str, str | None]]]:
    windows: dict[str, list[tuple[str, str | None]]] = {}
    open_: dict[tuple[str, Any, Any], str] = {}
    for e in evs:
        p = e.payload
        if p.get("run_id") not in runs:
            continue
        key = (e.cell, p["run_id"], p.get("step"))
        if e.type == "run_step_started":
            open_.setdefault(key, e.time)
        elif e.type in ("run_step_completed", "run_step_released") and key in open_:
            windows.setdefault(e.cell, []).append((open_.pop(key), e.time))
    for (cell, _run, _step), start in open_.items():
        windows.setdefault(cell, []).append((start, None))
    return windows


def _who(e: Event, operators: Mapping[str, str]) -> str | None:
    if e.operator is None:
        return None
    name = operators.get(e.operator)
    return f"{name} ({e.operator})" if name else e.operator


def _genealogy(
    query: str,
    serial: str | None,
    batch: str | None,
    sku: str | None,
    runs: set[str],
    evs: list[Event],
    cells: Mapping[str, Mapping[str, Any]],
    operators: Mapping[str, str],
) -> dict[str, Any]:
    steps: dict[tuple[str, Any, str], dict[str, Any]] = {}
    out: dict[str, Any] = {
        "query": query,
        "kind": "unit" if serial is not None else "batch",
        "serial": serial,
        "batch": batch,
        "sku": sku,
        "runs": sorted(runs),
        "steps": [],
        "cells": {},
        "operators": {},
        "units": [],
        "materials": [],
        "defects": [],
        "samples": [],
        "inspections": [],
        "lots": [],
        "labels": [],
        "holds": [],
        "ncrs": [],
        "machine": [],
        "on_hold": None,
        "timeline": [],
    }
    ncrs: dict[str, dict[str, Any]] = {}

    def step_of(e: Event) -> dict[str, Any]:
        p = e.payload
        key = (p["run_id"], p.get("step"), e.cell)
        if key not in steps:
            steps[key] = {
                "run_id": p["run_id"],
                "step": p.get("step"),
                "cell": e.cell,
                "kind": cells.get(e.cell, {}).get("kind"),
                "machine": cells.get(e.cell, {}).get("machine"),
                "started": None,
                "completed": None,
                "good": 0,
                "scrap": 0,
                "operators": [],
                "materials": [],
            }
        s = steps[key]
        who = _who(e, operators)
        if who and who not in s["operators"]:
            s["operators"].append(who)
        return s

    for e in evs:
        p = e.payload
        who = _who(e, operators)
        base: dict[str, Any] = {"time": e.time, "cell": e.cell, "operator": who}
        if e.operator:
            out["operators"][e.operator] = operators.get(e.operator, e.operator)
        if e.cell not in out["cells"]:
            out["cells"][e.cell] = dict(cells.get(e.cell, {}))
        out["timeline"].append({**base, "seq": e.seq, "type": e.type, "summary": _summary(e)})
        t = e.type
        if t in ("run_step_started", "run_step_completed", "run_step_released"):
            s = step_of(e)
            if t == "run_step_started":
                s["started"] = s["started"] or e.time
            else:
                s["completed"] = e.time
            if t == "run_step_completed":
                # Conservation (issue 16): how the step ended, said as such.
                s["closed_short"] = p.get("closed_short")
                s["outcome"] = p.get("outcome")
        elif t in ("units_counted", "count_undone"):
            s = step_of(e)
            sign = -1 if t == "count_undone" else 1
            s["good"] += sign * int(p["good"])
            s["scrap"] += sign * int(p["scrap"])
        elif t == "material_scanned":
            item: dict[str, Any] = {
                **base,
                "lot": p["lot"],
                "run_id": p.get("run_id"),
                "step": p.get("step"),
            }
            out["materials"].append(item)
            if p.get("run_id"):
                step_of(e)["materials"].append(p["lot"])
        elif t == "serials_allocated":
            out["units"].extend(
                s for s in p["serials"] if (serial is None or s == serial) and s not in out["units"]
            )
        elif t == "defect_recorded":
            defect: dict[str, Any] = {
                **base,
                **{k: p.get(k) for k in ("code", "severity", "serial", "run_id", "step")},
                **{k: p[k] for k in ("note", "photo", "source") if k in p},
            }
            out["defects"].append(defect)
        elif t == "sample_drawn":
            item = {
                **base,
                **{k: p.get(k) for k in ("seed", "n", "lot_size", "severity", "level", "aql")},
                "sample": p["serials"],
            }
            if serial is not None:
                item["unit_in_sample"] = serial in p["serials"]
            out["samples"].append(item)
        elif t == "inspection_recorded":
            inspection: dict[str, Any] = {
                **base,
                "serial": p["serial"],
                "passed": bool(p["passed"]),
                "defects": p.get("defects", []),
                "results": p.get("results", []),
                **{k: p[k] for k in ("note", "photo") if k in p},
            }
            out["inspections"].append(inspection)
        elif t == "lot_judged":
            keys = ("accepted", "severity", "n", "ac", "re", "inspected", "nonconforming")
            lot: dict[str, Any] = {
                **base,
                **{k: p.get(k) for k in keys},
                "resubmitted": bool(p.get("resubmitted")),
                "reason": p.get("reason"),
            }
            out["lots"].append(lot)
        elif t in ("label_printed", "label_reprinted", "label_voided"):
            label: dict[str, Any] = {
                **base,
                "kind": t.removeprefix("label_"),
                "serials": _serials_of(p),
                **{k: p[k] for k in ("template", "job_id", "copies", "reason", "batch") if k in p},
            }
            out["labels"].append(label)
        elif t in ("batch_held", "batch_released"):
            held = t == "batch_held"
            out["holds"].append({**base, "held": held, "reason": p["reason"]})
            out["on_hold"] = p["reason"] if held else None
        elif t == "nonconformance_opened":
            ncrs[p["ncr_id"]] = {
                "ncr_id": p["ncr_id"],
                "batch": p["batch"],
                "status": "open",
                "opened": {**base, "reason": p.get("reason")},
                "nonconforming_serials": p.get("nonconforming_serials", []),
                "closed": None,
                "disposition": None,
            }
        elif t == "nonconformance_closed":
            n = ncrs.setdefault(
                p["ncr_id"], {"ncr_id": p["ncr_id"], "batch": p.get("batch"), "opened": None}
            )
            n.update(
                status="closed",
                disposition=p["disposition"],
                closed={**base, "note": p.get("note")},
            )
        elif t in MACHINE_EVENTS:
            out["machine"].append({**base, "type": t, **p})
    out["steps"] = sorted(steps.values(), key=lambda s: (s["started"] or "", s["cell"]))
    out["ncrs"] = list(ncrs.values())
    return out


def _summary(e: Event) -> str:
    p = e.payload
    t = e.type
    if t == "units_counted":
        return f"+{p['good']} good, +{p['scrap']} scrap" + (
            f" ({p['reason']})" if p.get("reason") else ""
        )
    if t == "count_undone":
        return f"undo {p['good']} good, {p['scrap']} scrap"
    if t == "run_step_completed" and p.get("closed_short"):
        return (
            f"{p['run_id']} step {p.get('step')} closed short at {p.get('good')} good of "
            f"{p.get('quantity', '?')}: {p['closed_short']}"
        )
    if t == "run_step_completed" and p.get("outcome"):
        return f"{p['run_id']} step {p.get('step')}: {p['outcome']}"
    if t in ("count_refused", "count_exceeds_upstream"):
        word = "refused" if t == "count_refused" else "kept over upstream"
        return f"count {word}: {p['reason']}"
    if t.startswith("run_step_") or t.startswith("assignment_"):
        return f"{p['run_id']} step {p.get('step')}" + (
            f": {p['reason']}" if p.get("reason") else ""
        )
    if t == "serials_allocated":
        return f"{p['count']} serial(s) from {p['serials'][0]}"
    if t == "material_scanned":
        return f"material lot {p['lot']}"
    if t == "defect_recorded":
        return f"{p['code']} ({p['severity']})" + (f" on {p['serial']}" if p.get("serial") else "")
    if t == "sample_drawn":
        return f"sample of {p['n']} from {p.get('lot_size')} (seed {p['seed']})"
    if t == "inspection_recorded":
        verdict = "passed" if p["passed"] else f"failed {', '.join(p.get('defects', []))}"
        return f"{p['serial']} {verdict}"
    if t == "lot_judged":
        word = "accepted" if p["accepted"] else "rejected"
        return f"lot {word}" + (f": {p['reason']}" if p.get("reason") else "")
    if t.startswith("label_"):
        return f"label {t.removeprefix('label_')} " + ", ".join(_serials_of(p)[:3])
    if t in ("batch_held", "batch_released"):
        return f"{t.removeprefix('batch_')}: {p['reason']}"
    if t == "nonconformance_opened":
        return f"{p['ncr_id']} opened"
    if t == "nonconformance_closed":
        return f"{p['ncr_id']} closed: {p['disposition']}"
    if t == "inspection_switched":
        return f"{p['from']} -> {p['to']}: {p['reason']}"
    return ", ".join(f"{k}={v}" for k, v in list(p.items())[:3] if not isinstance(v, (dict, list)))
