"""Role checks live in the station controller and the scheduler, not only in the UI:
a privileged command with a machinist's identity is refused and logged."""

from __future__ import annotations

import logging
from pathlib import Path

import aiomqtt
import pytest

from cellctl.bus.broker_process import Mosquitto
from cellctl.bus.codec import encode
from cellctl.config.load import load_site, load_station
from cellctl.config.models import MqttConfig
from cellctl.domain.run_spec import parse_run
from cellctl.scheduler.service import Scheduler
from cellctl.station.controller import Refused, StationController
from cellctl.store.scheduler_store import SchedulerStore
from cellctl.store.station_store import StationStore
from tests.waiting import wait_until


def controller(demo_dir: Path, station: str) -> StationController:
    loaded = load_station(demo_dir / f"{station}.toml")
    return StationController(loaded, StationStore(loaded.store_path(), loaded.id))


def test_station_refuses_a_machinist_qc_release_and_logs_it(demo_dir: Path) -> None:
    c = controller(demo_dir, "qa-01")
    c.sign_in_badge("OP-ADA")  # machinist
    c.hold_batch("B-7", "burn marks")
    before = c.store.event_count()

    with pytest.raises(Refused, match="Releasing a QC hold needs QA or a supervisor"):
        c.release_batch("B-7", "looks fine to me")

    assert c.held_batches == {"B-7": "burn marks"}  # nothing released
    new = c.store.events(after_seq=0)[before:]
    assert [e.type for e in new] == ["access_refused"]
    assert new[0].payload == {"action": "qc_release", "role": "machinist"}
    assert new[0].operator == "OP-ADA"
    assert c.store.outbox_count() >= 1  # the refusal goes to the scheduler as well
    assert c.store.pending(1000)[-1].type == "access_refused"

    c.sign_in_badge("OP-QUINN")  # QA may
    c.release_batch("B-7", "re-inspected")
    assert c.held_batches == {}
    assert c.store.events()[-1].type == "batch_released"


def test_station_refuses_a_machinist_scrap_override(demo_dir: Path) -> None:
    c = controller(demo_dir, "cut-01")
    c.sign_in_badge("OP-ADA")
    with pytest.raises(Refused, match="needs QA or a supervisor"):
        c.reclassify_good_as_scrap("crack", 1)
    last = c.store.events()[-1]
    assert last.type == "access_refused"
    assert last.payload["action"] == "scrap_override" and last.operator == "OP-ADA"


def test_a_wrong_pin_is_refused_logged_and_never_stored(demo_dir: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    c = controller(demo_dir, "cut-01")
    with pytest.raises(Refused, match="badge and PIN do not match"):
        c.sign_in_pin("OP-ADA", "987654")
    last = c.store.events()[-1]
    assert last.type == "access_refused" and last.payload == {"action": "pin_sign_in"}
    dump = str([e.to_dict() for e in c.store.events()]) + caplog.text
    assert "987654" not in dump
    assert c.operator is None
    c.sign_in_pin("OP-ADA", "1111")  # the demo PIN
    assert c.operator is not None and c.operator.badge == "OP-ADA"
    assert "1111" not in str(c.store.events()[-1].to_dict())


async def test_scheduler_refuses_a_machinists_command_and_logs_it(
    mosquitto: Mosquitto, demo_dir: Path, tmp_path: Path
) -> None:
    site = load_site(demo_dir / "site.toml")
    store = SchedulerStore(tmp_path / "scheduler.db")
    store.add_run(
        parse_run(
            {
                "id": "R-1",
                "sku": "MUG",
                "quantity": 5,
                "unit_margin": 3.0,
                "due": "2026-12-01T12:00Z",
                "routing": "cut>qa",
            }
        )
    )
    mqtt = MqttConfig(url=mosquitto.url)
    scheduler = Scheduler(store, site=site, mqtt=mqtt)
    await scheduler.start()
    topic = scheduler.topics.scheduler_command
    try:
        await scheduler.wait_connected(10)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="t-board") as board:
            for badge in ("OP-ADA", "OP-QUINN", "OP-NOBODY"):
                await board.publish(
                    topic,
                    encode({"v": 1, "action": "cancel", "badge": badge, "run_id": "R-1"}),
                    qos=1,
                )
            await wait_until(lambda: len(store.command_log()) == 3)
            log = store.command_log()
            assert [(r[1], r[2], r[3]) for r in log] == [
                ("cancel", "OP-ADA", 0),
                ("cancel", "OP-QUINN", 0),
                ("cancel", "OP-NOBODY", 0),
            ]
            assert "refused: OP-ADA (machinist) may not cancel" in log[0][4]
            assert "unknown badge OP-NOBODY" in log[2][4]
            assert store.runs()[0]["status"] != "cancelled"

            # A supervisor may: the same command now takes effect.
            await board.publish(
                topic,
                encode({"v": 1, "action": "cancel", "badge": "OP-SAM", "run_id": "R-1"}),
                qos=1,
            )
            await wait_until(lambda: len(store.command_log()) == 4)
        assert store.command_log()[3][3] == 1
        assert store.runs()[0]["status"] == "cancelled"
    finally:
        await scheduler.stop()
