"""The board's Metrics tab says a performance above 100 % is a setting to check, instead of
showing OEE in the thousands of percent (issue 16)."""

from __future__ import annotations

from cellctl.board.feed import BoardFeed
from cellctl.config.models import MqttConfig
from cellctl.tui.board.app import BoardApp
from tests.board.conftest import Publisher, site_config
from tests.board.helpers import WALL, event_at, screen_showing
from tests.waiting import wait_until


async def test_an_impossible_performance_is_shown_as_the_setting_to_check(
    publisher: Publisher, broker_mqtt: MqttConfig
) -> None:
    site = site_config(broker_mqtt.url)
    # cut-01 made 100 parts in 60 s of running against an ideal cycle time of 30 s (the
    # 5,000 % of the issue); print-01 made 10 in 60 s against 5 s: 83 %.
    feed = BoardFeed(site, broker_mqtt, ideal_cycle_s={"cut-01": 30.0, "print-01": 5.0},
                     clock=lambda: 500.0, wall=lambda: WALL)  # fmt: skip
    app = BoardApp(feed, badge="OP-SAM")
    events = []
    for cell, parts in (("cut-01", 100), ("print-01", 10)):
        events += [
            event_at(cell, "state_changed", 1, "08:00:00", **{"from": "idle", "to": "running"}),
            event_at(
                cell, "units_counted", 2, "08:00:30", run_id="R1", step=0, good=parts, scrap=0
            ),
            event_at(cell, "state_changed", 3, "08:01:00", **{"from": "running", "to": "idle"}),
        ]
    async with app.run_test(size=(140, 32)) as pilot:
        await feed.wait_connected()
        for e in events:
            await publisher.event(e)
        await wait_until(lambda: len(feed.events) == len(events), 10, "the events fed")
        o = feed.oee_by_cell()
        assert o["cut-01"].performance is None and o["cut-01"].oee is None
        assert o["print-01"].performance == 10 * 5.0 / 60
        await pilot.press("3")
        message = "ideal cycle time of cut-01 is 30 s but it made parts every 0.6 s"
        text = await screen_showing(pilot, app, "metrics", message, "print-01")
    assert "check `ideal_cycle_s`" in text
    [cut] = [line for line in text.splitlines() if line.strip().startswith("cut-01")]
    assert "OEE     —" in cut and "P     —" in cut and "5000%" not in text
    [printer] = [line for line in text.splitlines() if line.strip().startswith("print-01")]
    assert "P   83%" in printer
