"""The kiosk and conservation of units (issue 16): a count beyond what came from
upstream is refused on screen with the numbers; a short step is completed only when
someone allowed closes it short (Z) with a reason."""

from __future__ import annotations

from cellctl.domain.codes import BadgeCode, encode
from cellctl.station.controller import StationController
from cellctl.tui.kiosk.app import KioskApp
from tests.kiosk.conftest import PacedClock
from tests.kiosk.helpers import message, type_keys, type_scan
from tests.station.conftest import assignment


async def test_an_over_count_is_refused_on_screen_and_recorded(
    cut: StationController, keys_clock: PacedClock
) -> None:
    app = KioskApp(cut, clock=keys_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_scan(pilot, encode(BadgeCode("OP-ADA")))
        cut.offer_assignment(
            assignment(step=1, quantity=2, step_quantity=2, upstream_good=2, upstream_kind="print")
        )
        await pilot.press("a", "s", "g", "g", "g")
        assert cut.counts() == (2, 0)
        assert "cut-01 would have 3 good, but only 2 came from print" in message(app)
        assert app.query_one("#message").has_class("refused")
        refused = [e for e in cut.store.events() if e.type == "count_refused"]
        assert len(refused) == 1


async def test_a_short_step_is_closed_short_with_a_reason(
    cut: StationController, keys_clock: PacedClock
) -> None:
    app = KioskApp(cut, clock=keys_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_scan(pilot, encode(BadgeCode("OP-ADA")))
        cut.offer_assignment(assignment(quantity=5))
        await pilot.press("a", "s", "g", "g", "c")
        assert "2 of 5 good on R-100 step 0" in message(app)
        assert cut.assignment is not None
        await type_scan(pilot, encode(BadgeCode("OP-SAM")))
        await pilot.press("z")
        await type_keys(pilot, "stockout")
        await pilot.press("enter")
        await pilot.pause()
        assert cut.assignment is None
        (done,) = [e for e in cut.store.events() if e.type == "run_step_completed"]
        assert (done.payload["good"], done.payload["closed_short"]) == (2, "stockout")
        assert done.operator == "OP-SAM"
