"""A hold recorded at the QA cell reaches another cell over a real Mosquitto and makes
its kiosk refuse the batch's step, saying why; the NCR's rework sign-off lifts it."""

from __future__ import annotations

import asyncio
import json

import aiomqtt
import pytest

from cellctl.bus.broker_process import Mosquitto
from cellctl.domain.assignment import Assignment
from cellctl.domain.events import Event
from cellctl.station.controller import Refused, StationController
from cellctl.station.holds import note_remote_event
from tests.quality.conftest import Site

TOPIC = "cellctl/v1/demo/cells/{cell}/events"


def _assignment(kind: str, batch: str, run_id: str = "R1", step: int = 1) -> Assignment:
    return Assignment(
        run_id=run_id,
        step=step,
        kind=kind,
        sku="MUG-ENAMEL",
        title="Mugs",
        quantity=50,
        due="2026-11-23T12:00:00Z",
        batch=batch,
    )


async def _drain(broker: Mosquitto, c: StationController) -> int:
    """Publish the cell's outbox with QoS 1 and mark what the broker acknowledged."""
    sent = 0
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"{c.cell}-drain") as client:
        for e in c.store.pending(1000):
            await client.publish(TOPIC.format(cell=c.cell), json.dumps(e.to_dict()), qos=1)
            c.store.mark_sent([e.id])
            sent += 1
    return sent


async def _listen(
    broker: Mosquitto,
    controllers: list[StationController],
    ready: asyncio.Event,
    want: str,
    heard: list[Event],
) -> None:
    """Feed every cell's events to the controllers until an event of type `want` arrives."""
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="cells-listen") as client:
        await client.subscribe(TOPIC.format(cell="+"), qos=1)
        ready.set()
        async for message in client.messages:
            event = Event.from_dict(json.loads(message.payload))
            heard.append(event)
            for c in controllers:
                note_remote_event(c, event)
            if event.type == want:
                return


async def _relay(broker: Mosquitto, qa: StationController, others, want: str) -> list[Event]:
    ready = asyncio.Event()
    heard: list[Event] = []
    listener = asyncio.create_task(_listen(broker, others, ready, want, heard))
    await asyncio.wait_for(ready.wait(), 10)
    assert await _drain(broker, qa) > 0
    await asyncio.wait_for(listener, 10)
    return heard


async def test_qa_hold_blocks_other_kiosks_until_ncr_signoff(
    site: Site, mosquitto: Mosquitto
) -> None:
    from tests.quality.conftest import passing

    site.make_batch("B1", "MUG-ENAMEL", 50)
    cut = site.controller("cut-01")
    cut.sign_in_badge("OP-ADA")
    cut.offer_assignment(_assignment("cut", "B1"))
    cut.accept_assignment()
    finish = site.controller("finish-01")
    finish.sign_in_badge("OP-ADA")
    finish.offer_assignment(_assignment("finish", "B1", step=2))

    qa = site.controller("qa-01")
    qa.sign_in_badge("OP-QUINN")
    flow = site.qa_flow()
    flow.scan("CB:B1")
    flow.scan(site.unit_code(flow.view().sample[0]))
    flow.record_fail(["SCRATCH"], note="chipped enamel", results=passing(flow) | {"enamel": False})
    assert "B1" in qa.held_batches

    heard = await _relay(mosquitto, qa, [cut, finish], "batch_held")
    assert [e.type for e in heard][-1] == "batch_held"
    reason = qa.held_batches["B1"]
    assert cut.held_batches == {"B1": reason} and finish.held_batches == {"B1": reason}
    with pytest.raises(Refused) as started:
        cut.start_step()
    assert str(started.value) == (
        f"batch B1 is on QC hold ({reason}): it cannot start until QA releases it"
    )
    assert "lot rejected at QA" in reason and "NCR-B1-1" in reason
    with pytest.raises(Refused, match=r"batch B1 is on QC hold \(lot rejected at QA.*must release"):
        finish.accept_assignment()
    assert not any(e.type == "run_step_started" for e in cut.store.events())

    qa.sign_in_badge("OP-SAM")
    flow.close_ncr("NCR-B1-1", "rework", "re-enamel the batch")
    await _relay(mosquitto, qa, [cut, finish], "batch_released")
    assert cut.held_batches == {} and finish.held_batches == {}
    cut.start_step()
    finish.accept_assignment()
    assert cut.state == "running"


