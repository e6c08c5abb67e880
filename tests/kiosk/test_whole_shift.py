"""A whole shift at the cut cell, by keyboard and scanner only, against a real broker,
the GRBL simulator on a pseudo-terminal and a label printer writing files."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiomqtt

from cellctl.bus.broker_process import Mosquitto
from cellctl.bus.codec import decode_event, encode
from cellctl.bus.topics import Topics
from cellctl.demo.runner import add_signing_key
from cellctl.domain.codes import BadgeCode
from cellctl.domain.codes import encode as encode_code
from cellctl.station.runtime import StationRuntime, open_station
from cellctl.tui.kiosk.app import KioskApp
from tests.kiosk.conftest import PacedClock
from tests.kiosk.helpers import type_scan
from tests.station.conftest import assignment
from tests.waiting import wait_until


async def test_whole_shift_at_the_cut_cell(
    demo_dir: Path, mosquitto: Mosquitto, keys_clock: PacedClock
) -> None:
    add_signing_key(demo_dir)
    controller = open_station(demo_dir / "cut-01.toml")
    runtime = StationRuntime(controller, broker_url=mosquitto.url, poll_s=0.1)
    topics = Topics("demo")
    seen: list[str] = []
    app = KioskApp(controller, runtime=runtime, clock=keys_clock)
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="shift-observer") as obs:
        await obs.subscribe(topics.cell_events("cut-01"), qos=1)

        async def collect() -> None:
            async for message in obs.messages:
                seen.append(decode_event(message.payload).id)

        collector = asyncio.create_task(collect())
        try:
            async with app.run_test(size=(100, 30)) as pilot:
                await wait_until(lambda: runtime.link is not None and runtime.link.connected)
                await wait_until(lambda: controller.machine_info.get("link") == "up")
                await type_scan(pilot, encode_code(BadgeCode("OP-ADA")))
                assert controller.operator is not None

                job = str(demo_dir / "jobs" / "MUG-ENAMEL-cut.gcode")
                body = {**assignment(quantity=50), "assign_id": "A-SHIFT", "job": job, "v": 1}
                await obs.publish(topics.cell_assign("cut-01"), encode(body), qos=1, retain=True)
                await wait_until(lambda: controller.assignment is not None)
                await pilot.press("a", "s")
                await wait_until(
                    lambda: any(
                        e.type == "machine_job_finished" for e in controller.store.events()
                    ),
                    timeout=60,
                )
                finished = [
                    e for e in controller.store.events() if e.type == "machine_job_finished"
                ]
                assert finished[0].payload["outcome"] == "finished"
                assert finished[0].payload["lines_acked"] == 42

                for _ in range(50):
                    await pilot.press("g")
                for reason_key in ("1", "2", "3"):
                    await pilot.press("x", reason_key)
                assert controller.counts() == (50, 3)

                await pilot.press("f", "1")
                for ch in "rim":
                    await pilot.press(ch)
                await pilot.press("enter")

                await pilot.press("l", "2")  # the batch traveller
                await wait_until(
                    lambda: (
                        controller.store.conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0]
                        == 1
                    ),
                    timeout=5,
                    what=lambda: controller.message,
                )
                await pilot.press("l", "1")  # a unit label per good unit
                await wait_until(
                    lambda: (
                        controller.store.conn.execute("SELECT COUNT(*) FROM units").fetchone()[0]
                        == 50
                    ),
                    what=lambda: controller.message,
                )
                await pilot.press("c", "f3")
                await pilot.pause()
                assert controller.operator is None
                await wait_until(lambda: controller.store.outbox_count() == 0)
            # The broker acknowledged every event; wait, while still subscribed, until
            # the observer has been handed as many as the cell recorded.
            recorded = [e.id for e in controller.store.events()]
            await wait_until(
                lambda: len(seen) >= len(recorded),
                timeout=10,
                what=lambda: f"{len(seen)} of {len(recorded)} events seen",
            )
        finally:
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector

    store = controller.store
    tables = store.read_tables()
    assert tables["step_counts"] == [("R-100", 0, 50, 3)]
    assert sorted(r[2] for r in tables["scrap_reasons"]) == ["BURN", "SCRATCH", "WARP"]
    assert [(r[3], r[7]) for r in tables["defects"]] == [("SCRATCH", "rim")]
    kinds = sorted(r[1] for r in tables["labels"])
    assert kinds == ["printed", "printed"]
    assert len(list((demo_dir / "var" / "labels" / "cut-01").glob("*.bin"))) == 2
    ids = [e.id for e in store.events()]
    assert ids == recorded  # nothing was recorded after the kiosk closed
    assert seen == ids  # every event reached the observer exactly once, in the cell's order
    assert store.check() == []
    completed = [e for e in store.events() if e.type == "run_step_completed"]
    assert completed and completed[0].payload["good"] == 50
