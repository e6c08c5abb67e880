"""The historian's answers the API has just given, kept for a moment.

A shop's systems ask the same things over and over (an order page polls its run's status;
a support desk traces the same serial twice). Each question costs the historian and the
bus about 2 ms of CPU; on a small central box shared with the broker and the historian,
that and not the query is what bounds the API under many clients.

So an answer is kept for `ttl_s` (the site file's `[api] answer_cache_s`, 2 s by
default, 0 to keep nothing), and dropped at once when an event names what it is about:
the API hears every cell's event already (for its done/held notices), and an event
naming a run, batch or serial drops the answers tagged with it. Identical questions in
flight share one ask. An answer fetched while an event about it arrived is returned but
not kept. What is left is at most `ttl_s` old: an event the historian has stored but the
API has not yet heard, or a machine event inside a step's window (machine events name
no run).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cellctl.domain.event_keys import keys_of
from cellctl.domain.events import Event

Tag = tuple[str, str]
MAX_ENTRIES = 20_000
FLIGHT_MAX_S = 30.0


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Mark a failed question's error as seen: every asker already got it."""
    if not task.cancelled():
        task.exception()


def tags_of_trace(query: str, result: Any) -> set[Tag]:
    """What a trace answer is about: the query, and its serial, batch and runs."""
    out: set[Tag] = {("s", query), ("b", query)}
    if isinstance(result, dict):
        for kind, key in (("s", "serial"), ("b", "batch")):
            if isinstance(result.get(key), str):
                out.add((kind, result[key]))
        out.update(("r", r) for r in result.get("runs") or [] if isinstance(r, str))
        out.update(("s", u) for u in result.get("units") or [] if isinstance(u, str))
    return out


@dataclass
class _Entry:
    value: Any
    expires: float
    tags: frozenset[Tag]


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    shared: int = 0
    dropped: int = 0
    not_kept: int = 0


@dataclass
class AnswerCache:
    ttl_s: float = 2.0
    clock: Callable[[], float] = time.monotonic
    stats: CacheStats = field(default_factory=CacheStats)
    _entries: OrderedDict[tuple[str, str], _Entry] = field(default_factory=OrderedDict)
    _by_tag: dict[Tag, set[tuple[str, str]]] = field(default_factory=dict)
    _dropped_at: dict[Tag, float] = field(default_factory=dict)
    _flying: dict[tuple[str, str], asyncio.Future[Any]] = field(default_factory=dict)

    async def get(
        self,
        key: tuple[str, str],
        fetch: Callable[[], Awaitable[Any]],
        tags: Callable[[Any], Iterable[Tag]],
    ) -> Any:
        """The kept answer to `key`, or `fetch()`'s (kept, tagged with `tags(answer)`).
        A failed fetch is never kept: every asker gets its error."""
        if self.ttl_s <= 0:
            return await fetch()
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None and entry.expires > now:
            self.stats.hits += 1
            return entry.value
        flying = self._flying.get(key)
        if flying is None:
            self.stats.misses += 1
            # A task of its own: an asker that goes away (its client hung up) cancels
            # only its wait, never the question the others are waiting on too.
            flying = asyncio.ensure_future(self._fetch(key, fetch, tags, now))
            flying.add_done_callback(_retrieved)
            self._flying[key] = flying
        else:
            self.stats.shared += 1
        return await asyncio.shield(flying)

    async def _fetch(
        self,
        key: tuple[str, str],
        fetch: Callable[[], Awaitable[Any]],
        tags: Callable[[Any], Iterable[Tag]],
        started: float,
    ) -> Any:
        try:
            value = await fetch()
        finally:
            self._flying.pop(key, None)
        kept = frozenset(tags(value))
        if any(self._dropped_at.get(t, -1.0) >= started for t in kept):
            self.stats.not_kept += 1  # an event about it came while it was being fetched
        else:
            self._keep(key, value, kept)
        return value

    def _keep(self, key: tuple[str, str], value: Any, tags: frozenset[Tag]) -> None:
        self._forget(key)
        while len(self._entries) >= MAX_ENTRIES:
            self._forget(next(iter(self._entries)))
        self._entries[key] = _Entry(value, self.clock() + self.ttl_s, tags)
        for t in tags:
            self._by_tag.setdefault(t, set()).add(key)

    def _forget(self, key: tuple[str, str]) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for t in entry.tags:
            keys = self._by_tag.get(t)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[t]

    def event(self, e: Event) -> None:
        """Drop every answer the event is about."""
        if self.ttl_s <= 0:
            return
        now = self.clock()
        for t in keys_of(e.payload):
            self._dropped_at[t] = now
            for key in list(self._by_tag.get(t, ())):
                self._forget(key)
                self.stats.dropped += 1
        if len(self._dropped_at) > 4 * MAX_ENTRIES:
            # Only drops younger than the oldest question in flight matter, and a question
            # gives up after a few seconds: keep the last FLIGHT_MAX_S (at 500 events/s
            # and three tags each, about 45,000), so this runs once in tens of seconds.
            cutoff = now - FLIGHT_MAX_S
            self._dropped_at = {t: at for t, at in self._dropped_at.items() if at >= cutoff}
