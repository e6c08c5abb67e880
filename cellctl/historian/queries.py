"""The site's questions answered from the historian's index, with the same pure domain
code the file readers use, so an answer does not depend on where the events were read.

The cost follows the answer, not the history: a trace looks up the events naming the
serial or batch, then those naming its runs, NCRs and (for a batch) its units, then the
machine events at the cells during its steps; the domain trace filters that superset
exactly as it would filter every event of the site.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, cast

from cellctl.domain import metrics
from cellctl.domain.events import Event
from cellctl.domain.provenance import batch_record
from cellctl.domain.report import ReportInputs, oee_period, report_from
from cellctl.domain.trace import TraceError, batch_units, normalise_query
from cellctl.domain.trace import trace as trace_events
from cellctl.historian.keys import BATCH, NCR, RUN, SERIAL, keys_of
from cellctl.historian.store import HistorianStore

RUN_EVENTS_MAX = 20_000


def _names_serial(e: Event, serial: str) -> bool:
    return (SERIAL, serial) in keys_of(e.payload)


def trace(
    store: HistorianStore,
    query: str,
    *,
    cells: Mapping[str, Mapping[str, Any]] | None = None,
    operators: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The genealogy of a serial or a batch; TraceError when the site knows neither."""
    q = normalise_query(query)
    if not q:
        raise TraceError("give a serial or a batch to trace")
    found: dict[str, Event] = {}

    def add(events: Sequence[Event]) -> list[Event]:
        for e in events:
            found.setdefault(e.id, e)
        return list(events)

    named = add(store.events_named([(SERIAL, q), (BATCH, q)]))
    if not named:
        raise TraceError(f"{q!r} is neither a serial nor a batch known to the site historian")
    batch: str | None = None
    serial: str | None = None
    for e in sorted(named, key=lambda e: (e.time, e.cell, e.seq)):
        if e.type == "serials_allocated" and q in e.payload.get("serials", []):
            serial, batch = q, e.payload.get("batch")
            break
    if serial is None:
        if any((BATCH, q) in keys_of(e.payload) for e in named):
            batch = q
        else:
            serial = q
    if batch and batch != q:
        add(store.events_named([(BATCH, batch)]))
    # The runs and NCRs of the unit or batch (the domain trace follows the same links).
    runs: set[str] = set()
    ncrs: set[str] = set()
    for e in list(found.values()):
        keys = keys_of(e.payload)
        if (batch and (BATCH, batch) in keys) or (serial and (SERIAL, serial) in keys):
            runs.update(k for kind, k in keys if kind == RUN and k == e.payload.get("run_id"))
            ncrs.update(k for kind, k in keys if kind == NCR)
    wanted = [(RUN, r) for r in runs] + [(NCR, n) for n in ncrs]
    if serial is None and batch:
        units = batch_units(found.values(), batch)
        if units:
            wanted += [(SERIAL, s) for s in units.serials]
    add(store.events_named(wanted))
    for cell, start, end in _step_windows(found.values(), runs):
        add(store.machine_events(cell, start, end))
    return trace_events(found.values(), query, cells=cells, operators=operators)


def _step_windows(events: Any, runs: set[str]) -> list[tuple[str, str, str | None]]:
    opened: dict[tuple[str, str, Any], str] = {}
    out: list[tuple[str, str, str | None]] = []
    for e in sorted(events, key=lambda e: (e.time, e.cell, e.seq)):
        p = e.payload
        if p.get("run_id") not in runs:
            continue
        key = (e.cell, p["run_id"], p.get("step"))
        if e.type == "run_step_started":
            opened.setdefault(key, e.time)
        elif e.type in ("run_step_completed", "run_step_released") and key in opened:
            out.append((e.cell, opened.pop(key), e.time))
    out.extend((cell, start, None) for (cell, _r, _s), start in opened.items())
    return out


PROVENANCE_PAGE_MAX = 200


def provenance(
    store: HistorianStore,
    *,
    after: str = "",
    limit: int = 100,
    cells: Mapping[str, Mapping[str, Any]] | None = None,
    tz: tzinfo = UTC,
) -> dict[str, Any]:
    """A page of batches (in name order, after `after`) with the facts of their public
    story (`domain.provenance.batch_record`); `next` is the cursor for the following page.
    Batches that issued no serials have no story and are skipped."""
    limit = max(1, min(limit, PROVENANCE_PAGE_MAX))
    names = store.keys_after(BATCH, after, limit)
    records = [r for r in (_provenance_record(store, n, cells, tz) for n in names) if r]
    return {"batches": records, "next": names[-1] if len(names) == limit else None}


def provenance_of(
    store: HistorianStore,
    batch: str,
    *,
    cells: Mapping[str, Mapping[str, Any]] | None = None,
    tz: tzinfo = UTC,
) -> dict[str, Any]:
    """One batch's record (as in `provenance`); TraceError when it issued no serials."""
    record = _provenance_record(store, batch, cells, tz)
    if record is None:
        raise TraceError(f"batch {batch!r}: no serials issued for it are known to the historian")
    return record


