"""Migration 3 (inspections, NCRs) on a store made by the previous schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cellctl.domain.events import Event
from cellctl.store.schema import MIGRATIONS, READ_TABLES, SCHEMA_VERSION, _split
from cellctl.store.station_store import StationStore


def test_a_version_2_store_gains_the_quality_tables(tmp_path: Path) -> None:
    path = tmp_path / "qa-01.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        for statement in _split(script):
            conn.execute(statement)
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()
    store = StationStore(path, "qa-01")
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    assert {"inspections", "ncrs"} <= set(READ_TABLES)
    store.append(
        Event(
            "inspection_recorded",
            "qa-01",
            {
                "batch": "B",
                "serial": "S",
                "passed": False,
                "defects": ["BURN", "WARP"],
                "nonconformities": 2,
            },
        ),
        Event("nonconformance_opened", "qa-01", {"ncr_id": "N1", "batch": "B", "reason": "r"}),
        Event("nonconformance_closed", "qa-01", {"ncr_id": "N1", "disposition": "scrap"}),
    )
    tables = store.read_tables()
    assert [(r[2], r[4], r[5], r[6]) for r in tables["inspections"]] == [("S", 0, "BURN,WARP", 2)]
    assert [(r[0], r[3], r[7]) for r in tables["ncrs"]] == [("N1", "closed", "scrap")]
    before = store.read_tables()
    store.rebuild()
    assert store.read_tables() == before
    assert store.check() == []
    store.close()
