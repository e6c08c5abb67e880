"""The kiosk driven by keys only, as an operator (and a wedge scanner) would."""

from __future__ import annotations

from cellctl.domain.codes import BadgeCode, CommandCard, encode
from cellctl.station.controller import StationController
from cellctl.tui.kiosk.app import KioskApp
from tests.kiosk.conftest import PacedClock
from tests.kiosk.helpers import message, type_scan
from tests.station.conftest import assignment


async def test_sign_in_by_scan_count_and_undo(
    cut: StationController, keys_clock: PacedClock
) -> None:
    app = KioskApp(cut, clock=keys_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_scan(pilot, encode(BadgeCode("OP-ADA")))
        assert cut.operator is not None and cut.operator.badge == "OP-ADA"
        cut.offer_assignment(assignment())
        await pilot.press("a", "s", "g", "g", "g")
        assert cut.counts() == (3, 0)
        await pilot.press("x")
        await pilot.press("2")  # BURN, second in the demo catalogue
        assert cut.counts() == (3, 1)
        await pilot.press("u")
        assert cut.counts() == (3, 0)
        await type_scan(pilot, encode(CommandCard("GOOD+1")))
        assert cut.counts() == (4, 0)
        assert "GOOD      4" in str(app.query_one("#counts").render())


async def test_refusal_is_shown_and_changes_nothing(
    cut: StationController, keys_clock: PacedClock
) -> None:
    app = KioskApp(cut, clock=keys_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g")
        assert "sign in first" in message(app)
        assert app.query_one("#message").has_class("refused")
        assert cut.store.event_count() == 0


async def test_pin_sign_in_dialog(cut: StationController, keys_clock: PacedClock) -> None:
    app = KioskApp(cut, clock=keys_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        for ch in "OP-ADA":
            await pilot.press(ch if ch.isalnum() else "minus")
        await pilot.press("enter", "1", "1", "1", "1", "enter")
        await pilot.pause()
        assert cut.operator is not None and cut.operator.name == "Ada Machinist"
        assert "Ada Machinist" in str(app.query_one("#status").render())
