"""Helpers shared by this package's tests (no test module imports another)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from textual.pilot import Pilot

from cellctl.board.feed import BoardFeed
from cellctl.board.history import BoardHistory
from cellctl.bus.codec import encode
from cellctl.config.models import MqttConfig
from cellctl.domain.events import Event
from cellctl.historian.answers import SiteContext, answer
from cellctl.historian.backends import open_store
from cellctl.tui.board.app import BoardApp
from tests.board.conftest import SITE, TOPICS, site_config
from tests.board.screen_text import svg_text
from tests.waiting import wait_until

TABS = {"floor": "1 Floor", "queue": "2 Queue", "metrics": "3 Metrics", "alerts": "4 Alerts"}


def underlined(text: str, tab: str) -> bool:
    """Does the tab bar's underline (its third line) sit under `tab`'s label?"""
    lines = text.splitlines()
    if len(lines) < 3:
        return False
    col = lines[1].find(f" {TABS[tab]}") + 1
    bar = lines[2]
    end = col + len(TABS[tab])
    return col > 0 and end < len(bar) and bar[col - 1] == "╸" and bar[end] == "╺"


async def screen_showing(pilot: Pilot, app: BoardApp, tab: str, *needles: str) -> str:
    """The screen's text once the board has drawn what the feed holds now.

    The app draws the feed on a timer and the tab underline slides over, so this
    waits for one full board refresh after the feed got its state, then until the
    screen shows the active tab underlined and every needle (no event exists for
    "drawn"; the screen itself is the condition).
    """
    renders = app.renders
    await wait_until(lambda: app.renders > renders, 5, "a board refresh")
    deadline = time.monotonic() + 10
    while True:
        await pilot.pause()
        text = svg_text(app.export_screenshot())
        if underlined(text, tab) and all(n in text for n in needles):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"the {tab} screen never showed {needles}:\n{text}")
        await asyncio.sleep(0.02)


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def feed(clock: Clock | None = None, **kw) -> BoardFeed:
    return BoardFeed(site_config(), clock=clock or Clock(), wall=lambda: 1_767_600_000.0, **kw)


def ev(f: BoardFeed, e) -> None:
    f.handle(TOPICS.cell_events(e.cell), encode(e.to_dict()))


WALL = datetime(2026, 1, 5, 8, 2, tzinfo=UTC).timestamp()


def event_at(cell: str, etype: str, seq: int, hhmmss: str, **payload) -> Event:
    return Event(etype, cell, payload, operator="OP-ADA", seq=seq,
                 time=f"2026-01-05T{hhmmss}.000Z")  # fmt: skip


def historian_of(tmp: Path, events: list[Event]) -> BoardHistory:
    """A board's history answered by the historian's own answering code over a real
    SQLite historian holding `events` (the bus between them is tested in tests/historian)."""
    store = open_store(tmp / "historian.db")
    store.ingest(events)
    ctx = SiteContext(site_id=SITE)

    async def ask(what: str, body: dict) -> object:
        return answer(store, what, body, ctx)

    return BoardHistory(MqttConfig(), SITE, ask_historian=ask, ask_sched=ask)
