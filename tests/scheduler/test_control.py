"""Holds, role-checked commands, runs submitted over MQTT, and a scheduler restart."""

from __future__ import annotations

import asyncio
from datetime import datetime

import aiomqtt
import pytest

from cellctl.bus.codec import decode, encode
from cellctl.domain.events import Event
from cellctl.domain.run_spec import parse_run
from cellctl.scheduler import Scheduler
from tests.bus.conftest import SITE, Factory
from tests.scheduler.helpers import T, spec_of
from tests.waiting import wait_until


async def test_held_batch_is_skipped_until_released(factory: Factory) -> None:
    store = factory.scheduler_store()
    store.add_run(parse_run(spec_of("H1", batch="B-7", manual_priority=9)))
    store.add_run(parse_run(spec_of("F1")))
    sched = await factory.scheduler(store)
    qa = await factory.cell("qa-01", "qa")
    qa.store.append(Event("batch_held", "qa-01", {"batch": "B-7", "reason": "burrs"}, "OP-QUINN"))
    qa.link.notify()
    await wait_until(lambda: store.holds().get("B-7") is True, 10, "hold applied")
    cut = await factory.cell("cut-01", "cut", cycle_s=0.01)
    await wait_until(lambda: store.run("F1")["status"] == "done", 10, "F1 done")
    assert store.run("H1")["status"] == "queued"  # priority 9, yet held
    snapshot = sched.queue_snapshot()
    assert snapshot["held"] == ["H1"]
    async with aiomqtt.Client("127.0.0.1", factory.broker.port) as client:
        await client.publish(
            T.scheduler_command,
            encode({"v": 1, "action": "release_hold", "batch": "B-7", "badge": "OP-ADA"}),
            qos=1,
        )  # a machinist may not release a hold
        await client.publish(
            T.scheduler_command,
            encode({"v": 1, "action": "release_hold", "batch": "B-7", "badge": "OP-QUINN"}),
            qos=1,
        )
    await wait_until(lambda: store.run("H1")["status"] == "done", 10, "H1 done after release")
    log = store.command_log()
    assert [(a, b, ok) for _, a, b, ok, _ in log] == [
        ("release_hold", "OP-ADA", 0),
        ("release_hold", "OP-QUINN", 1),
    ]
    assert cut.completed == [("F1", 0), ("H1", 0)]


async def test_supervisor_commands_and_mqtt_submit(factory: Factory) -> None:
    sched = await factory.scheduler()
    async with aiomqtt.Client("127.0.0.1", factory.broker.port) as client:
        await client.publish(T.runs_submit, encode({"v": 1, **spec_of("S1")}), qos=1)
        await client.publish(T.runs_submit, encode({"v": 1, **spec_of("S2")}), qos=1)
        await wait_until(lambda: len(sched.store.runs()) == 2, 10, "runs submitted")
        for badge, action in (("OP-ADA", "prioritise"), ("OP-QUINN", "cancel")):
            body = {"v": 1, "action": action, "badge": badge, "run_id": "S2", "priority": 5}
            await client.publish(T.scheduler_command, encode(body), qos=1)
        for action in ("prioritise", "cancel"):
            body = {"v": 1, "action": action, "badge": "OP-SAM", "run_id": "S1", "priority": 4}
            await client.publish(T.scheduler_command, encode(body), qos=1)
    await wait_until(lambda: len(sched.store.command_log()) == 4, 10, "commands handled")
    accepted = [(a, b) for _, a, b, ok, _ in sched.store.command_log() if ok]
    assert accepted == [("prioritise", "OP-SAM"), ("cancel", "OP-SAM")]
    s1, s2 = sched.store.run("S1"), sched.store.run("S2")
    assert (s1["manual_priority"], s1["status"]) == (4, "cancelled")
    assert (s2["manual_priority"], s2["status"]) == (0, "queued")


