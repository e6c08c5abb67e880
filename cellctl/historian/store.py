"""The historian's database: one interface, two backends (SQLite embedded, PostgreSQL).

Plain SQL migrations (`migrations/<backend>/NNN_name.sql`) applied in order and noted in
`schema_version`; no ORM. The SQL is written once with `?` placeholders; the PostgreSQL
backend turns them into `%s`. `open_store` takes a file path (SQLite) or a
`postgresql://` URL.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from cellctl.domain.events import Event
from cellctl.historian.keys import keys_of, run_of, tally_of

log = logging.getLogger(__name__)

MACHINE_EVENTS = ("machine_job_started", "machine_job_finished", "machine_alarm")
EVENT_COLUMNS = "ev, id, type, cell, time, operator, seq, payload"
TALLY_INSERT = (
    "INSERT INTO tallies (ev, cell, time, kind, run_id, step, code, good, scrap, reworked, n, "
    "undoes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The count an undo names, at the undo's cell: the undo is counted at that count's time.
_UNDONE_COUNT = (
    "FROM events e WHERE e.id = tallies.undoes AND e.cell = tallies.cell "
    "AND e.type = 'units_counted'"
)
PLACE_UNDOS = (
    f"UPDATE tallies SET counted = (SELECT e.time {_UNDONE_COUNT}) "
    f"WHERE undoes IS NOT NULL AND counted IS NULL AND EXISTS (SELECT 1 {_UNDONE_COUNT})"
)
# IN lists are sent in chunks of at most this many values.
CHUNK = 500


class HistorianStoreError(Exception):
    """The historian's database cannot do what was asked."""


class StoreUnavailable(HistorianStoreError):
    """The database cannot be reached (or went away): keep the events and try again."""


@dataclass
class IngestResult:
    stored: list[Event] = field(default_factory=list)
    duplicates: int = 0
    # Another event already holds this cell's seq: kept out, logged (a reset cell store).
    conflicts: int = 0


def migrations(backend: str) -> list[tuple[int, str, str]]:
    """(version, name, sql) of the backend's migrations, in order."""
    folder = resources.files("cellctl.historian") / "migrations" / backend
    found = []
    for item in folder.iterdir():
        if item.name.endswith(".sql"):
            number, _, name = item.name.partition("_")
            found.append((int(number), name.removesuffix(".sql"), item.read_text()))
    return sorted(found)


def _row_event(row: Sequence[Any]) -> Event:
    _ev, eid, etype, cell, time, operator, seq, payload = row
    return Event(
        type=etype,
        cell=cell,
        payload=json.loads(payload),
        operator=operator,
        id=eid,
        time=time,
        seq=seq,
    )


