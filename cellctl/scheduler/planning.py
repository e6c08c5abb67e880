"""The whole-shop planner in a process of its own, so that a decision never holds up
the intake.

A decision searches for up to SERVICE_MAX_S of pure Python. On the event loop
that froze the consumer for as long (bench.bus: p95 publish-to-applied of seconds
at 500 events/s); in a thread it would still share the GIL with the loop. Here the
service hands a snapshot of the shop (plain dataclasses) and the Planner itself
(its last plan, so that the search continues from it) to one worker process, and
takes both back. The event loop only awaits the answer, applying events meanwhile.

The worker starts on the first decision (a scheduler that never plans never
starts one) and again after it died; while it cannot answer, the ATC index decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from cellctl.domain.dispatch import Candidate, Job
from cellctl.domain.plan import Advice, Planner

log = logging.getLogger(__name__)


@dataclass
class PlanStats:
    """How often the service planned: what bench.bus and the status report."""

    decisions: int = 0  # plans made (each decision continues or renews the plan)
    fresh: int = 0  # of which planned afresh (at start, or much of the shop new)
    failures: int = 0  # the worker failed or died; the index decided
    busy_s: float = 0.0  # wall time the worker spent planning


def _die_with_parent(parent: int) -> None:
    """In the worker: end when the service ends, even by SIGKILL (Linux's
    PR_SET_PDEATHSIG; elsewhere the worker ends when it next reads its closed pipe)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    if os.getppid() != parent:  # the service died before the line above
        os._exit(0)


def _advise(
    planner: Planner,
    cell: str,
    allowed: Sequence[Candidate],
    jobs: Sequence[Job],
    cells: dict[str, str],
    now: float,
    busy: dict[str, tuple[str, float]],
) -> tuple[Advice, Planner, bool, float]:
    """In the worker: the advice, the planner with its new last plan, whether the plan
    was made afresh, and the seconds it took."""
    fresh_before = planner.fresh_plans
    t0 = time.monotonic()
    advice = planner.advise(cell, allowed, jobs, cells, now, busy=busy)
    return advice, planner, planner.fresh_plans > fresh_before, time.monotonic() - t0


class PlanWorker:
    """One worker process planning for one scheduler, one decision at a time."""

    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self.stats = PlanStats()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the service's process holds sockets, SQLite handles
            # and an event loop that a forked child must not share.
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_die_with_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def advise(
        self,
        cell: str,
        allowed: Sequence[Candidate],
        jobs: Sequence[Job],
        cells: dict[str, str],
        now: float,
        *,
        busy: dict[str, tuple[str, float]],
    ) -> Advice:
        """The plan's advice for `cell`, planned in the worker (raises if that failed)."""
        if not allowed:
            return Advice(None)
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(
                self._executor(),
                _advise,
                self.planner,
                cell,
                list(allowed),
                list(jobs),
                dict(cells),
                now,
                dict(busy),
            )
            advice, planner, fresh, took = await future
        except BrokenProcessPool:
            self.stats.failures += 1
            self._discard()
            raise
        except Exception:
            self.stats.failures += 1
            raise
        self.planner = planner
        self.stats.decisions += 1
        self.stats.fresh += fresh
        self.stats.busy_s += took
        return advice

    def _discard(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        """Stop the worker; a decision in progress ends within the planner's time cap."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
