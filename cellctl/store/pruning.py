"""Bounded station stores: drop the events the site historian holds, once they are old.

The historian publishes, per cell, the contiguous high-water mark of what it has stored
(retained `historian/confirmed/{cell}`); the cell link records it here (`meta` row
`confirmed_seq`). Pruning deletes a prefix of the log, seq 1..P, where every event is
  - confirmed by the historian (seq <= confirmed_seq),
  - older than the site's retention (`[history] retention_days`),
  - not waiting in the outbox (not yet acknowledged by the broker),
  - before what a restart still points at (the open step's acceptance, the QA cell's
    open lot, an open downtime), although the controller restores from the read tables,
and P is below the last seq, so the next event's seq (MAX(seq) + 1) never goes back.

The read tables are derived from the whole log, so a rebuild or a `store check` after
pruning starts from a checkpoint: `pruned_{table}` holds each read table as of seq P
(the previous checkpoint plus a replay of the events being pruned, computed in the
same transaction that deletes them). What was pruned is kept in the `meta` row
`pruned` (JSON: through_seq, through_time, events, runs, last run).

Pruning runs on a connection of its own and in chunks, so a station that appends while
a first prune works through a long history waits at most one chunk.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cellctl.domain import clock
from cellctl.domain.events import Event
from cellctl.store import projections
from cellctl.store.db import connect, transaction
from cellctl.store.schema import READ_TABLES

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 30
CHUNK = 20_000
_EVENT_COLS = "seq, id, type, cell, time, operator, schema, payload"


@dataclass(frozen=True, slots=True)
class PruneRecord:
    """What has been pruned from a store, over all runs."""

    through_seq: int = 0
    through_time: str | None = None
    events: int = 0
    runs: int = 0
    last_run_at: str | None = None
    last_run_events: int = 0


@dataclass(frozen=True, slots=True)
class PruneResult:
    pruned: int
    through_seq: int
    through_time: str | None
    limited_by: str  # what stopped pruning further: confirmed, retention, outbox, ...


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def confirmed_seq(conn: sqlite3.Connection) -> int:
    """The highest seq the historian has confirmed holding (every seq up to it)."""
    value = _meta(conn, "confirmed_seq")
    return int(value) if value else 0


def record_confirmed(conn: sqlite3.Connection, hwm: int, event_id: str | None = None) -> int:
    """Keep the historian's confirmation; return the confirmed seq now kept.

    Never goes back (a historian restored from an older backup confirms less: what it
    confirmed before may already be pruned). Taken only if this store's event at seq
    `hwm` is the one the historian holds there (`event_id`): a replaced card whose fresh
    store starts again at seq 1 hears the retained mark of the old history, and must not
    take it for its own (the historian kept its events out as seq conflicts). Without an
    id, never past this store's last seq.
    """
    cell = _meta(conn, "cell")
    with transaction(conn):
        before = confirmed_seq(conn)
        if hwm <= before:
            return before
        if event_id is not None:
            row = conn.execute("SELECT id FROM events WHERE seq = ?", (hwm,)).fetchone()
            if row is None or row[0] != event_id:
                log.warning(
                    "%s: the historian confirms seq %d as event %s, but this store %s: "
                    "not taken (is this store another history under the same cell id?)",
                    cell,
                    hwm,
                    event_id,
                    "has no such seq" if row is None else f"holds event {row[0]} there",
                )
                return before
            kept = hwm
        else:
            last = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
            kept = max(before, min(hwm, last))
        if kept != before:
            _set_meta(conn, "confirmed_seq", str(kept))
    return kept


def pruned(conn: sqlite3.Connection) -> PruneRecord:
    value = _meta(conn, "pruned")
    return PruneRecord(**json.loads(value)) if value else PruneRecord()


def _keep_from(conn: sqlite3.Connection) -> int | None:
    """The lowest seq a restart still points at, if any."""
    seqs = [
        conn.execute("SELECT MIN(seq) FROM open_step").fetchone()[0],
        conn.execute("SELECT MIN(seq) FROM qa_open_lot").fetchone()[0],
        conn.execute(
            "SELECT MIN(e.seq) FROM downtime d JOIN events e ON e.id = d.event_id "
            "WHERE d.ended IS NULL"
        ).fetchone()[0],
    ]
    found = [s for s in seqs if s is not None]
    return min(found) if found else None


def prune_limit(conn: sqlite3.Connection, cutoff: str) -> tuple[int, str]:
    """The highest seq P such that every event up to P may go, and what limits it."""
    last = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
    limits: list[tuple[int, str]] = [
        (confirmed_seq(conn), "the confirmation"),
        (last - 1, "the last event"),
    ]
    # Events come in seq order, so this stops at the first one inside the retention.
    young = conn.execute(
        "SELECT seq FROM events WHERE time >= ? ORDER BY seq LIMIT 1", (cutoff,)
    ).fetchone()
    if young is not None:
        limits.append((young[0] - 1, "the retention"))
    outbox = conn.execute("SELECT MIN(seq) FROM outbox").fetchone()[0]
    if outbox is not None:
        limits.append((outbox - 1, "the outbox"))
    keep = _keep_from(conn)
    if keep is not None:
        limits.append((keep - 1, "the open step"))
    return min(limits)


def _row_event(row: tuple[Any, ...]) -> Event:
    seq, eid, etype, cell, etime, operator, schema, payload = row
    return Event(etype, cell, json.loads(payload), operator, eid, etime, seq, schema)


def _ensure_checkpoint(conn: sqlite3.Connection) -> None:
    for t in READ_TABLES:
        conn.execute(f"CREATE TABLE IF NOT EXISTS pruned_{t} AS SELECT * FROM {t} WHERE 0")  # noqa: S608


def has_checkpoint(conn: sqlite3.Connection) -> bool:
    return pruned(conn).through_seq > 0


def restore_checkpoint(conn: sqlite3.Connection) -> None:
    """Fill the (emptied) read tables with the state as of the last pruned seq, so a
    replay of the remaining log gives the current state. No-op if nothing was pruned."""
    if not has_checkpoint(conn):
        return
    for t in READ_TABLES:
        conn.execute(f"INSERT INTO main.{t} SELECT * FROM pruned_{t}")  # noqa: S608


def _advance_checkpoint(conn: sqlite3.Connection, through: int) -> None:
    """pruned_* := the read tables as of `through` (checkpoint + events up to it).

    Computed in the read tables themselves (the projections write there), with their
    current rows set aside in temporary tables and put back afterwards.
    """
    _ensure_checkpoint(conn)
    for t in READ_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS temp.now_{t}")  # noqa: S608
        conn.execute(f"CREATE TEMP TABLE now_{t} AS SELECT * FROM main.{t}")  # noqa: S608
        conn.execute(f"DELETE FROM main.{t}")  # noqa: S608
    restore_checkpoint(conn)
    for row in conn.execute(
        f"SELECT {_EVENT_COLS} FROM events WHERE seq <= ? ORDER BY seq",  # noqa: S608
        (through,),
    ):
        projections.apply(conn, _row_event(row))
    for t in READ_TABLES:
        conn.execute(f"DELETE FROM pruned_{t}")  # noqa: S608
        conn.execute(f"INSERT INTO pruned_{t} SELECT * FROM main.{t}")  # noqa: S608
        conn.execute(f"DELETE FROM main.{t}")  # noqa: S608
        conn.execute(f"INSERT INTO main.{t} SELECT * FROM temp.now_{t}")  # noqa: S608
        conn.execute(f"DROP TABLE temp.now_{t}")  # noqa: S608


def prune(
    conn: sqlite3.Connection,
    *,
    retention_days: float = DEFAULT_RETENTION_DAYS,
    now: datetime | None = None,
    chunk: int = CHUNK,
    vacuum: bool = False,
) -> PruneResult:
    """Prune what may go (see the module's docstring); return what was pruned."""
    moment = now or datetime.fromtimestamp(clock.wall_time(), UTC)
    cutoff = iso(moment - timedelta(days=retention_days))
    total = 0
    while True:
        with transaction(conn):
            limit, why = prune_limit(conn, cutoff)
            first = conn.execute("SELECT MIN(seq) FROM events").fetchone()[0]
            if first is None or limit < first:
                break
            through = min(limit, first + chunk - 1)
            if through < limit:
                why = "chunk"
            _advance_checkpoint(conn, through)
            through_time = conn.execute(
                "SELECT time FROM events WHERE seq = ?", (through,)
            ).fetchone()[0]
            n = conn.execute("DELETE FROM events WHERE seq <= ?", (through,)).rowcount
            total += n
            rec = pruned(conn)
            _set_meta(
                conn,
                "pruned",
                json.dumps(
                    asdict(
                        PruneRecord(
                            through_seq=through,
                            through_time=through_time,
                            events=rec.events + n,
                            runs=rec.runs + (1 if total == n else 0),
                            last_run_at=iso(moment),
                            last_run_events=total,
                        )
                    )
                ),
            )
        if why != "chunk":
            break
    rec = pruned(conn)
    if total:
        log.info(
            "%s: pruned %d events (through seq %d, %s)",
            conn.execute("SELECT value FROM meta WHERE key = 'cell'").fetchone()[0],
            total,
            rec.through_seq,
            rec.through_time,
        )
        if vacuum:
            vacuum_store(conn)
        elif conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
            conn.execute("PRAGMA incremental_vacuum")
    limit, why = prune_limit(conn, cutoff)
    return PruneResult(total, rec.through_seq, rec.through_time, why)


def vacuum_store(conn: sqlite3.Connection) -> None:
    """Give the freed pages back to the file system (rewrites the file: not while the
    station appends)."""
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def prune_file(path: str | Path, *, retention_days: float = DEFAULT_RETENTION_DAYS) -> PruneResult:
    """Prune a store file on a connection of its own (the station keeps appending on
    its own connection; WAL lets both work)."""
    db = connect(path)
    try:
        return prune(db.conn, retention_days=retention_days)
    finally:
        db.conn.close()


def describe_resend(conn: sqlite3.Connection, first: int, last: int) -> str | None:
    """Why a re-send of first..last cannot be served in full, if it cannot."""
    rec = pruned(conn)
    if first > rec.through_seq:
        return None
    return (
        f"seq {first}..{min(last, rec.through_seq)} was pruned from this store "
        f"(through seq {rec.through_seq}, {rec.through_time}) after the historian "
        f"confirmed holding it (confirmed seq {confirmed_seq(conn)}): it cannot be sent "
        "again; the historian has it, so the asker should read it from there"
    )


def summary(conn: sqlite3.Connection, path: Path | None = None) -> dict[str, Any]:
    """What `cellctl store info` shows."""
    rec = pruned(conn)
    count, first, oldest = conn.execute(
        "SELECT COUNT(*), MIN(seq), (SELECT time FROM events ORDER BY seq LIMIT 1) FROM events"
    ).fetchone()
    size = None
    if path is not None and path.exists():
        size = sum(
            p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
        )
    return {
        "size_bytes": size,
        "events": count,
        "first_seq": first,
        "oldest_event_time": oldest,
        "last_seq": conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0],
        "confirmed_seq": confirmed_seq(conn),
        "outbox": conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0],
        "pruned": asdict(rec),
    }
