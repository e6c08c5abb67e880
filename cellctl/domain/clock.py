"""The wall clock that stamps events and ids.

Wall time is read in this one place so that a cell whose clock was stepped (NTP
catching up, a dead RTC battery at boot, someone fixing the time by hand) can be
reproduced inside one process: the chaos suite steps this clock on one cell
while the others keep true time. Monotonic time is left alone, as it is when a
real clock is stepped.
"""

from __future__ import annotations

import time

_offset_s = 0.0


def wall_time() -> float:
    """Seconds since the epoch, as this cell's clock tells it."""
    return time.time() + _offset_s


def step(seconds: float) -> None:
    """Step this process's wall clock by `seconds` (negative: backwards)."""
    global _offset_s
    _offset_s += seconds


def offset_s() -> float:
    return _offset_s
