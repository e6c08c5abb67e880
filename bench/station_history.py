"""A station store filled with a long, realistic history, through the store's own
`append_many` (the same path a running cell writes), in bulk transactions.

Each step of the history is an accepted assignment, its start, counts (good and
scrap), a defect, a downtime, serials allocated and labelled, a hold and release,
and its completion. The history ends with a step left open (accepted, running,
partly counted), which is what a restart must resume.
"""

from __future__ import annotations

from collections.abc import Iterator

from cellctl.domain.events import Event
from cellctl.store.station_store import StationStore

COUNTS_PER_STEP = 170


def assignment(run: int) -> dict[str, object]:
    return {
        "run_id": f"R-H{run:06}",
        "step": 0,
        "kind": "cut",
        "sku": "MUG-ENAMEL",
        "title": "History mug",
        "quantity": 5000,
        "due": "2026-11-23T14:00:00Z",
        "batch": f"B-H{run:06}",
    }


def _step(cell: str, run: int, *, close: bool) -> Iterator[Event]:
    a = assignment(run)
    rid, batch = str(a["run_id"]), str(a["batch"])
    op = "OP-ADA"

    def ev(etype: str, **payload: object) -> Event:
        return Event(type=etype, cell=cell, payload=payload, operator=op)

    yield ev("assignment_received", run_id=rid, step=0)
    yield ev("assignment_accepted", run_id=rid, step=0, assignment=a)
    yield ev("state_changed", **{"from": "idle", "to": "running"})
    yield ev("run_step_started", run_id=rid, step=0)
    for i in range(COUNTS_PER_STEP):
        if i % 40 == 39:
            yield ev("units_counted", run_id=rid, step=0, good=0, scrap=1, reason="BURN")
        else:
            yield ev("units_counted", run_id=rid, step=0, good=1, scrap=0)
        if not close and i == COUNTS_PER_STEP // 2:
            return
    yield ev("defect_recorded", run_id=rid, step=0, code="SCRATCH", severity="minor")
    yield ev("state_changed", **{"from": "running", "to": "down"})
    yield ev("downtime_started", reason="JAM", planned=False)
    yield ev("downtime_ended")
    yield ev("state_changed", **{"from": "down", "to": "running"})
    serials = [f"MUG-{batch}-{n:04}" for n in range(1, 11)]
    yield ev(
        "serials_allocated",
        scope=batch,
        first=1,
        count=10,
        serials=serials,
        run_id=rid,
        batch=batch,
        sku="MUG-ENAMEL",
        edition_size=None,
    )
    yield ev("label_printed", template="unit", job_id=f"J-{run}", copies=1, serials=serials)
    yield ev("batch_held", batch=batch, reason="check")
    yield ev("batch_released", batch=batch, reason="checked")
    yield ev("run_step_completed", run_id=rid, step=0, good=165, scrap=4)
    yield ev("state_changed", **{"from": "running", "to": "idle"})


def history(cell: str, n: int) -> Iterator[Event]:
    """About `n` events: whole steps, then one open step."""
    per_step = COUNTS_PER_STEP + 17
    steps = max(0, (n - COUNTS_PER_STEP // 2 - 5) // per_step)
    for run in range(steps):
        yield from _step(cell, run, close=True)
    yield ev_signed_in(cell)
    yield from _step(cell, steps, close=False)


def ev_signed_in(cell: str) -> Event:
    return Event(
        type="operator_signed_in",
        cell=cell,
        payload={"badge": "OP-ADA", "role": "operator", "how": "badge"},
        operator="OP-ADA",
    )


def fill(store: StationStore, n: int, chunk: int = 50_000) -> int:
    """Append about `n` events in transactions of `chunk`; return the store's count."""
    batch: list[Event] = []
    for e in history(store.cell, n):
        batch.append(e)
        if len(batch) >= chunk:
            store.append_many(batch)
            batch.clear()
    if batch:
        store.append_many(batch)
    store.conn.execute("DELETE FROM outbox")  # the history was sent long ago
    return store.event_count()
