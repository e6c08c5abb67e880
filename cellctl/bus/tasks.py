"""Stopping a task for sure.

On Python 3.11, asyncio.wait_for (used inside aiomqtt's publish) can swallow a
cancellation that races with the awaited result, leaving a task running after
cancel(). Stopping therefore cancels again until the task is really done.
"""

from __future__ import annotations

import asyncio


async def cancel_and_wait(task: asyncio.Task[object] | None, patience_s: float = 10.0) -> None:
    if task is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience_s
    while not task.done() and loop.time() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=0.2)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved
