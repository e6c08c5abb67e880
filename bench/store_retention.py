"""A station store's size after 90 simulated days of a busy cell, with the site's 30-day
retention (pruned with the historian's confirmation up to the end) and without.

The store is filled through the store's own `append_many` (bench/station_history.py:
steps of counts, defects, downtime, serials, labels, holds), the events' times spread
evenly over the days; both files are measured after VACUUM. Used by bench.historian.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.station_history import history
from cellctl.store import pruning
from cellctl.store.station_store import StationStore

CELL = "cut-01"
# About a million events a year (issue 21's "busy cell").
EVENTS_PER_DAY = 2_740
END = datetime(2026, 12, 1, tzinfo=UTC)


def _mb(path: Path) -> float:
    return (
        sum(
            p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
        )
        / 1e6
    )


def _fill(path: Path, days: int, per_day: int) -> int:
    store = StationStore(path, CELL, synchronous="OFF")
    n = days * per_day
    first = END - timedelta(days=days)
    step = timedelta(days=days) / n
    batch = []
    for i, e in enumerate(history(CELL, n)):
        batch.append(replace(e, time=pruning.iso(first + i * step)))
        if len(batch) >= 50_000:
            store.append_many(batch)
            batch.clear()
    if batch:
        store.append_many(batch)
    store.conn.execute("DELETE FROM outbox")  # all sent long ago
    count = store.event_count()
    store.close()
    return count


def store_sizes(
    work: Path, *, days: int = 90, per_day: int = EVENTS_PER_DAY, retention_days: float = 30
) -> dict[str, float]:
    unbounded, retained = work / "station-unbounded.db", work / "station-retained.db"
    events = _fill(unbounded, days, per_day)
    with sqlite3.connect(unbounded) as src, sqlite3.connect(retained) as dst:
        src.backup(dst)
    store = StationStore(unbounded, CELL)
    pruning.vacuum_store(store.conn)
    store.close()
    store = StationStore(retained, CELL)
    pruning.record_confirmed(store.conn, store.last_seq())
    t = time.perf_counter()
    result = pruning.prune(store.conn, retention_days=retention_days, now=END)
    prune_s = time.perf_counter() - t
    t = time.perf_counter()
    pruning.vacuum_store(store.conn)
    vacuum_s = time.perf_counter() - t
    kept = store.event_count()
    problems = store.check()
    store.close()
    assert not problems, problems
    a, b = _mb(retained), _mb(unbounded)
    return {
        "events": events,
        "kept": kept,
        "pruned": result.pruned,
        "prune_s": prune_s,
        "vacuum_s": vacuum_s,
        "retained_mb": a,
        "unbounded_mb": b,
        "ratio": a / b,
    }