def _provenance_record(
    store: HistorianStore, name: str, cells: Mapping[str, Mapping[str, Any]] | None, tz: tzinfo
) -> dict[str, Any] | None:
    named = store.events_named([(BATCH, name)])
    if not any(e.type == "serials_allocated" for e in named):
        return None
    # A cell whose station file is not on this machine: its kind as assigned.
    kinds = {
        e.cell: {"kind": e.payload["assignment"].get("kind")}
        for e in named
        if e.type == "assignment_received" and isinstance(e.payload.get("assignment"), dict)
    }
    genealogy = trace(store, name, cells={**kinds, **(cells or {})})
    if genealogy["kind"] != "batch":
        return None  # a serial that happens to equal a batch name: the unit wins the trace
    return batch_record(named, genealogy, tz)


def batch(store: HistorianStore, name: str) -> dict[str, Any]:
    """The serials issued for a batch, in issue order, with its SKU and run."""
    found = batch_units(store.events_named([(BATCH, name)]), name)
    if found is None:
        raise TraceError(f"batch {name!r}: no serials issued for it are known to the historian")
    return {"batch": found.batch, "sku": found.sku, "run_id": found.run_id,
            "serials": found.serials}  # fmt: skip


def run_history(store: HistorianStore, run_id: str) -> dict[str, Any]:
    """Every event of a run, in time order."""
    events = store.events_named([(RUN, run_id)])
    if not events:
        raise TraceError(f"run {run_id!r} is not known to the historian")
    events.sort(key=lambda e: (e.time, e.cell, e.seq))
    return {
        "run_id": run_id,
        "cells": sorted({e.cell for e in events}),
        "events": [e.to_dict() for e in events[:RUN_EVENTS_MAX]],
        "truncated": len(events) > RUN_EVENTS_MAX,
    }


def run_status(store: HistorianStore, run_id: str) -> dict[str, Any]:
    """What a run's status needs, worked out here rather than shipping every event: its
    cells, SKU, times (`domain.sku_report.run_times`) and good/scrap per step."""
    from cellctl.domain.sku_report import UNKNOWN_SKU, run_times

    events = store.events_named([(RUN, run_id)])
    if not events:
        raise TraceError(f"run {run_id!r} is not known to the historian")
    times = run_times(events)[0].get(run_id)
    by_step = cast(dict[tuple[str, int], metrics.Counts], metrics.counts_by(events, "step"))
    counts = {
        str(step): {"good": c.good, "scrap": c.scrap}
        for (rid, step), c in sorted(by_step.items(), key=lambda kv: str(kv[0][1]))
        if rid == run_id
    }

    def when(t: datetime | None) -> str | None:
        return None if t is None else iso(t)

    return {
        "run_id": run_id,
        "cells": sorted({e.cell for e in events}),
        "sku": times.sku if times and times.sku != UNKNOWN_SKU else None,
        "submitted": when(times.submitted) if times else None,
        "first_start": when(times.first_start) if times else None,
        "done": when(times.done) if times else None,
        "counts": counts,
        "events": len(events),
    }


EVENTS_MAX = 50_000


def recent_events(
    store: HistorianStore, since: datetime, until: datetime, cells: Sequence[str] = ()
) -> dict[str, Any]:
    """The events of [since, until) (of these cells, or all), oldest first, at most
    EVENTS_MAX: what a board that starts fills its metrics from."""
    start, end = iso(since), iso(until)
    events: list[Event] = []
    for cell in cells or store.cells():
        events += store.events_between(cell, start, end)
    events.sort(key=lambda e: (e.time, e.cell, e.seq))
    return {
        "events": [e.to_dict() for e in events[-EVENTS_MAX:]],
        "truncated": len(events) > EVENTS_MAX,
    }


def events_naming(store: HistorianStore, serial: str) -> dict[str, Any]:
    """Every event that names the serial, oldest first (a board's trace list)."""
    events = store.events_named([(SERIAL, serial)])
    events.sort(key=lambda e: (e.time, e.cell, e.seq))
    return {"events": [e.to_dict() for e in events[:EVENTS_MAX]],
            "truncated": len(events) > EVENTS_MAX}  # fmt: skip


