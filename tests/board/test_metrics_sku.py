"""The board's Metrics tab shows lead time, yield and FPY per SKU (issue 22)."""

from __future__ import annotations

from cellctl.board.feed import BoardFeed
from cellctl.config.models import MqttConfig
from cellctl.tui.board.app import BoardApp
from tests.board.conftest import Publisher, site_config
from tests.board.helpers import WALL, event_at, screen_showing
from tests.waiting import wait_until


async def test_the_metrics_tab_has_a_row_per_sku(
    publisher: Publisher, broker_mqtt: MqttConfig
) -> None:
    feed = BoardFeed(site_config(broker_mqtt.url), broker_mqtt, clock=lambda: 500.0,
                     wall=lambda: WALL)  # fmt: skip
    app = BoardApp(feed, badge="OP-SAM")
    a = {"run_id": "R1", "step": 0, "kind": "cut", "sku": "MUG-FOX", "next_kind": None,
         "submitted_at": "2026-01-05T06:00:00.000Z"}  # fmt: skip
    events = [
        event_at("cut-01", "assignment_accepted", 1, "07:00:00", run_id="R1", step=0, assignment=a),
        event_at("cut-01", "run_step_started", 2, "07:30:00", run_id="R1", step=0),
        event_at("cut-01", "units_counted", 3, "07:45:00", run_id="R1", step=0, good=9, scrap=1),
        event_at("cut-01", "run_step_completed", 4, "08:00:00", run_id="R1", step=0),
    ]
    async with app.run_test(size=(140, 40)) as pilot:
        await feed.wait_connected()
        for e in events:
            await publisher.event(e)
        await wait_until(lambda: len(feed.events) == len(events), 10, "the events fed")
        await pilot.press("3")
        text = await screen_showing(pilot, app, "metrics", "MUG-FOX")
    [row] = [line for line in text.splitlines() if line.strip().startswith("MUG-FOX")]
    # Submitted 06:00, done 08:00: 2 h; 9 good of 10.
    assert "runs 1/1" in row and "lead 2h00m / 2h00m" in row and "yield   90%" in row
