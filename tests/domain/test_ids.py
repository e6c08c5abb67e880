"""UUIDv7 ids: unique, and in creation order within one process, even when the
wall clock is stepped backwards (NTP, a dead RTC battery, a hand correction)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from cellctl.domain import clock
from cellctl.domain.ids import is_valid_id, new_id


@pytest.fixture
def restore_clock() -> Iterator[None]:
    before = clock.offset_s()
    try:
        yield
    finally:
        clock.step(before - clock.offset_s())


def ms_of(text: str) -> int:
    return uuid.UUID(text).int >> 80


def test_ids_are_version_7_unique_and_sort_in_creation_order() -> None:
    start_ms = int(clock.wall_time() * 1000)
    ids = [new_id() for _ in range(20_000)]  # many share a millisecond
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == ids
    assert all(uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)
    assert all(is_valid_id(i) for i in ids[:100])
    assert ms_of(ids[0]) >= start_ms  # the time field is the wall clock in milliseconds


def test_ids_keep_their_order_after_the_clock_steps_back_an_hour(restore_clock: None) -> None:
    before = [new_id() for _ in range(100)]
    clock.step(-3600)
    assert clock.wall_time() < time.time() - 3500
    after = [new_id() for _ in range(10_000)]  # past 4096 in one millisecond: the counter rolls
    ids = before + after
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == ids
    # The time field never goes back with the clock: the ids keep counting from the last one.
    assert min(ms_of(i) for i in after) >= ms_of(before[-1])
    clock.step(3600)
    later = [new_id() for _ in range(100)]
    assert sorted(ids + later) == ids + later
    assert len(set(ids + later)) == len(ids) + len(later)


def test_an_explicit_earlier_time_does_not_break_the_order() -> None:
    first = new_id()
    older = new_id(now_ms=ms_of(first) - 60_000)
    assert older > first


def test_ids_from_many_threads_are_unique_and_ordered_per_thread() -> None:
    per_thread: list[list[str]] = [[] for _ in range(4)]

    def make(out: list[str]) -> None:
        for _ in range(3_000):
            out.append(new_id())

    threads = [threading.Thread(target=make, args=(out,)) for out in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for out in per_thread for i in out]
    assert len(set(every)) == len(every)
    for out in per_thread:
        assert sorted(out) == out
