"""The historian on SQLite: the embedded default (the demo, a small site)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cellctl.domain.events import Event
from cellctl.historian.keys import keys_of, run_of, tally_of
from cellctl.historian.store import TALLY_INSERT, HistorianStore


class SqliteStore(HistorianStore):
    backend = "sqlite"
    begin_sql = "BEGIN IMMEDIATE"

    def _connect(self) -> sqlite3.Connection:
        path = Path(self.target)
        if self.target != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        # Requests are answered in a worker thread, one at a time (the service holds a lock).
        conn = sqlite3.connect(
            self.target, isolation_level=None, timeout=30, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL: a power cut may lose the last commits but never corrupts; the
        # cells keep every event until the gap re-ask has them stored again.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA cache_size=-65536")
        return conn

    def twin(self) -> HistorianStore | None:
        # A second reader in a thread made the month's report no faster here (1.28 s of
        # inputs either way on a 505k-event month of a 10-cell site): the rows
        # are turned into Python under the GIL. PostgreSQL's server gains 0.4 s from it.
        return None

    def _unavailable(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and (
            "locked" in str(exc) or "unable to open" in str(exc) or "disk" in str(exc)
        )

    def _insert_events(self, rows: list[tuple[Any, ...]]) -> list[int | None]:
        sql = (
            "INSERT INTO events (id, cell, seq, type, time, operator, payload, run_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING ev"
        )
        out: list[int | None] = []
        for row in rows:
            got = self.conn.execute(sql, row).fetchone()
            out.append(got[0] if got else None)
        return out

    def bulk_load(self, events: Iterable[Event], *, batch: int = 50_000) -> int:
        row = self.conn.execute("SELECT COALESCE(MAX(ev), 0) FROM events").fetchone()
        ev = int(row[0])
        total = 0
        chunk: list[Event] = []
        cells: set[str] = set()

        def flush() -> None:
            nonlocal ev
            rows: list[tuple[Any, ...]] = []
            keys: list[tuple[str, str, int]] = []
            tallies: list[tuple[Any, ...]] = []
            for e in chunk:
                ev += 1
                cells.add(e.cell)
                text = json.dumps(e.payload)
                rows.append(
                    (ev, e.id, e.cell, e.seq, e.type, e.time, e.operator, text, run_of(e.payload))
                )
                keys.extend((kind, key, ev) for kind, key in keys_of(e.payload))
                tally = tally_of(e.type, e.payload)
                if tally is not None:
                    tallies.append((ev, e.cell, e.time, *tally))
            self.begin()
            self.conn.executemany(
                "INSERT INTO events (ev, id, cell, seq, type, time, operator, payload, run_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self.conn.executemany(TALLY_INSERT, tallies)
            self.conn.executemany("INSERT INTO event_keys (kind, key, ev) VALUES (?, ?, ?)", keys)
            self.commit()
            chunk.clear()

        for e in events:
            chunk.append(e)
            total += 1
            if len(chunk) >= batch:
                flush()
        if chunk:
            flush()
        self.begin()
        for cell in sorted(cells):
            self._advance_hwm(cell)
        self._place_undos()
        self.commit()
        # Statistics for the planner from a sample: a full ANALYZE reads every index.
        self.conn.execute("PRAGMA analysis_limit=1000")
        self.conn.execute("ANALYZE")
        return total
