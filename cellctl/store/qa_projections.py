"""Read tables a restarting QA cell resumes from, instead of replaying its log: the
switching state of every key (kept for both ways of keying, per SKU and per cell), the
lot that is open (the latest sample drawn and not yet judged or abandoned) with what
was found so far, and the last verdict.

Each handler mirrors, for one event, what `QAFlow` did when it replayed the whole log,
so a rebuild gives the same rows and `store check` can verify them.
"""

from __future__ import annotations

import json
import sqlite3

from cellctl.domain.events import Event
from cellctl.domain.switching import (
    KeyBy,
    SwitchingBook,
    SwitchingError,
    SwitchingState,
    replay_one,
)

KEY_BYS: tuple[KeyBy, ...] = ("sku", "cell")
# What replaying the switching history can raise; the first one stops that history.
REPLAY_ERRORS = (SwitchingError, KeyError, TypeError, ValueError)


def load_book(conn: sqlite3.Connection, key_by: KeyBy) -> tuple[SwitchingBook, str | None]:
    """The switching book as a replay of the log gives it, or the error that stopped it."""
    row = conn.execute(
        "SELECT message FROM qa_switching_error WHERE key_by = ?", (key_by,)
    ).fetchone()
    if row:
        return SwitchingBook(key_by), row[0]
    book = SwitchingBook(key_by)
    for key, state in conn.execute(
        "SELECT key, state FROM qa_switching WHERE key_by = ? ORDER BY key", (key_by,)
    ):
        book.states[key] = SwitchingState.from_dict(json.loads(state))
    return book, None


def switching(conn: sqlite3.Connection, e: Event) -> None:
    for key_by in KEY_BYS:
        book, error = load_book(conn, key_by)
        if error is not None:
            continue
        try:
            key = replay_one(book, e)
        except REPLAY_ERRORS as exc:
            conn.execute(
                "INSERT INTO qa_switching_error (key_by, message) VALUES (?, ?)",
                (key_by, str(exc)),
            )
            continue
        if key is not None:
            conn.execute(
                "INSERT INTO qa_switching (key_by, key, state) VALUES (?, ?, ?) "
                "ON CONFLICT(key_by, key) DO UPDATE SET state = excluded.state",
                (key_by, key, json.dumps(book.state(key).to_dict(), sort_keys=True)),
            )


def open_lot(conn: sqlite3.Connection, e: Event) -> None:
    batch = e.payload.get("batch")
    if e.type == "sample_drawn":
        conn.execute(
            "INSERT INTO qa_open_lot (batch, seq, payload) VALUES (?, ?, ?) "
            "ON CONFLICT(batch) DO UPDATE SET seq = excluded.seq, payload = excluded.payload",
            (batch, e.seq, json.dumps(e.payload, sort_keys=True)),
        )
        conn.execute("DELETE FROM qa_open_results WHERE batch = ?", (batch,))
    elif e.type == "inspection_recorded":
        if conn.execute("SELECT 1 FROM qa_open_lot WHERE batch = ?", (batch,)).fetchone():
            conn.execute(
                "INSERT INTO qa_open_results (batch, serial, nonconformities) VALUES (?, ?, ?) "
                "ON CONFLICT(batch, serial) DO UPDATE SET "
                "nonconformities = excluded.nonconformities",
                (batch, e.payload["serial"], int(e.payload.get("nonconformities", 0))),
            )
    elif e.type in ("lot_judged", "sample_abandoned"):
        conn.execute("DELETE FROM qa_open_lot WHERE batch = ?", (batch,))
        conn.execute("DELETE FROM qa_open_results WHERE batch = ?", (batch,))
        if e.type == "lot_judged":
            conn.execute(
                "INSERT INTO qa_last_verdict (cell, payload) VALUES (?, ?) "
                "ON CONFLICT(cell) DO UPDATE SET payload = excluded.payload",
                (e.cell, json.dumps(e.payload, sort_keys=True)),
            )


QA_TYPES = (
    "lot_judged",
    "inspection_resumed",
    "inspection_switched",
    "sample_drawn",
    "sample_abandoned",
    "inspection_recorded",
)


def apply(conn: sqlite3.Connection, e: Event) -> None:
    if e.type in ("lot_judged", "inspection_resumed", "inspection_switched"):
        switching(conn, e)
    if e.type in ("sample_drawn", "inspection_recorded", "lot_judged", "sample_abandoned"):
        open_lot(conn, e)
