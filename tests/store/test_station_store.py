from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cellctl.domain.events import Event
from cellctl.store.db import StoreError
from cellctl.store.schema import SCHEMA_VERSION
from cellctl.store.station_store import StationStore


def counted(good: int = 1, scrap: int = 0, run: str = "R1", reason: str | None = None) -> Event:
    payload = {"run_id": run, "step": 0, "good": good, "scrap": scrap}
    if reason:
        payload["reason"] = reason
    return Event("units_counted", "cut-01", payload, operator="OP-ADA")


@pytest.fixture
def store(tmp_path: Path) -> StationStore:
    return StationStore(tmp_path / "cut-01.db", "cut-01")


def test_append_assigns_sequence_and_queues_outbox(store: StationStore) -> None:
    a, b = store.append(counted(), counted(scrap=1, good=0, reason="BURN"))
    assert (a.seq, b.seq) == (1, 2)
    assert [e.id for e in store.pending(10)] == [a.id, b.id]
    assert store.read_tables()["step_counts"] == [("R1", 0, 1, 1)]
    assert store.read_tables()["scrap_reasons"] == [("R1", 0, "BURN", 1)]


def test_mark_sent_removes_only_acknowledged(store: StationStore) -> None:
    a, b, c = store.append(counted(), counted(), counted())
    assert store.mark_sent([a.id, c.id]) == 2
    assert [e.id for e in store.pending(10)] == [b.id]
    assert store.requeue(1, 3) == 2
    assert [e.seq for e in store.pending(10)] == [1, 2, 3]


def test_failed_append_changes_nothing(store: StationStore) -> None:
    store.append(counted())
    with pytest.raises(StoreError):
        store.append(counted(), Event("units_counted", "other-cell", {}))
    assert store.event_count() == 1
    assert store.outbox_count() == 1
    assert store.read_tables()["step_counts"] == [("R1", 0, 1, 0)]


def test_serials_never_repeat_and_respect_edition(store: StationStore) -> None:
    a = store.allocate_serials(3, scope="R1", sku="MUG", batch="B7")
    b = store.allocate_serials(2, scope="R1", sku="MUG", batch="B7")
    assert a.serials == ["MUG-B7-0001", "MUG-B7-0002", "MUG-B7-0003"]
    assert b.serials == ["MUG-B7-0004", "MUG-B7-0005"]
    store.allocate_serials(5, scope="LTD", sku="ART", batch="E", edition_size=5)
    with pytest.raises(StoreError, match="edition of 5 exhausted"):
        store.allocate_serials(1, scope="LTD", sku="ART", batch="E", edition_size=5)


def test_serials_survive_reopen(tmp_path: Path) -> None:
    s1 = StationStore(tmp_path / "x.db", "cut-01")
    s1.allocate_serials(2, scope="R1", sku="A", batch="B")
    s1.close()
    s2 = StationStore(tmp_path / "x.db", "cut-01")
    assert s2.allocate_serials(1, scope="R1", sku="A", batch="B").first == 3


def test_rebuild_gives_identical_tables(store: StationStore) -> None:
    store.append(
        Event("operator_signed_in", "cut-01", {"badge": "OP-ADA", "role": "machinist"}),
        Event("state_changed", "cut-01", {"from": "idle", "to": "running"}),
        counted(),
        counted(good=0, scrap=2, reason="JAM"),
        Event("defect_recorded", "cut-01", {"run_id": "R1", "code": "BURN", "severity": "major"}),
        Event("downtime_started", "cut-01", {"reason": "JAM"}),
        Event("downtime_ended", "cut-01", {}),
        Event("batch_held", "cut-01", {"batch": "B1", "reason": "QC"}),
    )
    alloc = store.allocate_serials(2, scope="R1", sku="A", batch="B1")
    store.append(
        Event(
            "label_printed",
            "cut-01",
            {"template": "unit", "job_id": "J1", "copies": 2, "serials": alloc.serials},
        ),
        Event("label_voided", "cut-01", {"serial": alloc.serials[0], "reason": "smudged"}),
    )
    before = store.read_tables()
    assert before["units"][0][6] == "void"
    store.rebuild()
    assert store.read_tables() == before
    assert store.check() == []


def test_check_notices_a_tampered_read_table(store: StationStore) -> None:
    store.append(counted())
    store.conn.execute("UPDATE step_counts SET good = 99")
    assert any("step_counts" in p for p in store.check())


def test_store_refuses_other_cells_file(tmp_path: Path) -> None:
    StationStore(tmp_path / "a.db", "cut-01").close()
    with pytest.raises(StoreError, match="belongs to cell 'cut-01'"):
        StationStore(tmp_path / "a.db", "qa-01")


def test_migrations_move_forward_from_version_one(tmp_path: Path) -> None:
    from cellctl.store.schema import MIGRATIONS, _split

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in _split(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    store = StationStore(path, "cut-01")
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.append(counted())
    assert store.event_count() == 1


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="upgrade cellctl"):
        StationStore(path, "cut-01")


def test_wal_and_full_synchronous(store: StationStore) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_colliding_serial_formats_are_refused_not_reused(store: StationStore) -> None:
    store.allocate_serials(1, scope="R1", sku="MUG", batch="B1")
    with pytest.raises(StoreError, match="would repeat a serial"):
        store.allocate_serials(1, scope="R2", sku="MUG", batch="B1")
    assert store.read_tables()["serial_counters"] == [("R1", 1)]
