"""Reading another station's store without writing to it (trace, reports).

Opened read-only through a URI, so a store that a running kiosk is writing is never
migrated, locked for writing or given a meta row by the reader.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cellctl.domain.events import Event
from cellctl.store.db import StoreError
from cellctl.store.station_store import _EVENT_COLS, _row_to_event


def read_events(
    path: str | Path, types: tuple[str, ...] = (), containing: str | None = None
) -> list[Event]:
    """The events of the store at `path` (only `types` when given; with `containing`, only
    those whose payload text contains it, a serial's trace), in sequence order."""
    p = Path(path)
    if not p.is_file():
        raise StoreError(f"{p}: no such store file")
    try:
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise StoreError(f"{p}: cannot open the store ({exc})") from None
    try:
        clauses, args = [], list(types)
        if types:
            clauses.append(f"type IN ({', '.join('?' * len(types))})")
        if containing is not None:
            clauses.append("instr(payload, ?) > 0")
            args.append(containing)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = conn.execute(
            f"SELECT {_EVENT_COLS} FROM events {where} ORDER BY seq", args
        ).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"{p}: not a station store ({exc})") from None
    finally:
        conn.close()
    return [_row_to_event(r) for r in rows]
