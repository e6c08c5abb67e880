"""The main kiosk screens at 80x24 and 120x40, compared as text."""

from __future__ import annotations

import pytest

from cellctl.station.controller import StationController
from cellctl.tui.kiosk.app import KioskApp
from tests.kiosk.conftest import PacedClock
from tests.kiosk.snapshot import assert_snapshot, screen_text
from tests.station.conftest import assignment

SIZES = [(80, 24), (120, 40)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_signed_out(
    cut: StationController, size: tuple[int, int], keys_clock: PacedClock
) -> None:
    app = KioskApp(cut, clock=keys_clock)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert_snapshot(app, f"signed_out_{size[0]}x{size[1]}")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_running_with_counts(
    cut: StationController, size: tuple[int, int], keys_clock: PacedClock
) -> None:
    cut.sign_in_badge("OP-ADA")
    cut.offer_assignment(assignment())
    app = KioskApp(cut, clock=keys_clock)
    async with app.run_test(size=size) as pilot:
        await pilot.press("a", "s", "g", "g", "g", "x", "1")
        await pilot.pause()
        text = screen_text(app)
        assert "RUNNING" in text and "Enamel mug, fox" in text
        assert "Use the 3 mm birch sheet." in text
        assert_snapshot(app, f"running_{size[0]}x{size[1]}")


async def test_scrap_reason_dialog(cut: StationController, keys_clock: PacedClock) -> None:
    cut.sign_in_badge("OP-ADA")
    cut.offer_assignment(assignment())
    app = KioskApp(cut, clock=keys_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a", "s", "x")
        await pilot.pause()
        text = screen_text(app)
        assert "+1 scrap: why?" in text and "Burn mark on the edge" in text
        assert_snapshot(app, "scrap_dialog_80x24")


async def test_keys_dialog(cut: StationController, keys_clock: PacedClock) -> None:
    cut.sign_in_badge("OP-ADA")
    app = KioskApp(cut, clock=keys_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        text = screen_text(app)
        assert "Keys at this cell" in text and "Scrap override" in text
        assert_snapshot(app, "keys_dialog_80x24")