class HistorianStore:
    """What the historian and its questions need of a database; a backend fills in the
    connection, the placeholder style and bulk loading."""

    backend = "?"
    placeholder = "?"

    def __init__(self, target: str) -> None:
        self.target = target
        self.conn: Any = None
        self.connect()

    # -- per backend ---------------------------------------------------------------------

    def _connect(self) -> Any:
        raise NotImplementedError

    def _unavailable(self, exc: BaseException) -> bool:
        raise NotImplementedError

    def _insert_events(self, rows: list[tuple[Any, ...]]) -> list[int | None]:
        raise NotImplementedError

    def bulk_load(self, events: Iterable[Event], *, batch: int = 50_000) -> int:
        """Load events known to be new (a bench, an import), fast; returns how many."""
        raise NotImplementedError

    def describe(self) -> str:
        return self.target

    # -- shared --------------------------------------------------------------------------

    def connect(self) -> None:
        try:
            self.conn = self._connect()
            self._migrate()
        except Exception as exc:
            if self._unavailable(exc):
                raise StoreUnavailable(f"{self.describe()}: {exc}") from exc
            raise

    def twin(self) -> HistorianStore | None:
        """Another connection to the same database, to read beside this one; None where
        that gains nothing (see the backends)."""
        return type(self)(self.target)

    def reconnect(self) -> None:
        self.close()
        self.connect()

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # a dead connection may refuse to close
                self.conn.close()
            self.conn = None

    def json_text(self, key: str) -> str:
        """SQL for the payload's `key` as text (this backend's JSON function)."""
        return f"json_extract(payload, '$.{key}')"

    def sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def execute(self, text: str, args: Sequence[Any] = ()) -> Any:
        self._need_conn()
        return self.conn.execute(self.sql(text), tuple(args))

    def _need_conn(self) -> None:
        """After a failed reconnect the connection is gone: try again now, and say the
        database is unavailable (never a bare error, which would drop the events)."""
        if self.conn is None:
            self.connect()

    def _migrate(self) -> None:
        self.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)"
        )
        done = {r[0] for r in self.execute("SELECT version FROM schema_version").fetchall()}
        for version, name, text in migrations(self.backend):
            if version in done:
                continue
            self.begin()
            try:
                code = "\n".join(
                    line for line in text.splitlines() if not line.lstrip().startswith("--")
                )
                for statement in code.split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.execute(
                    "INSERT INTO schema_version (version, name, applied) "
                    "VALUES (?, ?, CURRENT_TIMESTAMP)",
                    (version, name),
                )
            except BaseException:
                self.rollback()
                raise
            self.commit()
            log.info("historian: %s migrated to version %d (%s)", self.describe(), version, name)

    def schema_version(self) -> int:
        row = self.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    # Both backends run in autocommit mode: a write is one explicit transaction, and a
    # read holds no transaction open (PostgreSQL would keep a snapshot otherwise).
    begin_sql = "BEGIN"

    def begin(self) -> None:
        self._need_conn()
        self.conn.execute(self.begin_sql)

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        except Exception as exc:  # the connection died: nothing is left to roll back
            log.info("historian: rollback failed (%s)", exc)

    def ingest(self, events: Sequence[Event]) -> IngestResult:
        """Store new events (a duplicate id is counted and dropped) in one transaction,
        with their keys and the cells' sequence marks; only then are they stored."""
        result = IngestResult()
        if not events:
            return result
        try:
            self.begin()
            try:
                self._ingest(events, result)
            except BaseException:
                self.rollback()
                raise
            self.commit()
        except Exception as exc:
            if self._unavailable(exc):
                raise StoreUnavailable(f"{self.describe()}: {exc}") from exc
            raise
        return result

    def _ingest(self, events: Sequence[Event], result: IngestResult) -> None:
        rows = [
            (e.id, e.cell, e.seq, e.type, e.time, e.operator, json.dumps(e.payload),
             run_of(e.payload))
            for e in events
        ]  # fmt: skip
        evs = self._insert_events(rows)
        keys: list[tuple[str, str, int]] = []
        tallies: list[tuple[Any, ...]] = []
        cells: set[str] = set()
        for event, ev in zip(events, evs, strict=True):
            if ev is None:
                known = self.execute("SELECT 1 FROM events WHERE id = ?", (event.id,)).fetchone()
                if known:
                    result.duplicates += 1
                else:
                    result.conflicts += 1
                    log.warning(
                        "historian: %s seq %d is already another event's; kept out %s",
                        event.cell,
                        event.seq,
                        event.id,
                    )
                continue
            result.stored.append(event)
            cells.add(event.cell)
            keys.extend((kind, key, ev) for kind, key in keys_of(event.payload))
            tally = tally_of(event.type, event.payload)
            if tally is not None:
                tallies.append((ev, event.cell, event.time, *tally))
        if tallies:
            self.conn.cursor().executemany(self.sql(TALLY_INSERT), tallies)
            # An undo may come before its count (a gap re-asked): placed once both are in.
            self._place_undos()
        if keys:
            self.conn.cursor().executemany(
                self.sql(
                    "INSERT INTO event_keys (kind, key, ev) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
                ),
                keys,
            )
        for cell in sorted(cells):
            self._advance_hwm(cell)

    def _advance_hwm(self, cell: str) -> None:
        row = self.execute("SELECT hwm FROM cell_seq WHERE cell = ?", (cell,)).fetchone()
        hwm = row[0] if row else 0
        for (seq,) in self.execute(
            "SELECT seq FROM events WHERE cell = ? AND seq > ? ORDER BY seq", (cell, hwm)
        ).fetchall():
            if seq != hwm + 1:
                break
            hwm = seq
        max_seen = self.execute("SELECT MAX(seq) FROM events WHERE cell = ?", (cell,)).fetchone()[0]
        self.execute(
            "INSERT INTO cell_seq (cell, hwm, max_seen) VALUES (?, ?, ?) "
            "ON CONFLICT (cell) DO UPDATE SET hwm = excluded.hwm, max_seen = excluded.max_seen",
            (cell, hwm, max_seen),
        )

    def _place_undos(self) -> None:
        """Give undos whose count is now stored that count's time (`tallies.counted`)."""
        self.execute(PLACE_UNDOS)

    def seq_marks(self) -> dict[str, tuple[int, int]]:
        """cell -> (contiguous high-water mark, highest seq stored)."""
        rows = self.execute("SELECT cell, hwm, max_seen FROM cell_seq").fetchall()
        return {c: (int(h), int(m)) for c, h, m in rows}

    # -- questions -------------------------------------------------------------------------

    def count(self) -> int:
        row = self.execute("SELECT COUNT(*) FROM events").fetchone()
        return int(row[0])

    def cells(self) -> list[str]:
        rows = self.execute("SELECT cell FROM cell_seq ORDER BY cell").fetchall()
        return [r[0] for r in rows]

    def events_named(self, keys: Iterable[tuple[str, str]]) -> list[Event]:
        """The events that name any of these (kind, key) pairs."""
        by_kind: dict[str, list[str]] = {}
        for kind, key in keys:
            by_kind.setdefault(kind, []).append(key)
        evs: set[int] = set()
        for kind, values in by_kind.items():
            unique = sorted(set(values))
            for i in range(0, len(unique), CHUNK):
                chunk = unique[i : i + CHUNK]
                marks = ", ".join("?" * len(chunk))
                evs.update(
                    r[0]
                    for r in self.execute(
                        f"SELECT ev FROM event_keys WHERE kind = ? AND key IN ({marks})",
                        (kind, *chunk),
                    ).fetchall()
                )
        return self._events_by_ev(sorted(evs))

    def keys_after(self, kind: str, after: str, limit: int) -> list[str]:
        """The distinct keys of a kind (batches, serials, …) after `after`, in order."""
        rows = self.execute(
            "SELECT DISTINCT key FROM event_keys WHERE kind = ? AND key > ? ORDER BY key LIMIT ?",
            (kind, after, limit),
        ).fetchall()
        return [r[0] for r in rows]

    def _events_by_ev(self, evs: list[int]) -> list[Event]:
        out: list[Event] = []
        for i in range(0, len(evs), CHUNK):
            chunk = evs[i : i + CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE ev IN ({marks})", chunk
            ).fetchall()
            out.extend(_row_event(r) for r in rows)
        return out

    def machine_events(self, cell: str, start: str, end: str | None) -> list[Event]:
        """The machine events at a cell between two event times (end None: open)."""
        marks = ", ".join("?" * len(MACHINE_EVENTS))
        rows = self.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE cell = ? AND time >= ? AND time <= ? "
            f"AND type IN ({marks})",
            (cell, start, end or "~", *MACHINE_EVENTS),
        ).fetchall()
        return [_row_event(r) for r in rows]

    def events_between(self, cell: str, start: str, end: str) -> list[Event]:
        """A cell's events with start <= time < end (ISO UTC texts)."""
        rows = self.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE cell = ? AND time >= ? AND time < ?",
            (cell, start, end),
        ).fetchall()
        return [_row_event(r) for r in rows]

    def report_tallies(self, cell: str, start: str, end: str) -> list[tuple[Any, ...]]:
        """A cell's report figures over [start, end), added up per kind, run, step and
        code: (kind, run_id, step, code, good, scrap, reworked, n, last time)."""
        rows: list[tuple[Any, ...]] = self.execute(
            "SELECT kind, run_id, step, code, SUM(good), SUM(scrap), SUM(reworked), SUM(n), "
            "MAX(time) FROM tallies WHERE cell = ? AND time >= ? AND time < ? "
            "GROUP BY kind, run_id, step, code",
            (cell, start, end),
        ).fetchall()
        return rows

    def count_sums(self, cell: str, start: str, end: str) -> tuple[int, int, int]:
        """(good, scrap, reworked) a cell counted over [start, end), by count time: an undo
        counted at the time of the count it undoes, when the historian holds that count."""
        args = (cell, start, end)
        total = [0, 0, 0]
        for sign, sql in (
            (1, "kind = 'c' AND time >= ? AND time < ?"),  # every count and undo, own time
            (-1, "counted IS NOT NULL AND time >= ? AND time < ?"),  # undos moved away...
            (1, "counted IS NOT NULL AND counted >= ? AND counted < ?"),  # ...to their count
        ):
            sums = "SELECT SUM(good), SUM(scrap), SUM(reworked) FROM tallies WHERE cell = ?"
            row = self.execute(f"{sums} AND {sql}", args).fetchone()
            for i in range(3):
                total[i] += sign * int(row[i] or 0)
        return total[0], total[1], total[2]

    def first_time(self, cell: str) -> str | None:
        """The time of a cell's first event: it is in service from then on."""
        row = self.execute("SELECT MIN(time) FROM events WHERE cell = ?", (cell,)).fetchone()
        return None if row is None else row[0]

    def state_changes(self, cell: str, start: str, end: str) -> list[Event]:
        """A cell's `state_changed` events that say its state over [start, end): the last
        one before, those inside, and the first one at or after the end. Their payload is
        read in SQL down to `from` and `to`, all OEE needs: a busy month has tens of
        thousands, and decoding each payload in Python was half the site report's time."""
        columns = ", ".join(
            (*EVENT_COLUMNS.split(", ")[:-1], self.json_text("from"), self.json_text("to"))
        )
        base = f"SELECT {columns} FROM events WHERE cell = ? AND type = 'state_changed'"
        rows = [
            *self.execute(
                f"{base} AND time < ? ORDER BY time DESC, seq DESC LIMIT 1", (cell, start)
            ).fetchall(),
            *self.execute(f"{base} AND time >= ? AND time < ?", (cell, start, end)).fetchall(),
            *self.execute(
                f"{base} AND time >= ? ORDER BY time, seq LIMIT 1", (cell, end)
            ).fetchall(),
        ]
        return [
            Event(
                type=t, cell=c, payload={"from": f, "to": to}, operator=op, id=i, time=tm, seq=sq
            )  # fmt: skip
            for _ev, i, t, c, tm, op, sq, f, to in rows
        ]

    def report_runs(self, cell: str, start: str, end: str) -> list[tuple[str, str, str]]:
        """(run_id, first time, last time) of the runs a cell's events name in the period."""
        rows: list[tuple[str, str, str]] = self.execute(
            "SELECT run_id, MIN(time), MAX(time) FROM events WHERE cell = ? AND time >= ? "
            "AND time < ? AND run_id IS NOT NULL GROUP BY run_id",
            (cell, start, end),
        ).fetchall()
        return rows

    def count_between(self, cell: str, start: str, end: str) -> int:
        row = self.execute(
            "SELECT COUNT(*) FROM events WHERE cell = ? AND time >= ? AND time < ?",
            (cell, start, end),
        ).fetchone()
        return int(row[0])

    def downtime_between(self, cell: str, start: str, end: str) -> list[Event]:
        rows = self.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE cell = ? AND time >= ? AND time < ? "
            "AND type IN ('downtime_started', 'downtime_ended')",
            (cell, start, end),
        ).fetchall()
        return [_row_event(r) for r in rows]

    def last_downtime_before(self, cell: str, start: str) -> Event | None:
        """The cell's last downtime_started/ended before `start` (a downtime open then)."""
        row = self.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE cell = ? AND time < ? "
            "AND type IN ('downtime_started', 'downtime_ended') ORDER BY time DESC LIMIT 1",
            (cell, start),
        ).fetchone()
        return _row_event(row) if row else None
