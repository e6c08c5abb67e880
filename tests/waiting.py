"""Waiting on a condition in a test: the one helper every test uses where no event exists
to await (a count in another process's store, a retained message, a screen redraw)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_until(
    cond: Callable[[], object],
    timeout: float = 15.0,
    what: str | Callable[[], str] = "",
) -> None:
    """Poll `cond` until it is true; after `timeout` seconds fail saying `what` (a text,
    or a function giving one at the moment of failure)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {said or cond}")
        await asyncio.sleep(0.02)


def holds_within(cond: Callable[[], object], timeout: float = 5.0) -> bool:
    """The same from a plain thread (no event loop): True once `cond` holds, False when
    `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
