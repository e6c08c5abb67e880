"""The historian's database, the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cellctl.domain import metrics
from cellctl.domain.events import Event
from cellctl.domain.report import build_report
from cellctl.domain.trace import TraceError
from cellctl.domain.trace import trace as trace_all
from cellctl.historian import queries
from cellctl.historian.backends import open_store
from cellctl.historian.store import HistorianStore, migrations
from cellctl.historian.synth import SiteHistory

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


def _history(n: int = 3000, run_every_s: float = 200) -> tuple[SiteHistory, list[Event]]:
    h = SiteHistory(seed=3, run_every_s=run_every_s)
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
    # The status the API shows, worked out by the historian, as from every event of the run.
    status = queries.run_status(store, run)
    counts = metrics.counts_by(of_run, "step")
    assert status["counts"] == {
        str(step): {"good": c.good, "scrap": c.scrap} for (_, step), c in sorted(counts.items())
    }
    assert status["counts"] and status["events"] == len(of_run)
    assert status["cells"] == sorted({e.cell for e in of_run}) and status["sku"] == found["sku"]
    assert status["first_start"] == min(e.time for e in of_run if e.type == "run_step_started")
    with pytest.raises(TraceError):
        queries.run_status(store, "R-NOPE")


def test_report_equals_the_report_of_every_event(store: HistorianStore) -> None:
    h, events = _history(4000, run_every_s=600)  # into the afternoon
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
    events.extend(_oee_cases())
    store.bulk_load(iter(events))
    start = datetime(2026, 1, 1, 6, tzinfo=UTC)
    end = datetime(2026, 1, 1, 18, tzinfo=UTC)
    for cells in ([], ["cut-01"], ["late-01", "undo-01"]):
        chosen = [e for e in events if not cells or e.cell in cells]
        for now in (None, datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)):
            want = build_report(chosen, start=start, end=end, shifts=ALL_DAY, now=now)
            got = queries.report(store, start=start, end=end, cells=cells, shifts=ALL_DAY,
                                 now=now)  # fmt: skip
            assert got == want
            assert got["oee"] and got["events"]
    site = queries.report(store, start=start, end=end, shifts=ALL_DAY)
    assert site["counts"]
    oee = {row["cell"]: row for row in site["oee"]}
    # OEE by the book: running time from the state changes, less than the time up.
    assert 0 < oee["cut-01"]["run_s"] < oee["cut-01"]["planned_s"]
    assert oee["cut-01"]["delay_s"] > 0
    # In service from its first event (14:00): four planned hours, two of them running.
    assert (oee["late-01"]["planned_s"], oee["late-01"]["run_s"]) == (4 * 3600, 2 * 3600)
    # The undo of a count made before the period takes nothing off inside it; the undo
    # of a count inside the period does, even made after the period.
    assert (oee["undo-01"]["good"], oee["undo-01"]["total"]) == (10 - 2, 10 - 2)
    assert any(d["cell"] == "cut-01" and d["start"] == "2026-01-01T06:00:00Z"
               for d in site["downtime"])  # fmt: skip
    print02 = [c for c in site["counts"] if (c["run_id"], c["cell"]) == ("R0000010", "print-02")]
    assert [(c["good"], c["reworked"]) for c in print02] == [(4, 2)]


def _oee_cases() -> list[Event]:
    """Cells whose OEE depends on what lies outside the period: a cell put in service
    during it, running from the state changes; counts undone across both boundaries."""

    def at(hhmm: str, day: int = 1) -> str:
        return f"2026-01-0{day}T{hhmm}:00.000Z"

    def state(cell: str, seq: int, old: str, new: str, t: str) -> Event:
        return _ev(cell, seq, "state_changed", {"from": old, "to": new}, t)

    late = [
        state("late-01", 1, "offline", "idle", at("14:00")),
        state("late-01", 2, "idle", "running", at("15:00")),
        state("late-01", 3, "running", "idle", at("16:00")),
        state("late-01", 4, "idle", "running", at("17:00")),
        state("late-01", 5, "running", "idle", at("19:00")),  # after the period
    ]
    key = {"run_id": "R-U", "step": 0}
    before = _ev("undo-01", 2, "units_counted", {**key, "good": 5, "scrap": 0}, at("05:00"))
    inside = _ev("undo-01", 4, "units_counted", {**key, "good": 10, "scrap": 0}, at("17:00"))
    undo = [
        state("undo-01", 1, "idle", "running", at("04:00")),
        before,
        state("undo-01", 3, "running", "idle", at("05:30")),
        inside,
        # at 07:00, undoing the count of 05:00: outside the period for OEE
        _ev(
            "undo-01",
            5,
            "count_undone",
            {**key, "undoes": before.id, "good": 1, "scrap": 0},
            at("07:00"),
        ),  # fmt: skip
        # the next day, undoing two of 17:00's: inside the period for OEE
        _ev(
            "undo-01",
            6,
            "count_undone",
            {**key, "undoes": inside.id, "good": 2, "scrap": 0},
            at("08:00", day=2),
        ),  # fmt: skip
        # an undo whose count the site never saw counts at its own time
        _ev(
            "undo-01",
            7,
            "count_undone",
            {**key, "undoes": "nowhere", "good": 0, "scrap": 0},
            at("09:00"),
        ),  # fmt: skip
    ]
    return late + undo


def _undo_pair() -> tuple[Event, Event]:
    key = {"run_id": "R1", "step": 0}
    count = _ev("cut-01", 1, "units_counted", {**key, "good": 4, "scrap": 1},
                "2026-01-01T07:59:00.000Z")  # fmt: skip
    undo = _ev("cut-01", 2, "count_undone", {**key, "undoes": count.id, "good": 1, "scrap": 1},
               "2026-01-01T08:01:00.000Z")  # fmt: skip
    return count, undo


def test_an_undo_stored_before_its_count_counts_at_the_count(store: HistorianStore) -> None:
    count, undo = _undo_pair()
    store.ingest([undo])  # the count was lost on the way and comes back by a re-ask
    start, end = datetime(2026, 1, 1, 7, tzinfo=UTC), datetime(2026, 1, 1, 8, tzinfo=UTC)

    def oee_counts() -> tuple[int, int]:
        row = queries.report(store, start=start, end=end, shifts=ALL_DAY)["oee"][0]
        return row["good"], row["total"]

    assert oee_counts() == (0, 0)
    store.ingest([count])
    assert oee_counts() == (3, 3)
    assert queries.report(store, start=start, end=end, shifts=ALL_DAY) == build_report(
        [undo, count], start=start, end=end, shifts=ALL_DAY
    )


def test_migration_places_the_undos_of_an_older_database(
    store: HistorianStore, store_url: str
) -> None:
    count, undo = _undo_pair()
    store.ingest([count, undo])
    # Back to version 1, as a historian of the first release left its database.
    for index in ("tallies_moved_time", "tallies_moved_counted", "tallies_undo_pending",
                  "events_cell_state"):  # fmt: skip
        store.execute(f"DROP INDEX {index}")
    for column in ("undoes", "counted"):
        store.execute(f"ALTER TABLE tallies DROP COLUMN {column}")
    store.execute("DELETE FROM schema_version WHERE version > 1")
    store.close()
    again = open_store(store_url)
    try:
        assert again.schema_version() == migrations(again.backend)[-1][0]
        rows = again.execute("SELECT undoes, counted FROM tallies WHERE good < 0").fetchall()
        assert [tuple(r) for r in rows] == [(count.id, count.time)]
        start, end = datetime(2026, 1, 1, 7, tzinfo=UTC), datetime(2026, 1, 1, 8, tzinfo=UTC)
        row = queries.report(again, start=start, end=end, shifts=ALL_DAY)["oee"][0]
        assert (row["good"], row["total"]) == (3, 3)
    finally:
        again.close()
