"""Opening a SQLite file the way every cellctl store needs it.

journal_mode=WAL with synchronous=FULL: each commit syncs the WAL file before
returning, so a transaction the caller saw committed survives a power cut (with
NORMAL, WAL stays consistent but may lose the last commits on power loss).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cellctl.store._sqlite_utils import sqlite_utils

SYNCHRONOUS = "FULL"


class StoreError(Exception):
    """The store cannot do what was asked; the message says why and what to do."""


def connect(path: str | Path, *, synchronous: str = SYNCHRONOUS) -> sqlite_utils.Database:
    p = Path(path)
    if str(p) != ":memory:":
        p.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a write
    # transaction takes the lock up front and never deadlocks on upgrade.
    conn = sqlite3.connect(
        str(p),
        isolation_level=None,
        check_same_thread=False,
        timeout=30,
        factory=LockedConnection,
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return sqlite_utils.Database(conn)


class LockedConnection(sqlite3.Connection):
    """A connection that carries the lock its transactions take (see `transaction`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tx_lock = threading.RLock()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    # A station's connection is shared with worker threads (labels print in one while
    # the broker link marks events sent): one transaction at a time per connection.
    with getattr(conn, "tx_lock", None) or contextlib.nullcontext():
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.OperationalError:
                # A failed COMMIT (disk full) leaves the transaction open: roll it back
                # so the connection is usable again and nothing half-written stays.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise


def describe_sqlite_error(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "full" in text.lower():
        return (
            "the station's disk is full: nothing was recorded. Free space on the disk "
            "(or ask a supervisor), then try again"
        )
    if "locked" in text.lower() or "busy" in text.lower():
        return "the station's store is busy: try again in a moment"
    return f"the station's store failed ({text})"