def iso(t: datetime) -> str:
    """The event-time text of an instant (events carry UTC milliseconds with a Z)."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _step(text: str) -> int:
    """A step kept as JSON: nearly always plain digits."""
    try:
        return int(text)
    except ValueError:
        return int(json.loads(text))


@dataclass
class _CellFacts:
    """What the report reads of one cell, straight from the database."""

    first: str
    events: int
    downtime: list[Event]
    runs: list[tuple[str, str, str]]
    tallies: list[tuple[Any, ...]]
    state_changes: list[Event]
    counted: tuple[int, int, int]


def _cell_facts(
    store: HistorianStore, cell: str, start: datetime, end: datetime, now: datetime | None
) -> _CellFacts | None:
    first = store.first_time(cell)
    if first is None:
        return None
    lo, hi = iso(start), iso(end)
    downtime: list[Event] = []
    last = store.last_downtime_before(cell, lo)
    if last is not None and last.type == "downtime_started":
        downtime.append(last)
    downtime.extend(store.downtime_between(cell, lo, hi))
    since, until = oee_period(metrics.parse_time(first), start, end, now)
    return _CellFacts(
        first=first,
        events=store.count_between(cell, lo, hi),
        downtime=downtime,
        runs=store.report_runs(cell, lo, hi),
        tallies=store.report_tallies(cell, lo, hi),
        state_changes=store.state_changes(cell, iso(since), iso(until)),
        counted=store.count_sums(cell, iso(since), iso(until)),
    )


def _all_cell_facts(
    store: HistorianStore, cells: list[str], start: datetime, end: datetime, now: datetime | None
) -> dict[str, _CellFacts | None]:
    """Every cell's facts; half of the cells read on a second connection in a thread, so
    the database (PostgreSQL's server, or SQLite outside the GIL) works on both cores."""
    twin = store.twin() if len(cells) >= 4 else None
    if twin is None:
        return {c: _cell_facts(store, c, start, end, now) for c in cells}
    other = cells[1::2]

    def read_other() -> dict[str, _CellFacts | None]:
        try:
            return {c: _cell_facts(twin, c, start, end, now) for c in other}
        finally:
            twin.close()

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(read_other)
        out = {c: _cell_facts(store, c, start, end, now) for c in cells[0::2]}
        out.update(pending.result())
    return out


def report_inputs(
    store: HistorianStore,
    start: datetime,
    end: datetime,
    cells: Sequence[str] = (),
    now: datetime | None = None,
) -> ReportInputs:
    """The report's added-up inputs over [start, end), cut at `now` for OEE, from the
    historian's sums: per cell an index range of `tallies` and of `events` (runs and their
    spans), the downtime events (with the one still open at the start), the state changes
    around its OEE period and its first event — never every event of the period."""
    known = store.cells()
    out = ReportInputs()
    chosen = sorted({c for c in cells if c in known} if cells else set(known))
    by_cell_step: dict[tuple[str, int, str], metrics.Counts] = {}
    defects: dict[str, int] = defaultdict(int)
    facts = _all_cell_facts(store, chosen, start, end, now)
    for cell in chosen:
        f = facts[cell]
        if f is None:
            continue
        out.in_service[cell] = metrics.parse_time(f.first)
        out.events += f.events
        out.downtime_events.extend(f.downtime)
        for run, first_t, latest in f.runs:
            seen, a, b = out.runs.get(run, (set(), first_t, latest))
            seen.add(cell)
            out.runs[run] = (seen, min(a, first_t), max(b, latest))
        for kind, run, step, code, good, scrap, reworked, n, _time in f.tallies:
            if kind == "c":
                if run is not None:
                    key = (run, _step(step), cell)
                    c = metrics.Counts(int(good), int(scrap), int(reworked))
                    before = by_cell_step.get(key)
                    by_cell_step[key] = c if before is None else before + c
            elif kind == "d":
                defects[code] += int(n)
            elif kind == "k":
                out.completed.add((run, _step(step)))
        out.state_changes.extend(f.state_changes)
        counted = metrics.Counts(*f.counted)
        if counted != metrics.Counts():
            out.produced[cell] = counted
    out.by_cell_step, out.defects = dict(by_cell_step), dict(defects)
    return out


def report(
    store: HistorianStore,
    *,
    start: datetime,
    end: datetime,
    cells: Sequence[str] = (),
    shifts: Sequence[metrics.ShiftSpec],
    ideal_cycle_s: dict[str, float] | None = None,
    planned_reasons: Sequence[str] = (),
    tz: tzinfo = UTC,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The same report as `build_report` over every event of the cells, cut at `now`."""
    if now is not None:
        # Event times are kept to the millisecond: compared as text, `now` must be too.
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    inputs = report_inputs(store, start, end, cells, now)
    return report_from(
        inputs, start=start, end=end, shifts=shifts, ideal_cycle_s=ideal_cycle_s,
        planned_reasons=planned_reasons, tz=tz, now=now,
    )  # fmt: skip


def sku(store: HistorianStore, *, start: datetime, end: datetime) -> dict[str, Any]:
    """The SKU tables (`domain.sku_report`) of the runs with events in [start, end): all
    of each such run's events, so a lead time that began before the period is whole."""
    from cellctl.domain.sku_report import sku_report

    a, b = iso(start), iso(end)
    run_ids = sorted({r for cell in store.cells() for r, _, _ in store.report_runs(cell, a, b)})
    events = store.events_named([(RUN, r) for r in run_ids]) if run_ids else []
    return {"from": a, "to": b, **sku_report(events)}
