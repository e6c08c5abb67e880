"""The historian's confirmation of what it stores per cell, on the bus.

Retained `cellctl/v1/{site}/historian/confirmed/{cell}` `{"v":1,"hwm":N,"id":"…"}`:
every event of the cell up to seq N is in the site historian, and its event at seq N has
that id. Published after stored batches, at
most once a second per cell; a cell records it and may prune those events once old.
"""

from __future__ import annotations

import time
from typing import Any

from cellctl.bus.codec import PAYLOAD_VERSION, PayloadError, decode, encode

MIN_INTERVAL_S = 1.0


def encode_confirmed(hwm: int, event_id: str | None = None) -> bytes:
    body: dict[str, object] = {"v": PAYLOAD_VERSION, "hwm": hwm}
    if event_id is not None:
        body["id"] = event_id
    return encode(body)


def decode_confirmed(payload: bytes) -> tuple[int, str | None]:
    """(hwm, the id of the historian's event at seq hwm, if given)."""
    body = decode(payload)
    hwm = body.get("hwm") if isinstance(body, dict) else None
    if isinstance(hwm, bool) or not isinstance(hwm, int) or hwm < 0:
        raise PayloadError(f"a confirmation needs a whole hwm >= 0, got {hwm!r}")
    event_id = body.get("id")
    if event_id is not None and not isinstance(event_id, str):
        raise PayloadError(f"a confirmation's id must be a string, got {event_id!r}")
    return hwm, event_id


def event_id_at(store: Any, cell: str, seq: int) -> str | None:
    """The id of the event the historian holds at (cell, seq): sent with the mark, so a
    cell whose store is not the one the historian heard (a replaced card starting again
    at seq 1) does not take another history's mark as its own."""
    row = store.execute("SELECT id FROM events WHERE cell = ? AND seq = ?", (cell, seq)).fetchone()
    return None if row is None else str(row[0])


class ConfirmationThrottle:
    """Which cells' marks to publish now: changed since last published, and not
    published within `min_interval_s` (a busy cell's mark moves with every batch)."""

    def __init__(self, min_interval_s: float = MIN_INTERVAL_S) -> None:
        self.min_interval_s = min_interval_s
        self._sent: dict[str, tuple[int, float]] = {}

    def due(self, marks: dict[str, tuple[int, int]], now: float | None = None) -> dict[str, int]:
        t = time.monotonic() if now is None else now
        out: dict[str, int] = {}
        for cell, (hwm, _max_seen) in marks.items():
            sent = self._sent.get(cell)
            if hwm <= 0 or (
                sent is not None and (sent[0] == hwm or t - sent[1] < self.min_interval_s)
            ):
                continue
            out[cell] = hwm
        return out

    def sent(self, cell: str, hwm: int, now: float | None = None) -> None:
        self._sent[cell] = (hwm, time.monotonic() if now is None else now)

    def forget(self) -> None:
        """After a reconnect: publish every mark again (retained, so idempotent)."""
        self._sent.clear()
