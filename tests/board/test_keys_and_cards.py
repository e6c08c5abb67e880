"""What a supervisor reads at 120 columns: every action key, whole words on the cards,
toasts in words."""

from __future__ import annotations

import pytest

from cellctl.board.feed import BoardFeed
from cellctl.board.model import CellTile
from cellctl.config.models import MqttConfig
from cellctl.tui.board.app import BoardApp, said
from cellctl.tui.board.widgets import grid_geometry, tile_lines
from tests.board.conftest import site_config
from tests.board.screen_text import svg_text


@pytest.mark.parametrize("screen_width", range(40, 241))
def test_cards_never_cut_link_up(screen_width: int) -> None:
    tile = CellTile("finish-01", state="idle", printer="ready", machine="idle", link="up")
    _, tile_w = grid_geometry(screen_width)
    health = tile_lines(tile, 0.0, tile_w - 4)[3][0]
    assert health.endswith("link up") and len(health) <= tile_w - 4, health


async def test_the_key_bar_shows_every_action_at_120_columns() -> None:
    feed = BoardFeed(site_config(), MqttConfig(url="mqtt://127.0.0.1:1"))
    app = BoardApp(feed, connect=False)
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.pause()
        screen = svg_text(app.export_screenshot()).splitlines()
    bar = screen[-1]
    for key in ("r Run", "t Trace", "p Prioritise", "x Cancel run", "h Release hold",
                "a Ack alert", "q Quit"):  # fmt: skip
        assert key in bar, bar
    assert "1 Floor" in screen[1] and "4 Alerts" in screen[1]  # the tab keys, on the tabs


def test_toasts_say_actions_in_words() -> None:
    assert said("prioritise", {"run_id": "R-7", "priority": 10}) == "run R-7 to priority 10"
    assert said("cancel", {"run_id": "R-7"}) == "cancel run R-7"
    text = said("release_hold", {"batch": "B-7", "reason": "reworked"})
    assert text == "release batch B-7 (reworked)"


async def test_with_no_broker_the_header_says_so_and_how_to_quit() -> None:
    from textual.widgets import Static

    from cellctl.bus.broker_process import free_port

    url = f"mqtt://127.0.0.1:{free_port()}"  # nobody listens there
    feed = BoardFeed(site_config(url), MqttConfig(url=url))
    app = BoardApp(feed)
    async with app.run_test(size=(120, 24)) as pilot:
        for _ in range(100):  # the header is drawn on the board's own timers
            header = str(app.query_one("#summary", Static).render())
            if "no broker" in header and feed.last_error:
                break
            await pilot.pause(0.05)
    assert f"no broker at {url}: retrying (q quits)" in header, header
