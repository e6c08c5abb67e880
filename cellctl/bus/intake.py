"""Consuming every cell's events exactly once: what the scheduler and the site historian share.

Each event carries its cell's sequence number. The consumer's store keeps every event id
(a duplicate is dropped there) and, per cell, the contiguous high-water mark and the
highest seq seen. What is shared here is the rest: noticing what is missing (a seq not
seen below one that was, or below the last seq a cell's status reports once its outbox
is empty), asking the cell to send it again after a grace period at a growing interval,
and reading the broker's messages in batches so one transaction stores many.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import aiomqtt

from cellctl.bus.codec import PAYLOAD_VERSION, encode

log = logging.getLogger(__name__)

# The longest wait between two requests to re-send the same missing events.
GAP_ASK_MAX_S = 5.0
# Messages taken from the client's queue for one store transaction at most.
BATCH_MAX = 2000


@dataclass
class GapWatch:
    first_noticed: float
    last_request: float = 0.0
    requests: int = 0


class CellSeqView(Protocol):
    """What a cell's last status said of its sequence (the scheduler's CellView has it)."""

    online: bool
    last_seq: int
    backlog: int


class GapTracker:
    """Per-cell gaps in what a consumer stored, and when to ask a cell to re-send."""

    def __init__(self, who: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.who = who
        self.clock = clock
        self.gaps: dict[str, GapWatch] = {}
        self.flagged: set[str] = set()

    def cell_back(self, cell: str) -> None:
        """A cell (or the consumer's link) is back: requests made meanwhile reached nobody,
        so ask again promptly, not after their back-off."""
        self.gaps.pop(cell, None)

    def due(
        self,
        marks: Mapping[str, tuple[int, int]],
        cells: Mapping[str, CellSeqView],
        grace_s: float,
    ) -> dict[str, tuple[int, int]]:
        """Cells whose events are missing, and the range to ask again (after `grace_s`).

        `marks` is the store's cell -> (contiguous high-water mark, highest seq seen)."""
        now = self.clock()
        requests: dict[str, tuple[int, int]] = {}
        for cell in set(marks) | set(cells):
            hwm, max_seen = marks.get(cell, (0, 0))
            view = cells.get(cell)
            target = max_seen
            if view is not None and view.online and view.backlog == 0:
                target = max(target, view.last_seq)
            if target <= hwm:
                self.gaps.pop(cell, None)
                self.flagged.discard(cell)
                continue
            watch = self.gaps.setdefault(cell, GapWatch(now))
            if now - watch.first_noticed < grace_s:
                continue
            # Ask again at a growing interval, but at least every GAP_ASK_MAX_S: a
            # request can reach a cell still reconnecting after a broker restart,
            # and a long back-off then leaves the gap open for a minute.
            every = max(grace_s, min(GAP_ASK_MAX_S, 2.0 * watch.requests))
            if now - watch.last_request >= every:
                watch.last_request = now
                watch.requests += 1
                if watch.requests > 5 and cell not in self.flagged:
                    self.flagged.add(cell)
                    log.error("%s: %s still misses seq %d..%d", self.who, cell, hwm + 1, target)
                requests[cell] = (hwm + 1, target)
        return requests


def resend_request(first: int, last: int) -> bytes:
    """The body of a `cells/{cell}/resend` request for seq first..last."""
    return encode({"v": PAYLOAD_VERSION, "from_seq": first, "to_seq": last})


async def message_batches(
    client: aiomqtt.Client, limit: int = BATCH_MAX
) -> AsyncIterator[list[aiomqtt.Message]]:
    """The client's messages, as many as are already queued (up to `limit`) at a time."""
    messages = client.messages
    it = aiter(messages)
    while True:
        batch = [await anext(it)]
        while len(messages) > 0 and len(batch) < limit:
            batch.append(await anext(it))
        yield batch