async def test_restart_loses_no_assignment_and_gives_none_twice(factory: Factory) -> None:
    store = factory.scheduler_store()
    store.add_run(parse_run(spec_of("A1", quantity=30)))
    store.add_run(parse_run(spec_of("A2", quantity=2)))
    first = await factory.scheduler(store)
    cell = await factory.cell("cut-01", "cut", cycle_s=0.03)
    await wait_until(lambda: store.run("A1")["steps"][0]["status"] == "running", 10, "A1 runs")
    await first.stop()
    factory.started.remove(first)
    first.store.close()
    await asyncio.sleep(0.3)  # the cell keeps working with no scheduler at all

    second = await factory.scheduler(factory.scheduler_store())
    await wait_until(
        lambda: all(r["status"] == "done" for r in second.store.runs()), 20, "both runs done"
    )
    accepted = [e for e in cell.store.events() if e.type == "assignment_accepted"]
    declined = [e for e in cell.store.events() if e.type == "assignment_declined"]
    assert [(e.payload["run_id"]) for e in accepted] == ["A1", "A2"]
    assert declined == []
    assert isinstance(second, Scheduler) and second.dispatch_log[0][2] == "A2"
    # A count the first scheduler had received but not applied when it stopped comes
    # back by a resend request: equal totals are the end state, not the first moment.
    await wait_until(lambda: cell.link.backlog == 0, 10, "drained")
    await wait_until(
        lambda: second.store.totals_by_cell()["cut-01"] == cell.totals(), 10, "totals equal"
    )


async def test_a_cell_that_stays_down_gives_its_step_to_another(factory: Factory) -> None:
    store = factory.scheduler_store()
    store.add_run(parse_run(spec_of("D1", quantity=40, cycle_s=0.5)))
    await factory.scheduler(store, move_after_down_s=0.5)
    a = await factory.cell("cut-01", "cut", cycle_s=0.03)
    await wait_until(lambda: store.run("D1")["steps"][0]["status"] == "running", 10, "D1 on A")
    b = await factory.cell("cut-02", "cut", cycle_s=0.005)
    a.link.update_status(state="down")  # the machinist reports a breakdown
    await wait_until(lambda: store.run("D1")["status"] == "done", 15, "D1 finished on B")
    assert store.run("D1")["steps"][0]["cell"] == "cut-02"
    released = [e for e in a.store.events() if e.type == "run_step_released"]
    assert [e.payload["reason"] for e in released] == ["withdrawn"]
    # The kiosk names the reason the step moved (the scheduler's retained notice).
    async with aiomqtt.Client("127.0.0.1", factory.broker.port) as client:
        await client.subscribe(T.cell_assign("cut-01"), qos=1)
        async with asyncio.timeout(5):
            notice = decode(bytes((await anext(aiter(client.messages))).payload))
    assert notice["withdrawn"] is True
    assert notice["reason"].startswith("moved to cut-02 because cut-01 was down ")
    await wait_until(lambda: a.link.backlog == 0 and b.link.backlog == 0, 10, "drained")
    await wait_until(
        lambda: store.totals_by_cell() == {"cut-01": a.totals(), "cut-02": b.totals()},
        10,
        "totals equal",
    )
    good = store.run("D1")["steps"][0]["good"]
    assert good == a.totals()[("D1", 0)][0] + b.totals()[("D1", 0)][0] >= 40


