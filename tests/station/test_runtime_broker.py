"""A station runtime against a real Mosquitto: assignments in, events out."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiomqtt

from cellctl.bus.broker_process import Mosquitto
from cellctl.bus.codec import decode_event, encode
from cellctl.bus.topics import Topics
from cellctl.station.runtime import StationRuntime, open_station
from tests.station.conftest import assignment
from tests.waiting import wait_until


async def test_assignment_arrives_and_counts_reach_the_broker(
    demo_dir: Path, mosquitto: Mosquitto
) -> None:
    controller = open_station(demo_dir / "cut-01.toml")
    runtime = StationRuntime(controller, broker_url=mosquitto.url, poll_s=0.05)
    topics = Topics("demo")
    received: list[str] = []
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="test-observer") as obs:
        await obs.subscribe(topics.cell_events("cut-01"), qos=1)

        async def collect() -> None:
            async for message in obs.messages:
                received.append(decode_event(message.payload).type)

        collector = asyncio.create_task(collect())
        await runtime.start()
        try:
            await runtime.link.wait_connected()
            await obs.publish(
                topics.cell_assign("cut-01"),
                encode({**assignment(), "assign_id": "A-1", "v": 1}),
                qos=1,
                retain=True,
            )
            await wait_until(lambda: controller.assignment is not None)
            assert controller.assignment.assign_id == "A-1"
            controller.sign_in_badge("OP-ADA")
            controller.accept_assignment()
            controller.start_step()
            for _ in range(5):
                controller.count_good()
            await wait_until(lambda: controller.store.outbox_count() == 0)
            await wait_until(lambda: received.count("units_counted") == 5)
            assert "assignment_accepted" in received
            await wait_until(lambda: controller.link_state == "connected")
        finally:
            await runtime.stop()
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector


async def test_station_keeps_working_without_a_broker(demo_dir: Path) -> None:
    controller = open_station(demo_dir / "cut-01.toml")
    runtime = StationRuntime(controller, broker_url="mqtt://127.0.0.1:1", poll_s=0.05)
    await runtime.start()
    try:
        controller.sign_in_badge("OP-ADA")
        controller.offer_assignment(assignment())
        controller.accept_assignment()
        controller.start_step()
        controller.count_good()
        await wait_until(lambda: controller.link_state == "offline")
        view = controller.view()
        assert view.outbox >= 4 and view.good == 1
    finally:
        await runtime.stop()
