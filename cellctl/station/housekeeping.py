"""Keeping a station's store bounded while it runs: prune at start, then daily."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from cellctl.store.pruning import prune_file

log = logging.getLogger(__name__)

DAY_S = 24 * 3600.0


async def prune_daily(path: Path, retention_days: float, *, every_s: float = DAY_S) -> None:
    """Prune now and every `every_s`; a failure is logged and tried again next time (a
    store that cannot be pruned only grows, the station keeps working)."""
    if str(path) == ":memory:":
        return
    while True:
        try:
            # A connection of its own in a worker thread: the kiosk's loop stays free.
            result = await asyncio.to_thread(prune_file, path, retention_days=retention_days)
            if result.pruned:
                log.info(
                    "store %s: pruned %d confirmed events older than %g days (through seq %d)",
                    path,
                    result.pruned,
                    retention_days,
                    result.through_seq,
                )
        except Exception:
            log.exception("store %s: pruning failed; will try again", path)
        await asyncio.sleep(every_s)
