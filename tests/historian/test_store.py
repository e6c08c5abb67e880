"""The historian's database, the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cellctl.domain import metrics
from cellctl.domain.events import Event
from cellctl.domain.trace import TraceError
from cellctl.domain.trace import trace as trace_all
from cellctl.historian import queries
from cellctl.historian.store import HistorianStore, migrations, open_store
from cellctl.historian.synth import SiteHistory
from cellctl.services.report import build_report

ALL_DAY = [metrics.ShiftSpec("all day", "00:00", "00:00", days=metrics.WEEKDAYS)]


def _ev(cell: str, seq: int, etype: str, payload: dict, t: str = "2026-01-01T00:00:00.000Z"):
    return Event(etype, cell, payload, "OP-ADA", time=t, seq=seq)


def test_migrations_recorded_once(store: HistorianStore, store_url: str) -> None:
    latest = migrations(store.backend)[-1][0]
    assert store.schema_version() == latest
    again = open_store(store_url)  # reopening applies nothing twice
    try:
        rows = again.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0]
        assert rows == len(migrations(store.backend))
    finally:
        again.close()


def test_ingest_once_with_marks(store: HistorianStore) -> None:
    a = [_ev("cut-01", s, "units_counted", {"run_id": "R1", "step": 0, "good": 1, "scrap": 0})
         for s in (1, 2, 4)]  # fmt: skip
    first = store.ingest(a)
    assert len(first.stored) == 3 and first.duplicates == 0
    again = store.ingest([a[0], a[2]])
    assert again.stored == [] and again.duplicates == 2
    assert store.seq_marks() == {"cut-01": (2, 4)}  # seq 3 is missing
    # Another event claiming seq 2 of the cell is kept out, not stored twice.
    clash = store.ingest([_ev("cut-01", 2, "cell_started", {})])
    assert clash.conflicts == 1 and clash.stored == []
    late = store.ingest([_ev("cut-01", 3, "cell_started", {})])
    assert len(late.stored) == 1
    assert store.seq_marks() == {"cut-01": (4, 4)}
    assert store.count() == 4


def test_one_event_twice_in_one_batch(store: HistorianStore) -> None:
    e = _ev("qa-01", 1, "cell_started", {})
    result = store.ingest([e, e])
    assert len(result.stored) == 1 and result.duplicates == 1
    assert store.count() == 1


def _history(n: int = 3000) -> tuple[SiteHistory, list[Event]]:
    h = SiteHistory(seed=3, run_every_s=200)
    return h, list(h.events(n))


@pytest.mark.parametrize("loader", ["ingest", "bulk_load"])
def test_trace_equals_the_trace_of_every_event(store: HistorianStore, loader: str) -> None:
    h, events = _history()
    if loader == "ingest":
        for i in range(0, len(events), 500):
            store.ingest(events[i : i + 500])
    else:
        assert store.bulk_load(iter(events), batch=700) == len(events)
    assert store.count() == len(events)
    assert store.seq_marks() == {c: (m, m) for c, m in _last_seqs(events).items()}
    for query in [h.serials[3], h.batches[5], f"CB:{h.batches[7]}"]:
        want = trace_all(events, query)
        got = queries.trace(store, query)
        assert got == want
        assert got["timeline"]  # a genealogy with something in it
    with pytest.raises(TraceError):
        queries.trace(store, "NO-SUCH-SERIAL")


def _last_seqs(events: list[Event]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in events:
        out[e.cell] = max(out.get(e.cell, 0), e.seq)
    return out


def test_batch_and_run_lookups(store: HistorianStore) -> None:
    h, events = _history(1500)
    store.bulk_load(iter(events))
    batch = h.batches[2]
    found = queries.batch(store, batch)
    issued = [e for e in events if e.type == "serials_allocated" and e.payload["batch"] == batch]
    assert found["serials"] == issued[0].payload["serials"]
    run = found["run_id"]
    history = queries.run_history(store, run)
    of_run = [
        e for e in events
        if run in (e.payload.get("run_id"), (e.payload.get("assignment") or {}).get("run_id"))
    ]  # fmt: skip
    assert [e["id"] for e in history["events"]] == [e.id for e in of_run]
    with pytest.raises(TraceError):
        queries.batch(store, "B-NOPE")


def test_report_equals_the_report_of_every_event(store: HistorianStore) -> None:
    h, events = _history(4000)
    # A downtime open across the start of the period must count inside it.
    events.append(_ev("cut-01", 10_000, "downtime_started", {"reason": "JAM"},
                      "2026-01-01T05:59:00.000Z"))  # fmt: skip
    events.append(_ev("cut-01", 10_001, "downtime_ended", {}, "2026-01-01T06:10:00.000Z"))
    # Reworked units and an undone count are added up as the report adds them.
    run = {"run_id": "R0000010", "step": 1}
    events.append(_ev("print-02", 10_000, "units_counted", {**run, "good": 5, "scrap": 1,
                      "reworked": 2}, "2026-01-01T07:00:00.000Z"))  # fmt: skip
    events.append(_ev("print-02", 10_001, "count_undone", {**run, "undoes": "x", "good": 1,
                      "scrap": 0}, "2026-01-01T07:01:00.000Z"))  # fmt: skip
    events.append(_ev("print-02", 10_002, "defect_recorded", {"run_id": "R0000010",
                      "code": "DIM", "severity": "major", "count": 3},
                      "2026-01-01T07:02:00.000Z"))  # fmt: skip
    store.bulk_load(iter(events))
    start = datetime(2026, 1, 1, 6, tzinfo=UTC)
    end = datetime(2026, 1, 1, 18, tzinfo=UTC)
    for cells in ([], ["cut-01"]):
        chosen = [e for e in events if not cells or e.cell in cells]
        want = build_report(chosen, start=start, end=end, shifts=ALL_DAY)
        got = queries.report(store, start=start, end=end, cells=cells, shifts=ALL_DAY)
        assert got == want
        assert got["counts"] and got["oee"] and got["events"]
    assert any(d["cell"] == "cut-01" and d["start"] == "2026-01-01T06:00:00Z"
               for d in got["downtime"])  # fmt: skip
    site = queries.report(store, start=start, end=end, shifts=ALL_DAY)
    print02 = [c for c in site["counts"] if (c["run_id"], c["cell"]) == ("R0000010", "print-02")]
    assert [(c["good"], c["reworked"]) for c in print02] == [(4, 2)]