def test_only_other_cells_holds_are_noted(site: Site) -> None:
    cut = site.controller("cut-01")
    own = Event("batch_held", "cut-01", {"batch": "B2", "reason": "hold card scanned"})
    other = Event("batch_held", "qa-01", {"batch": "B2", "reason": "lot rejected"})
    counted = Event("units_counted", "qa-01", {"run_id": "R", "step": 0, "good": 1, "scrap": 0})
    assert note_remote_event(cut, own) is False and cut.held_batches == {}
    assert note_remote_event(cut, counted) is False
    assert note_remote_event(cut, other) is True and cut.held_batches == {"B2": "lot rejected"}


async def test_hold_reaches_other_stations_through_the_scheduler_and_release_lifts_it(
    site: Site, mosquitto: Mosquitto, tmp_path
) -> None:
    """No test relay: the QA cell's link publishes the hold, the scheduler keeps the
    retained holds topic, another station's runtime hears it; a supervisor's release
    sent to the scheduler reaches that station the same way."""
    from cellctl.bus.cell_link import CellLink
    from cellctl.bus.codec import encode
    from cellctl.bus.topics import Topics
    from cellctl.config.load import load_site
    from cellctl.config.models import MqttConfig
    from cellctl.scheduler import Scheduler
    from cellctl.station.runtime import StationRuntime
    from cellctl.store.scheduler_store import SchedulerStore
    from tests.quality.conftest import passing
    from tests.waiting import wait_until

    mqtt = MqttConfig(url=mosquitto.url, keepalive_s=2)
    sched = Scheduler(
        SchedulerStore(tmp_path / "sched.db"), site=load_site(site.site_path), mqtt=mqtt
    )
    finish = site.controller("finish-01")
    runtime = StationRuntime(finish, broker_url=mosquitto.url, poll_s=0.05)
    qa = site.controller("qa-01")
    qa_link = CellLink(qa.store, site="demo", kind="qa", mqtt=mqtt)
    await sched.start()
    await runtime.start()
    try:
        await sched.wait_connected()
        await runtime.link.wait_connected()
        site.make_batch("B1", "MUG-ENAMEL", 50)
        finish.sign_in_badge("OP-ADA")
        finish.offer_assignment(_assignment("finish", "B1", step=2))

        qa.sign_in_badge("OP-QUINN")
        flow = site.qa_flow()
        flow.scan("CB:B1")
        flow.scan(site.unit_code(flow.view().sample[0]))
        flow.record_fail(["SCRATCH"], note="chipped", results=passing(flow) | {"enamel": False})
        reason = qa.held_batches["B1"]
        await qa_link.start()
        await wait_until(lambda: "B1" in finish.held_batches, 10, "the hold at finish-01")
        assert finish.held_batches == {"B1": reason}
        assert sched.store.holds() == {"B1": True}
        with pytest.raises(Refused, match=r"batch B1 is on QC hold"):
            finish.accept_assignment()

        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="board") as board:
            command = {"v": 1, "action": "release_hold", "badge": "OP-ADA", "batch": "B1"}
            await board.publish(Topics("demo").scheduler_command, encode(command), qos=1)
            await board.publish(
                Topics("demo").scheduler_command,
                encode({**command, "badge": "OP-SAM", "reason": "reworked and re-inspected"}),
                qos=1,
            )
        await wait_until(lambda: "B1" not in finish.held_batches, 10, "the release at finish-01")
        refused = [c for c in sched.store.command_log() if not c[3]]
        assert [c[2] for c in refused] == ["OP-ADA"], "a machinist may not release a hold"
        finish.accept_assignment()
        assert finish.assignment_accepted
    finally:
        await qa_link.stop()
        await runtime.stop()
        await sched.stop()
