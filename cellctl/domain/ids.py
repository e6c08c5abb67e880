"""Sortable unique ids (UUIDv7, RFC 9562) for events and records."""

from __future__ import annotations

import os
import threading
import uuid

from cellctl.domain import clock

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id(now_ms: int | None = None) -> str:
    """Return a UUIDv7 string; ids made in one process sort in creation order.

    The 12-bit `rand_a` field is a counter within one millisecond (RFC 9562
    method 1), so two ids from the same millisecond still sort correctly.
    """
    global _last_ms, _counter
    with _lock:
        ms = int(clock.wall_time() * 1000) if now_ms is None else now_ms
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:
                ms += 1
                _counter = 0
        else:
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        _last_ms = ms
        counter = _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand_b
    return str(uuid.UUID(int=value))


def is_valid_id(text: object) -> bool:
    if not isinstance(text, str) or len(text) != 36:
        return False
    try:
        return uuid.UUID(text).version in (4, 7)
    except ValueError:
        return False
