"""A QA cell's batches, kept for the network's absence.

The serials of a batch are issued at the cells that cut and print it, on other machines:
the QA cell learns them from the site historian (`site/request/batch`). It asks when a
batch is offered to it (an assignment naming the batch) and when a traveller it does not
know is scanned, and keeps the answer in its own store, so a batch it was given can be
sampled and inspected with the broker or the historian gone. A lookup that truly needs
the historian and cannot reach it says so; asking again is automatic.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from cellctl.bus.site_request import SiteRefused, SiteRequestError
from cellctl.domain.events import utc_now_iso
from cellctl.station.qa_lot import BatchLot
from cellctl.store.db import transaction

log = logging.getLogger(__name__)

Ask = Callable[[str], Awaitable[Any]]


class BatchCache:
    """The `qa_batch_cache` table of a station store."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def get(self, batch: str) -> BatchLot | None:
        row = self.conn.execute(
            "SELECT batch, sku, run_id, serials FROM qa_batch_cache WHERE batch = ?", (batch,)
        ).fetchone()
        if row is None:
            return None
        return BatchLot(row[0], row[1], tuple(json.loads(row[3])), row[2])

    def put(self, lot: BatchLot) -> None:
        with transaction(self.conn):
            self.conn.execute(
                "INSERT OR REPLACE INTO qa_batch_cache (batch, sku, run_id, serials, fetched_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (lot.batch, lot.sku, lot.run_id, json.dumps(list(lot.serials)), utc_now_iso()),
            )

    def batches(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT batch FROM qa_batch_cache ORDER BY batch")]


def lot_of(answer: Any) -> BatchLot:
    """A `batch` answer of the historian as a lot; ValueError when it is not one."""
    if not isinstance(answer, dict):
        raise ValueError("the historian's batch answer is not an object")
    serials = answer.get("serials")
    batch, sku = answer.get("batch"), answer.get("sku")
    if not isinstance(batch, str) or not isinstance(serials, list) or not serials:
        raise ValueError("the historian's batch answer names no serials")
    if not all(isinstance(s, str) for s in serials):
        raise ValueError("the historian's batch answer holds a serial that is not a text")
    run_id = answer.get("run_id")
    return BatchLot(batch, sku if isinstance(sku, str) else "", tuple(serials),
                    run_id if isinstance(run_id, str) else None)  # fmt: skip


class BatchLookup:
    """The QA flow's batch provider: the cache first, then this cell's own store; a batch
    found in neither is asked of the historian in the background (`fetch`), and the
    flow's refusal says so until the answer is here."""

    def __init__(
        self,
        cache: BatchCache,
        own_store: Callable[[str], BatchLot | None],
        ask: Ask,
        *,
        on_fetched: Callable[[BatchLot], None] | None = None,
    ) -> None:
        self.cache = cache
        self.own_store = own_store
        self.ask = ask
        self.on_fetched = on_fetched
        self.wanted: set[str] = set()  # asked, or to ask when the historian is back
        self.last_error: dict[str, str] = {}

    def __call__(self, batch: str) -> BatchLot | None:
        lot = self.cache.get(batch) or self.own_store(batch)
        if lot is None:
            self.wanted.add(batch)
        return lot

    def why_missing(self, batch: str) -> str:
        """What to tell the inspector about a batch this cell does not know yet."""
        error = self.last_error.get(batch)
        if error is None:
            return f"batch {batch}: asking the site historian for its serials; scan it again"
        return f"batch {batch} is not known here and {error}; it is asked again automatically"

    def offer(self, batch: str) -> None:
        """A batch this cell was given (an assignment): fetch it unless already here."""
        if self.cache.get(batch) is None:
            self.wanted.add(batch)

    async def fetch(self, batch: str) -> BatchLot | None:
        """Ask the historian for one batch and keep the answer; None when it could not."""
        try:
            lot = lot_of(await self.ask(batch))
        except SiteRefused as exc:
            # Its serials may not have reached the historian yet: asked again later.
            self.last_error[batch] = f"the site historian says: {exc}"
            return None
        except (SiteRequestError, ValueError) as exc:
            self.last_error[batch] = str(exc)
            return None
        self.cache.put(lot)
        self.wanted.discard(batch)
        self.last_error.pop(batch, None)
        log.info("QA: batch %s cached (%d serials)", batch, len(lot.serials))
        if self.on_fetched is not None:
            self.on_fetched(lot)
        return lot

    async def fetch_wanted(self) -> int:
        """Ask for every batch still wanted; how many arrived."""
        got = 0
        for batch in sorted(self.wanted):
            if await self.fetch(batch) is not None:
                got += 1
        return got
