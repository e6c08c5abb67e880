"""A cell that declines a step, and what the scheduler leaves retained on the broker."""

from __future__ import annotations

import asyncio

import aiomqtt

from cellctl.bus.codec import decode
from cellctl.domain.run_spec import parse_run
from tests.bus.conftest import Factory
from tests.scheduler.helpers import T, spec_of
from tests.waiting import wait_until


async def test_a_declined_step_goes_to_another_cell_and_the_decliner_gets_the_next(
    factory: Factory,
) -> None:
    store = factory.scheduler_store()
    store.add_run(parse_run(spec_of("R-X", manual_priority=5, quantity=3)))
    store.add_run(parse_run(spec_of("R-Y", quantity=3)))
    await factory.scheduler(store)
    picky = await factory.cell("cut-01", "cut", cycle_s=0.01, decline_runs=("R-X",))
    await wait_until(lambda: store.run("R-Y")["status"] == "done", 10, "R-Y done at cut-01")
    assert ("R-X", 0, "cut-01") in store.declined()
    step = store.run("R-X")["steps"][0]
    assert (step["status"], step["cell"]) == ("pending", None), "nobody else can make R-X yet"
    other = await factory.cell("cut-02", "cut", cycle_s=0.01)
    await wait_until(lambda: store.run("R-X")["status"] == "done", 10, "R-X done at cut-02")
    assert picky.completed == [("R-Y", 0)] and other.completed == [("R-X", 0)]
    declined = [e for e in picky.store.events() if e.type == "assignment_declined"]
    assert [e.payload["run_id"] for e in declined] == ["R-X"]
    assert declined[0].payload["reason"] == "cannot make this run"


async def test_status_and_queue_are_retained_for_late_subscribers(factory: Factory) -> None:
    store = factory.scheduler_store()
    store.add_run(parse_run(spec_of("R-1", routing="print")))
    store.add_run(parse_run(spec_of("R-2", routing="print", manual_priority=3)))
    await factory.scheduler(store)
    got: dict[str, dict] = {}
    async with aiomqtt.Client("127.0.0.1", factory.broker.port, identifier="late") as late:
        await late.subscribe(T.scheduler_status, qos=1)
        await late.subscribe(T.scheduler_queue, qos=1)

        async def both() -> None:
            async for message in late.messages:
                assert message.retain, f"{message.topic} was not retained"
                got[str(message.topic)] = decode(message.payload)
                if len(got) == 2:
                    return

        await asyncio.wait_for(both(), 10)
    status, queue = got[T.scheduler_status], got[T.scheduler_queue]
    assert status["online"] is True and status["runs"]["queued"] == 2
    assert [r["run_id"] for r in queue["ready"]] == ["R-2", "R-1"]  # manual priority first
    assert queue["queued"] == 2 and queue["held"] == [] and queue["in_progress"] == []
