"""Idempotency keys, kept in a small SQLite file beside the API's state.

A key belongs to the token that used it. The first request with a key reserves it with
the run id it will create (`pending`), publishes, then marks it `sent`; a retry with the
same body gets the same run back (re-published if the first attempt died before the
broker took it: the scheduler refuses a run id it holds, so that never makes two runs);
the same key with another body is refused."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    caller TEXT NOT NULL,
    key TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    run_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    created TEXT NOT NULL,
    response TEXT NOT NULL,
    PRIMARY KEY (caller, key)
);
CREATE TABLE IF NOT EXISTS notified (
    run_id TEXT NOT NULL,
    event TEXT NOT NULL,
    time TEXT NOT NULL,
    PRIMARY KEY (run_id, event)
);
"""


def body_hash(body: dict[str, Any]) -> str:
    """Of the validated body, so spacing and key order do not make another body."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Reservation:
    run_id: str
    state: str
    body_hash: str
    response: dict[str, Any]
    fresh: bool


class KeyConflict(Exception):
    """The key was used with a different body, or the run id belongs to another key."""


class IdempotencyStore:
    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        if str(p) != ":memory:":
            p.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(p), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")  # a key said `sent` must survive
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()

    def reserve(
        self, caller: str, key: str, digest: str, run_id: str, response: dict[str, Any],
        now: str,
    ) -> Reservation:  # fmt: skip
        """The key's reservation: new (fresh) or the one made before with this body."""
        with self._lock:
            row = self._conn.execute(
                "SELECT body_hash, run_id, state, response FROM idempotency "
                "WHERE caller = ? AND key = ?",
                (caller, key),
            ).fetchone()
            if row is not None:
                if row[0] != digest:
                    raise KeyConflict(
                        f"Idempotency-Key {key!r} was used for run {row[1]} with a different "
                        "body: use a new key for a new order"
                    )
                return Reservation(row[1], row[2], row[0], json.loads(row[3]), False)
            taken = self._conn.execute(
                "SELECT 1 FROM idempotency WHERE run_id = ?", (run_id,)
            ).fetchone()
            if taken:
                raise KeyConflict(f"run id {run_id!r} was created already under another key")
            self._conn.execute(
                "INSERT INTO idempotency VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                (caller, key, digest, run_id, now, json.dumps(response)),
            )
            return Reservation(run_id, "pending", digest, response, True)

    def mark_sent(self, caller: str, key: str) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE idempotency SET state = 'sent' WHERE caller = ? AND key = ?",
                (caller, key),
            )

    def forget_pending(self, caller: str, key: str) -> None:
        """The publish failed: the key is free again (nothing was sent)."""
        with self._lock:
            self._conn.execute(
                "DELETE FROM idempotency WHERE caller = ? AND key = ? AND state = 'pending'",
                (caller, key),
            )

    def runs(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT run_id, caller, state, created, response FROM idempotency ORDER BY created"
            ).fetchall()
        return [
            {"run_id": r, "caller": c, "state": s, "created": t, "request": json.loads(b)}
            for r, c, s, t, b in rows
        ]

    def created(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT caller, state, created, response FROM idempotency WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        if row is None:
            return None
        return {"caller": row[0], "state": row[1], "created": row[2],
                "request": json.loads(row[3])}  # fmt: skip

    def first_notice(self, run_id: str, event: str, now: str) -> bool:
        """True the first time a run's event is noticed (so it is sent once)."""
        with self._lock:
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO notified VALUES (?, ?, ?)", (run_id, event, now)
            )
            return cur.rowcount == 1

    def close(self) -> None:
        self._conn.close()
