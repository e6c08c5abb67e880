"""Helpers shared by this package's tests (no test module imports another)."""

from __future__ import annotations

from cellctl.station.controller import StationController
from cellctl.tui.kiosk.app import KioskApp
from tests.station.conftest import assignment


async def type_scan(pilot, text: str) -> None:  # noqa: ANN001
    """`text` and Enter at a wedge scanner's pace (the app's clock is a PacedClock)."""
    with pilot.app.clock.scanner():
        await type_keys(pilot, text)
        await pilot.press("enter")


async def type_keys(pilot, text: str) -> None:  # noqa: ANN001
    for ch in text:
        await pilot.press(ch if ch.isalnum() else _keyname(ch))


def _keyname(ch: str) -> str:
    return {
        ":": "colon",
        "-": "minus",
        "+": "plus",
        "/": "slash",
        ".": "full_stop",
        "_": "underscore",
    }[ch]


def message(app: KioskApp) -> str:
    return str(app.query_one("#message").render())


def running(c: StationController) -> None:
    c.sign_in_badge("OP-ADA")
    c.offer_assignment(assignment())
    c.accept_assignment()
    c.start_step()
