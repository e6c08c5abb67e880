"""The kiosk's machine menu offers only what the machine can do (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellctl.station.controller import Refused
from cellctl.station.runtime import StationRuntime, open_station
from cellctl.tui.kiosk.app import KioskApp
from cellctl.tui.kiosk.dialogs import PickDialog
from tests.kiosk.conftest import PacedClock
from tests.waiting import wait_until


async def test_machine_menu_hides_home_on_a_machine_without_homing(
    demo_dir: Path, keys_clock: PacedClock
) -> None:
    controller = open_station(demo_dir / "cut-01.toml")  # the demo's GRBL: $22=0
    runtime = StationRuntime(controller, connect_broker=False, poll_s=0.1)
    app = KioskApp(controller, runtime=runtime, clock=keys_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(lambda: controller.machine_info.get("link") == "up")
        await wait_until(lambda: runtime.machine.homing is False)
        await pilot.press("m")
        await wait_until(lambda: isinstance(app.screen, PickDialog))
        offered = [key for key, _ in app.screen.options]
        assert offered[:4] == ["start_job", "hold", "resume", "stop"]
        assert "home" not in offered and "unlock" not in offered and "zero" in offered
        await pilot.press("escape")
        # Asked anyway (a script, an old menu), the refusal says what error:5 means.
        controller.sign_in_badge("OP-ADA")
        with pytest.raises(Refused, match="homing is not enabled"):
            await runtime.machine_action("home")
