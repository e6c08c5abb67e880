"""Snapshot tests: the board's screens as text, fed through a real Mosquitto.

The clocks are frozen so the picture is the same every run. To accept a change
on purpose: `BOARD_SNAPSHOT_UPDATE=1 pytest tests/board/test_snapshots.py`, then
read the diff of tests/board/snapshots/ before committing it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cellctl.board.feed import BoardFeed
from cellctl.bus.codec import encode
from cellctl.config.models import MqttConfig
from cellctl.tui.board.app import BoardApp
from tests.board.conftest import TOPICS, Publisher, event, site_config
from tests.board.helpers import screen_showing
from tests.waiting import wait_until

SNAPSHOTS = Path(__file__).parent / "snapshots"
WALL = datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp()


def check(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("BOARD_SNAPSHOT_UPDATE") or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text + "\n")
        if not os.environ.get("BOARD_SNAPSHOT_UPDATE"):
            pytest.fail(f"no snapshot {path.name} yet: written; read it and run again")
    assert text + "\n" == path.read_text(), f"{name} differs from {path}"


async def feed_the_floor(p: Publisher) -> int:
    """Four cells in four states, counts, defects, an alarm and a hold; returns the events."""
    await p.status(
        "cut-01",
        "running",
        run_id="R-100",
        step=0,
        operator="OP-ADA",
        good=40,
        scrap=2,
        outbox=0,
        printer={"state": "ready"},
        link="online",
        machine="run",
    )
    await p.status("print-01", "idle", operator="OP-ADA", outbox=3, link="online")
    await p.status(
        "finish-01",
        "down",
        run_id="R-099",
        step=2,
        operator="OP-ADA",
        good=5,
        scrap=1,
        machine="alarm",
    )
    await p.status("qa-01", "offline", online=False)  # fmt: skip
    events = [
        event("cut-01", "units_counted", 1, run_id="R-100", step=0, good=40, scrap=2),
        event("cut-01", "defect_recorded", 2, run_id="R-100", code="BURN", severity="major",
              count=2),
        event("finish-01", "units_counted", 1, run_id="R-099", step=2, good=5, scrap=1),
        event("finish-01", "defect_recorded", 2, run_id="R-099", code="SCRATCH",
              severity="minor"),
        event("finish-01", "machine_alarm", 3, code="ALARM:1", message="hard limit X"),
        event("qa-01", "batch_held", 1, batch="B-7", reason="first article failed"),
    ]  # fmt: skip
    for e in events:
        await p.event(e)
    queue = {"v": 1, "time": "2026-01-05T08:59:00.000Z", "held": ["R-098"], "in_progress": [],
             "queued": 3, "ready": [
                 {"run_id": "R-101", "step": 0, "kind": "cut", "priority": 5},
                 {"run_id": "R-102", "step": 1, "kind": "print", "priority": 0}]}  # fmt: skip
    await p.raw(TOPICS.scheduler_queue, encode(queue), retain=True)
    return len(events)


async def test_board_screens_match_their_snapshots(
    publisher: Publisher, broker_mqtt: MqttConfig
) -> None:
    site = site_config(broker_mqtt.url)
    feed = BoardFeed(site, broker_mqtt, clock=lambda: 500.0, wall=lambda: WALL)
    app = BoardApp(feed, badge="OP-SAM")
    summary = "4 cells: 1 down, 1 idle, 1 offline, 1 running  queue 2  alerts 4"
    async with app.run_test(size=(120, 32)) as pilot:
        await feed.wait_connected()
        n = await feed_the_floor(publisher)  # events are not retained: after we subscribed
        await wait_until(lambda: len(feed.events) == n and len(feed.cells) == 4
                         and feed.queue_snapshot is not None and len(feed.queue()) == 2
                         and len(feed.alerts.open()) == 4, 10, "the floor fed")  # fmt: skip
        tiles = ("cut-01 RUNNING", "finish-01 DOWN", "print-01 IDLE", "qa-01 OFFLINE")
        check("floor", await screen_showing(pilot, app, "floor", summary, *tiles))
        await pilot.press("2")
        check("queue", await screen_showing(pilot, app, "queue", summary, "R-101", "R-102"))
        await pilot.press("3")
        check("metrics", await screen_showing(pilot, app, "metrics", "SCRATCH 100%", "08:00"))
        await pilot.press("4")
        check("alerts", await screen_showing(pilot, app, "alerts", summary, "B-7", "cell_down"))
        await pilot.press("a")  # acknowledge the newest alert
        assert feed.alerts.items[("hold", "B-7")].acked_by == "OP-SAM"
        acked = "queue 2  alerts 3"
        check("alerts_acked", await screen_showing(pilot, app, "alerts", acked, "ack OP-SAM"))
