"""The API's answer cache: kept for a moment, dropped by an event about it, shared in
flight, never keeping a failure or an answer an event overtook."""

from __future__ import annotations

import asyncio

import pytest

from cellctl.api.answer_cache import AnswerCache, tags_of_trace
from cellctl.domain.event_keys import keys_of
from cellctl.domain.events import Event


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _ev(**payload: object) -> Event:
    return Event("units_counted", "cut-01", dict(payload), "OP-ADA", seq=1)


def _counter(results: list[object]):  # noqa: ANN202
    calls = []

    async def fetch() -> object:
        calls.append(1)
        return results[len(calls) - 1]

    return fetch, calls


async def test_kept_until_the_ttl_then_asked_again() -> None:
    clock = Clock()
    cache = AnswerCache(2.0, clock)
    fetch, calls = _counter(["a", "b"])
    assert await cache.get(("run_status", "R1"), fetch, lambda _: {("r", "R1")}) == "a"
    clock.now += 1.9
    assert await cache.get(("run_status", "R1"), fetch, lambda _: {("r", "R1")}) == "a"
    clock.now += 0.2
    assert await cache.get(("run_status", "R1"), fetch, lambda _: {("r", "R1")}) == "b"
    assert len(calls) == 2 and cache.stats.hits == 1 and cache.stats.misses == 2


async def test_an_event_naming_it_drops_it_at_once() -> None:
    cache = AnswerCache(60.0, Clock())
    fetch, calls = _counter([{"runs": ["R1"]}, {"runs": ["R1"], "n": 2}, "x"])
    tags = lambda v: tags_of_trace("SER-1", v)  # noqa: E731
    await cache.get(("trace", "SER-1"), fetch, tags)
    cache.event(_ev(run_id="R2", good=1))  # another run: kept
    assert await cache.get(("trace", "SER-1"), fetch, tags) == {"runs": ["R1"]}
    cache.event(_ev(run_id="R1", good=1))
    assert await cache.get(("trace", "SER-1"), fetch, tags) == {"runs": ["R1"], "n": 2}
    assert len(calls) == 2 and cache.stats.dropped == 1


async def test_an_answer_overtaken_by_an_event_is_not_kept() -> None:
    cache = AnswerCache(60.0, Clock())
    gate = asyncio.Event()
    calls = []

    async def slow() -> str:
        calls.append(1)
        await gate.wait()
        return f"answer {len(calls)}"

    first = asyncio.create_task(cache.get(("run_status", "R1"), slow, lambda _: {("r", "R1")}))
    await asyncio.sleep(0)
    cache.event(_ev(run_id="R1"))  # heard while the historian was answering
    gate.set()
    assert await first == "answer 1"
    assert cache.stats.not_kept == 1
    assert await cache.get(("run_status", "R1"), slow, lambda _: {("r", "R1")}) == "answer 2"


async def test_the_same_question_in_flight_is_asked_once() -> None:
    cache = AnswerCache(2.0, Clock())
    gate = asyncio.Event()
    calls = []

    async def slow() -> str:
        calls.append(1)
        await gate.wait()
        return "one"

    tasks = [asyncio.create_task(cache.get(("batch", "B1"), slow, lambda _: {("b", "B1")}))
             for _ in range(20)]  # fmt: skip
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*tasks) == ["one"] * 20
    assert len(calls) == 1 and cache.stats.shared == 19


async def test_a_failure_is_never_kept_and_reaches_every_asker() -> None:
    cache = AnswerCache(2.0, Clock())
    gate = asyncio.Event()
    calls = []

    async def failing() -> str:
        calls.append(1)
        await gate.wait()
        raise LookupError("unknown run")

    tasks = [asyncio.create_task(cache.get(("run_status", "R9"), failing, lambda _: set()))
             for _ in range(3)]  # fmt: skip
    await asyncio.sleep(0)
    gate.set()
    for t in tasks:
        with pytest.raises(LookupError, match="unknown run"):
            await t
    with pytest.raises(LookupError):
        await cache.get(("run_status", "R9"), failing, lambda _: set())
    assert len(calls) == 2


async def test_a_ttl_of_zero_keeps_nothing() -> None:
    cache = AnswerCache(0.0, Clock())
    fetch, calls = _counter(["a", "b"])
    assert await cache.get(("batch", "B1"), fetch, lambda _: set()) == "a"
    assert await cache.get(("batch", "B1"), fetch, lambda _: set()) == "b"


def test_the_tags_of_an_event() -> None:
    e = Event("sample_drawn", "qa-01", {"batch": "B1", "serials": ["S1", "S2"], "run_id": "R1",
              "assignment": {"run_id": "R0", "batch": "B0"}}, "OP-Q", seq=3)  # fmt: skip
    assert keys_of(e.payload) == {("b", "B1"), ("s", "S1"), ("s", "S2"), ("r", "R1"),
                                ("r", "R0"), ("b", "B0")}  # fmt: skip


async def test_an_asker_that_goes_away_does_not_cancel_the_others_question() -> None:
    cache = AnswerCache(2.0, Clock())
    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "kept"

    first = asyncio.create_task(cache.get(("batch", "B1"), slow, lambda _: {("b", "B1")}))
    second = asyncio.create_task(cache.get(("batch", "B1"), slow, lambda _: {("b", "B1")}))
    await asyncio.sleep(0)
    first.cancel()  # its HTTP client hung up
    gate.set()
    assert await second == "kept"
    assert first.cancelled()
    assert await cache.get(("batch", "B1"), slow, lambda _: set()) == "kept"
    assert cache.stats.hits == 1


def test_the_record_of_drops_stays_bounded_under_a_stream_of_events() -> None:
    from cellctl.api import answer_cache

    clock = Clock()
    cache = AnswerCache(2.0, clock)
    for i in range(4 * answer_cache.MAX_ENTRIES + 10):
        clock.now += 0.001  # 1,000 events a second, each naming a new run
        cache.event(_ev(run_id=f"R{i}"))
    assert len(cache._dropped_at) <= 4 * answer_cache.MAX_ENTRIES
    assert len(cache._dropped_at) >= answer_cache.FLIGHT_MAX_S * 1000 * 0.9