class _SlowBroker:
    """Stands in for the broker link: the first publish waits until released, as a
    PUBACK does on a busy broker, so a second dispatch round can run meanwhile."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.published: list[str] = []

    async def publish(self, topic: str, payload: bytes, **_: object) -> None:
        self.published.append(topic)
        if len(self.published) == 1:
            await self.release.wait()


async def test_two_dispatch_rounds_at_once_give_each_step_once(tmp_path) -> None:
    """The consumer and the ticker both dispatch; a round that awaits a publish must not
    let the other give out a step from the same snapshot (the scheduler once failed
    with 'step … is not pending' and dropped its broker link)."""
    from cellctl.scheduler.service import CellView
    from cellctl.store.scheduler_store import SchedulerStore

    store = SchedulerStore(tmp_path / "scheduler.db")
    for run_id in ("S1", "S2"):
        store.add_run(parse_run(spec_of(run_id)))
    for plan in (True, False):
        sched = Scheduler(store, site=SITE, plan=plan)
        for cell in ("cut-01", "cut-02"):
            sched.cells[cell] = CellView(cell, "cut", online=True, state="idle")
        broker = _SlowBroker()
        first = asyncio.create_task(sched._dispatch(broker))  # blocks in its first publish
        while not broker.published:
            await asyncio.sleep(0)
        sched._dirty = True  # an event arrived meanwhile
        second = asyncio.create_task(sched._dispatch(broker))
        await asyncio.sleep(0)
        broker.release.set()
        await asyncio.gather(first, second)
        given = sorted((run, cell) for _, cell, run, _ in sched.dispatch_log)
        assert len(given) == 2 and {r for r, _ in given} == {"S1", "S2"}
        assert {c for _, c in given} == {"cut-01", "cut-02"}
        await sched.stop()  # its plan worker too
        for cell in ("cut-01", "cut-02"):
            store.release_cell(cell)
    store.close()


async def test_a_down_cell_with_no_twin_keeps_its_step(factory: Factory) -> None:
    store = factory.scheduler_store()
    store.add_run(parse_run(spec_of("D2", quantity=40, cycle_s=0.5)))
    sched = await factory.scheduler(store, move_after_down_s=0.2, tick_s=0.05)
    a = await factory.cell("cut-01", "cut", cycle_s=0.05)
    await wait_until(lambda: store.run("D2")["steps"][0]["status"] == "running", 10, "D2 on A")
    a.paused.clear()  # the jam: it stops counting
    a.link.update_status(state="down")
    await wait_until(lambda: sched.cells["cut-01"].state == "down", 10, "the scheduler sees it")
    # Well past the rule's 0.2 s (many ticks): with no other cut cell, the step stays.
    await asyncio.sleep(1.0)
    step = store.run("D2")["steps"][0]
    assert (step["status"], step["cell"]) == ("running", "cut-01")
    assert [e for e in a.store.events() if e.type == "run_step_released"] == []
    # A second cut cell comes up free: now the rule moves the step there, and says why.
    await factory.cell("cut-02", "cut", cycle_s=0.005)
    await wait_until(lambda: store.run("D2")["steps"][0]["cell"] == "cut-02", 10, "moved")
    await wait_until(
        lambda: [e for e in a.store.events() if e.type == "run_step_released"], 10, "released"
    )
    (released,) = [e for e in a.store.events() if e.type == "run_step_released"]
    assert released.payload["reason"] == "withdrawn"  # SimCell's word; the kiosk shows why


async def test_the_queue_snapshot_carries_the_facts_a_board_needs(factory: Factory) -> None:
    """A board on another machine reads no scheduler file: due date, weight, work and the
    steps left travel in the retained snapshot, and the board's ETA uses them."""
    from cellctl.board.queue import queue_rows

    store = factory.scheduler_store()
    store.add_run(parse_run(spec_of("P1", batch="B-1", quantity=4, routing="cut>print>qa")))
    sched = await factory.scheduler(store)
    (row,) = sched.queue_snapshot()["ready"]
    run = store.run("P1")
    assert row["due_s"] == pytest.approx(datetime.fromisoformat(run["due"]).timestamp())
    assert (row["quantity"], row["steps_left"], row["sku"], row["batch"]) == (4, 3, "CUP", "B-1")
    assert row["work_s"] == pytest.approx(4.0) and row["weight"] > 0
    (shown,) = queue_rows(sched.queue_snapshot(), {}, {"cut": 1}, now_s=row["due_s"] - 3600)
    assert shown.eta_s is not None and shown.due_s == row["due_s"]
