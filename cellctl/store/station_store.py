"""The station's event store: the log, its read tables, the outbox and serials.

Every append writes the events, updates the read tables and queues the events
for MQTT in one transaction, so the three never disagree, even after a crash.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellctl.domain.events import Event, utc_now_iso
from cellctl.domain.serials import format_serial
from cellctl.store import projections, pruning
from cellctl.store.db import StoreError, connect, transaction
from cellctl.store.schema import READ_TABLES, migrate


@dataclass(frozen=True, slots=True)
class Allocation:
    event: Event
    serials: list[str]
    first: int


def _row_to_event(row: Sequence[Any]) -> Event:
    seq, eid, etype, cell, etime, operator, schema, payload = row
    return Event(
        type=etype,
        cell=cell,
        payload=json.loads(payload),
        operator=operator,
        id=eid,
        time=etime,
        seq=seq,
        schema=schema,
    )


_EVENT_COLS = "seq, id, type, cell, time, operator, schema, payload"


class StationStore:
    """One SQLite file per station. Not shared between processes that write."""

    def __init__(self, path: str | Path, cell: str, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.cell = cell
        self.db = connect(self.path, synchronous=synchronous)
        self.conn: sqlite3.Connection = self.db.conn
        migrate(self.conn)
        with transaction(self.conn):
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'cell'").fetchone()
            if row is None:
                self.conn.execute("INSERT INTO meta (key, value) VALUES ('cell', ?)", (cell,))
            elif row[0] != cell:
                raise StoreError(
                    f"{self.path} belongs to cell {row[0]!r}, not {cell!r}: "
                    "check the station file's [station] id or store path"
                )

    def close(self) -> None:
        self.conn.close()

    # -- appending ---------------------------------------------------------

    def _last_seq(self) -> int:
        return self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]

    def _append_in_tx(self, events: Iterable[Event]) -> list[Event]:
        seq = self._last_seq()
        stored: list[Event] = []
        now = utc_now_iso()
        for event in events:
            if event.cell != self.cell:
                raise StoreError(f"event for cell {event.cell!r} given to {self.cell!r}'s store")
            seq += 1
            e = event.with_seq(seq)
            self.conn.execute(
                f"INSERT INTO events ({_EVENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    e.seq,
                    e.id,
                    e.type,
                    e.cell,
                    e.time,
                    e.operator,
                    e.schema,
                    json.dumps(e.payload, separators=(",", ":"), sort_keys=True),
                ),
            )
            projections.apply(self.conn, e)
            self.conn.execute(
                "INSERT INTO outbox (event_id, seq, queued_at) VALUES (?, ?, ?)",
                (e.id, e.seq, now),
            )
            stored.append(e)
        return stored

    def append(self, *events: Event) -> list[Event]:
        """Append events atomically; return them with their sequence numbers."""
        with transaction(self.conn):
            return self._append_in_tx(events)

    def append_many(self, events: Iterable[Event]) -> list[Event]:
        with transaction(self.conn):
            return self._append_in_tx(events)

    # -- serial numbers ------------------------------------------------------

    def allocate_serials(
        self,
        count: int,
        *,
        scope: str,
        fmt: str = "{sku}-{batch}-{n:04}",
        sku: str | None = None,
        batch: str | None = None,
        run_id: str | None = None,
        edition_size: int | None = None,
        operator: str | None = None,
    ) -> Allocation:
        """Allocate `count` new serials in `scope`; never hands one out twice."""
        if count < 1:
            raise StoreError("allocate at least one serial")
        with transaction(self.conn):
            row = self.conn.execute(
                "SELECT last_n FROM serial_counters WHERE scope = ?", (scope,)
            ).fetchone()
            first = (row[0] if row else 0) + 1
            if edition_size is not None and first + count - 1 > edition_size:
                raise StoreError(
                    f"edition of {edition_size} exhausted in {scope}: "
                    f"{first - 1} already numbered, {count} more asked"
                )
            serials = [
                format_serial(fmt, first + i, sku=sku, batch=batch, run=run_id)
                for i in range(count)
            ]
            event = Event(
                type="serials_allocated",
                cell=self.cell,
                operator=operator,
                payload={
                    "scope": scope,
                    "first": first,
                    "count": count,
                    "serials": serials,
                    "run_id": run_id,
                    "batch": batch,
                    "sku": sku,
                    "edition_size": edition_size,
                },
            )
            try:
                (stored,) = self._append_in_tx([event])
            except sqlite3.IntegrityError:
                raise StoreError(
                    f"serial {serials[0]!r}..{serials[-1]!r} would repeat a serial already "
                    f"issued outside scope {scope!r}: the serial format {fmt!r} must tell "
                    "scopes apart (include {batch} or {run})"
                ) from None
        return Allocation(stored, serials, first)

    # -- reading ---------------------------------------------------------------

    def events(self, after_seq: int = 0, limit: int | None = None) -> list[Event]:
        sql = f"SELECT {_EVENT_COLS} FROM events WHERE seq > ? ORDER BY seq"
        args: tuple[Any, ...] = (after_seq,)
        if limit is not None:
            sql += " LIMIT ?"
            args += (limit,)
        return [_row_to_event(r) for r in self.conn.execute(sql, args)]

    def events_between(self, first_seq: int, last_seq: int) -> list[Event]:
        rows = self.conn.execute(
            f"SELECT {_EVENT_COLS} FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq",
            (first_seq, last_seq),
        )
        return [_row_to_event(r) for r in rows]

    def event_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def last_seq(self) -> int:
        return self._last_seq()

    # -- outbox ------------------------------------------------------------------

    def pending(self, limit: int = 100) -> list[Event]:
        rows = self.conn.execute(
            f"SELECT {', '.join('e.' + c.strip() for c in _EVENT_COLS.split(','))} "
            "FROM outbox o JOIN events e ON e.id = o.event_id ORDER BY o.seq LIMIT ?",
            (limit,),
        )
        return [_row_to_event(r) for r in rows]

    def outbox_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def outbox_summary(self) -> dict[str, Any]:
        """What waits in the outbox: count, seq range, oldest queue time, count per type."""
        count, first, last, oldest = self.conn.execute(
            "SELECT COUNT(*), MIN(seq), MAX(seq), MIN(queued_at) FROM outbox"
        ).fetchone()
        by_type = dict(
            self.conn.execute(
                "SELECT e.type, COUNT(*) FROM outbox o JOIN events e ON e.id = o.event_id "
                "GROUP BY e.type ORDER BY COUNT(*) DESC, e.type"
            ).fetchall()
        )
        return {
            "count": count,
            "first_seq": first,
            "last_seq": last,
            "oldest_queued_at": oldest,
            "by_type": by_type,
        }

    def mark_sent(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        if not ids:
            return 0
        with transaction(self.conn):
            cur = self.conn.executemany(
                "DELETE FROM outbox WHERE event_id = ?", [(i,) for i in ids]
            )
            return cur.rowcount

    def requeue(self, first_seq: int, last_seq: int) -> int:
        """Queue already-sent events again (a consumer noticed a gap)."""
        now = utc_now_iso()
        with transaction(self.conn):
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO outbox (event_id, seq, queued_at) "
                "SELECT id, seq, ? FROM events WHERE seq BETWEEN ? AND ?",
                (now, first_seq, last_seq),
            )
            return cur.rowcount

    # -- read tables ---------------------------------------------------------------

    def read_tables(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every read table's rows in a stable order, for comparison."""
        return {
            t: sorted(tuple(r) for r in self.conn.execute(f"SELECT * FROM {t}"))  # noqa: S608
            for t in READ_TABLES
        }

    def rebuild(self) -> list[str]:
        """Drop the read tables' rows and replay the whole log into them; return the
        tables whose rows the replay changed."""
        self._set_aside()
        try:
            with transaction(self.conn):
                self._replay_in_tx()
                return self._changed_since_set_aside()
        finally:
            self._drop_set_aside()

    def check(self) -> list[str]:
        """Integrity and invariants; an empty list means the store is sound."""
        problems: list[str] = []
        result = self.conn.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            problems.append(f"SQLite integrity check: {result}")
        # After pruning the log starts right after the pruned range (meta `pruned`).
        kept_from = pruning.pruned(self.conn).through_seq + 1
        first = self.conn.execute("SELECT MIN(seq) FROM events").fetchone()[0]
        if first is not None and first != kept_from:
            problems.append(
                f"the event log starts at seq {first}, but the pruned range ends at "
                f"seq {kept_from - 1}: events {kept_from}..{first - 1} are missing"
            )
        gaps = self.conn.execute(
            "SELECT COUNT(*) FROM events e WHERE seq > ? AND NOT EXISTS "
            "(SELECT 1 FROM events p WHERE p.seq = e.seq - 1)",
            (first or 0,),
        ).fetchone()[0]
        if gaps:
            problems.append(f"the event log has {gaps} gap(s) in its sequence numbers")
        orphans = self.conn.execute(
            "SELECT COUNT(*) FROM outbox o LEFT JOIN events e ON e.id = o.event_id "
            "WHERE e.id IS NULL"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} outbox row(s) name no event")
        problems += [
            f"read table {t} differs from a rebuild of the log" for t in self._differs_from_log()
        ]
        return problems

    def _differs_from_log(self) -> list[str]:
        """The read tables that a replay of the log would change.

        Streams: the current rows are copied aside in SQLite (a temporary table per
        read table), the log is replayed row by row inside a savepoint, the two are
        compared with EXCEPT both ways (every read table has a primary key, so rows are
        unique), and the savepoint is rolled back. Nothing the size of the log or of a
        table is held in Python.
        """
        self._set_aside()
        try:
            self.conn.execute("SAVEPOINT check_rebuild")
            try:
                self._replay_in_tx()
                return self._changed_since_set_aside()
            finally:
                self.conn.execute("ROLLBACK TO check_rebuild")
                self.conn.execute("RELEASE check_rebuild")
        finally:
            self._drop_set_aside()

    def _set_aside(self) -> None:
        for t in READ_TABLES:
            self.conn.execute(f"DROP TABLE IF EXISTS temp.before_{t}")  # noqa: S608
            self.conn.execute(f"CREATE TEMP TABLE before_{t} AS SELECT * FROM main.{t}")  # noqa: S608

    def _changed_since_set_aside(self) -> list[str]:
        changed = []
        for t in READ_TABLES:
            (differs,) = self.conn.execute(
                f"SELECT EXISTS (SELECT * FROM main.{t} EXCEPT SELECT * FROM before_{t}) "  # noqa: S608
                f"OR EXISTS (SELECT * FROM before_{t} EXCEPT SELECT * FROM main.{t})"
            ).fetchone()
            if differs:
                changed.append(t)
        return changed

    def _drop_set_aside(self) -> None:
        for t in READ_TABLES:
            self.conn.execute(f"DROP TABLE IF EXISTS temp.before_{t}")  # noqa: S608

    def _replay_in_tx(self) -> None:
        for t in READ_TABLES:
            self.conn.execute(f"DELETE FROM {t}")  # noqa: S608
        # A pruned log replays onto the read tables as they were at its pruned end.
        pruning.restore_checkpoint(self.conn)
        for row in self.conn.execute(f"SELECT {_EVENT_COLS} FROM events ORDER BY seq"):
            projections.apply(self.conn, _row_to_event(row))
