"""Decisions must not hold up the intake (issue 17): while the whole-shop plan is
searched, the scheduler keeps applying events."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from cellctl.domain.events import Event
from cellctl.domain.plan import Planner
from cellctl.domain.run_spec import parse_run
from tests.bus.conftest import Factory
from tests.waiting import wait_until

PLAN_S = 2.0


class SlowPlanner(Planner):
    """A decision that takes PLAN_S, as a fresh plan of a big shop can on a loaded
    machine (the service caps one at plan.SERVICE_MAX_S)."""

    def advise(self, cell: str, allowed: Any, *args: Any, **kwargs: Any) -> Any:
        if allowed:  # with nothing to choose from, the planner has nothing to plan
            time.sleep(PLAN_S)
        return super().advise(cell, allowed, *args, **kwargs)


async def test_events_are_applied_while_a_decision_is_planned(factory: Factory) -> None:
    store = factory.scheduler_store()
    due = datetime.now(UTC) + timedelta(hours=1)
    store.add_run(parse_run({
        "id": "R1", "sku": "BOX", "quantity": 1, "unit_margin": 5.0,
        "due": due.isoformat(), "routing": "cut", "cycle_s": 1.0,
    }))  # fmt: skip
    applied_at: dict[str, float] = {}

    def on_applied(events: list[Event]) -> None:
        applied_at.update((e.id, time.monotonic()) for e in events)

    sched = await factory.scheduler(store, on_applied=on_applied)
    sched.planner = SlowPlanner()
    counter = await factory.cell("count-01", "count")  # a kind no run needs
    appended: dict[str, float] = {}
    ticks: list[float] = []

    async def record() -> None:
        """A count every 50 ms, and the loop's own pulse."""
        while True:
            (e,) = counter.store.append(
                Event(
                    "units_counted", "count-01", {"run_id": "R0", "step": 0, "good": 1, "scrap": 0}
                )
            )
            appended[e.id] = time.monotonic()
            counter.link.notify()
            ticks.append(time.monotonic())
            await asyncio.sleep(0.05)

    recorder = asyncio.create_task(record())
    try:
        await asyncio.sleep(0.3)
        asked = time.monotonic()
        await factory.cell("cut-01", "cut", cycle_s=0.01)  # idle: a planned decision starts
        await wait_until(lambda: sched.dispatch_log, 10 + PLAN_S, "R1 given to cut-01")
        decided = time.monotonic()
    finally:
        recorder.cancel()
    assert sched.dispatch_log[0][1:3] == ("cut-01", "R1")
    assert decided - asked >= PLAN_S  # the decision did take that long
    # Meanwhile the loop kept its pulse and the counts were applied as they came.
    ticks.append(decided)
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False) if b >= asked and a <= decided]
    assert max(gaps) < 0.5, f"the event loop stalled for {max(gaps):.2f} s"
    late = [
        applied_at.get(i, decided) - t for i, t in appended.items() if asked <= t <= decided - 0.5
    ]
    assert len(late) >= 10
    assert max(late) < 0.5, f"a count waited {max(late):.2f} s for the decision"
    assert sched.plan_stats.decisions >= 1
