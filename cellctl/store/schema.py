"""Schema versions of the station store, applied forward in order."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from cellctl.store import projections
from cellctl.store.db import StoreError, transaction

EVENTS_SQL = """
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    cell TEXT NOT NULL,
    time TEXT NOT NULL,
    operator TEXT,
    schema INTEGER NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE outbox (
    event_id TEXT PRIMARY KEY REFERENCES events(id),
    seq INTEGER NOT NULL,
    queued_at TEXT NOT NULL
);
CREATE INDEX outbox_seq ON outbox(seq);
"""

# Read tables: derived from the event log only, so `rebuild` can drop and replay.
READ_TABLES_SQL = """
CREATE TABLE cell_status (
    cell TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    operator TEXT,
    role TEXT,
    run_id TEXT,
    step INTEGER,
    since TEXT NOT NULL,
    last_seq INTEGER NOT NULL
);
CREATE TABLE step_counts (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    good INTEGER NOT NULL,
    scrap INTEGER NOT NULL,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE scrap_reasons (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    reason TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (run_id, step, reason)
);
CREATE TABLE defects (
    event_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    step INTEGER,
    code TEXT NOT NULL,
    severity TEXT NOT NULL,
    serial TEXT,
    batch TEXT,
    note TEXT,
    photo TEXT,
    time TEXT NOT NULL,
    operator TEXT
);
CREATE TABLE downtime (
    event_id TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    planned INTEGER NOT NULL,
    started TEXT NOT NULL,
    ended TEXT
);
CREATE TABLE serial_counters (
    scope TEXT PRIMARY KEY,
    last_n INTEGER NOT NULL
);
CREATE TABLE units (
    serial TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    n INTEGER NOT NULL,
    run_id TEXT,
    batch TEXT,
    edition_size INTEGER,
    status TEXT NOT NULL,
    prints INTEGER NOT NULL,
    reprints INTEGER NOT NULL,
    allocated_at TEXT NOT NULL,
    UNIQUE (scope, n)
);
CREATE TABLE labels (
    event_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    job_id TEXT,
    template TEXT,
    serial TEXT,
    batch TEXT,
    copies INTEGER NOT NULL,
    time TEXT NOT NULL,
    operator TEXT
);
CREATE TABLE holds (
    batch TEXT PRIMARY KEY,
    held INTEGER NOT NULL,
    reason TEXT NOT NULL,
    since TEXT NOT NULL,
    operator TEXT
);
"""

READ_TABLES = (
    "cell_status",
    "step_counts",
    "scrap_reasons",
    "defects",
    "downtime",
    "serial_counters",
    "units",
    "labels",
    "holds",
    "inspections",
    "ncrs",
    "open_step",
    "qa_switching",
    "qa_switching_error",
    "qa_open_lot",
    "qa_open_results",
    "qa_last_verdict",
)

# 3: what the QA cell found (one row per inspected unit) and the non-conformance records.
QUALITY_SQL = """
CREATE TABLE inspections (
    event_id TEXT PRIMARY KEY,
    batch TEXT NOT NULL,
    serial TEXT NOT NULL,
    sku TEXT,
    passed INTEGER NOT NULL,
    defects TEXT,
    nonconformities INTEGER NOT NULL,
    note TEXT,
    photo TEXT,
    time TEXT NOT NULL,
    operator TEXT
);
CREATE INDEX inspections_batch ON inspections(batch);
CREATE INDEX inspections_serial ON inspections(serial);
CREATE TABLE ncrs (
    ncr_id TEXT PRIMARY KEY,
    batch TEXT NOT NULL,
    sku TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    opened_at TEXT NOT NULL,
    opened_by TEXT,
    disposition TEXT,
    note TEXT,
    closed_at TEXT,
    closed_by TEXT
);
"""

# 4: what a restarting cell needs, without reading its history: the step it accepted
# and has not finished (with the assignment as accepted), indexes on what is still
# open (downtime, holds) so start-up reads only those rows, and the QA cell's resume
# state (switching per key, the open lot and its results, the last verdict).
OPEN_STEP_SQL = """
CREATE TABLE open_step (
    cell TEXT PRIMARY KEY,
    assignment TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX downtime_open ON downtime(event_id) WHERE ended IS NULL;
CREATE INDEX holds_held ON holds(batch) WHERE held = 1;
CREATE TABLE qa_switching (
    key_by TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (key_by, key)
);
CREATE TABLE qa_switching_error (
    key_by TEXT PRIMARY KEY,
    message TEXT NOT NULL
);
CREATE TABLE qa_open_lot (
    batch TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE qa_open_results (
    batch TEXT NOT NULL,
    serial TEXT NOT NULL,
    nonconformities INTEGER NOT NULL,
    PRIMARY KEY (batch, serial)
);
CREATE TABLE qa_last_verdict (
    cell TEXT PRIMARY KEY,
    payload TEXT NOT NULL
);
"""

MIGRATIONS: tuple[str, ...] = (
    EVENTS_SQL + READ_TABLES_SQL,
    # 2: a meta table for store-wide facts (the cell this file belongs to).
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    QUALITY_SQL,
    OPEN_STEP_SQL,
    # 5: the batches a QA cell was offered, with their serials as the historian gave them,
    # so the batch can be sampled and inspected with the network gone.
    """CREATE TABLE qa_batch_cache (
    batch TEXT PRIMARY KEY,
    sku TEXT NOT NULL,
    run_id TEXT,
    serials TEXT NOT NULL,
    fetched_at TEXT NOT NULL
);""",
)

# A version whose new read table an existing store fills from its log, once, in the
# migration's transaction (as a rebuild would).
BACKFILLS: dict[int, Callable[[sqlite3.Connection], None]] = {
    4: projections.backfill_open_step,
}

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file to SCHEMA_VERSION; return the version it had before."""
    before = conn.execute("PRAGMA user_version").fetchone()[0]
    if before > SCHEMA_VERSION:
        raise StoreError(
            f"this store has schema version {before}, newer than this cellctl "
            f"({SCHEMA_VERSION}): upgrade cellctl before opening it"
        )
    for version in range(before + 1, SCHEMA_VERSION + 1):
        with transaction(conn):
            for statement in _split(MIGRATIONS[version - 1]):
                conn.execute(statement)
            if version in BACKFILLS:
                BACKFILLS[version](conn)
            conn.execute(f"PRAGMA user_version={version}")
    return before


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
