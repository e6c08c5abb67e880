"""Kiosk flows beyond counting, keyboard only: downtime, scrap override, holds, the
machine menu on the GRBL simulator, and a defect with a camera snapshot."""

from __future__ import annotations

from pathlib import Path

from cellctl.domain.codes import BadgeCode, encode
from cellctl.domain.states import CellState
from cellctl.station.controller import StationController
from cellctl.station.runtime import StationRuntime, open_station
from cellctl.tui.kiosk.app import KioskApp
from cellctl.tui.kiosk.dialogs import PickDialog
from tests.kiosk.conftest import PacedClock
from tests.kiosk.helpers import message, running, type_scan
from tests.station.conftest import assignment
from tests.waiting import wait_until


async def test_a_machine_stop_asks_for_the_downtime_reason(
    cut: StationController, keys_clock: PacedClock
) -> None:
    running(cut)
    app = KioskApp(cut, clock=keys_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        cut.machine_stopped("spindle stalled")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, PickDialog), "the kiosk should ask why at once"
        await pilot.press("2")  # JAM
        assert cut.state == CellState.DOWN and not cut.downtime_reason_needed
        await pilot.press("r")
        assert cut.state == CellState.PAUSED
        await pilot.press("s")
        assert cut.state == CellState.RUNNING
    assert cut.store.read_tables()["downtime"][0][1] == "JAM"


async def test_scrap_override_is_refused_to_a_machinist(
    cut: StationController, keys_clock: PacedClock
) -> None:
    running(cut)
    cut.count_good(3)
    app = KioskApp(cut, clock=keys_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("e", "1")
        assert "needs QA or a supervisor" in message(app)
        assert cut.counts() == (3, 0)
        await type_scan(pilot, encode(BadgeCode("OP-QUINN")))
        await pilot.press("e", "1")
        assert cut.counts() == (2, 1)


async def test_hold_and_release_from_the_kiosk(
    cut: StationController, keys_clock: PacedClock
) -> None:
    running(cut)
    app = KioskApp(cut, clock=keys_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("h", *"smear", "enter")
        assert cut.held_batches == {"B-100": "smear"}
        assert "ON QC HOLD" in str(app.query_one("#run").render())
        await pilot.press("h", *"ok", "enter")
        assert "needs QA or a supervisor" in message(app)
        await type_scan(pilot, encode(BadgeCode("OP-QUINN")))
        await pilot.press("h", *"ok", "enter")
        assert cut.held_batches == {}


async def test_machine_menu_and_defect_snapshot(demo_dir: Path, keys_clock: PacedClock) -> None:
    controller = open_station(demo_dir / "cut-01.toml")
    runtime = StationRuntime(controller, connect_broker=False, poll_s=0.1)
    job = str(demo_dir / "jobs" / "MUG-ENAMEL-cut.gcode")
    app = KioskApp(controller, runtime=runtime, clock=keys_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(lambda: controller.machine_info.get("link") == "up")
        controller.sign_in_badge("OP-ADA")
        controller.offer_assignment(assignment(job=job))
        await pilot.press("a", "s")
        await wait_until(lambda: runtime.machine.job is not None)
        await pilot.press("m", "2")  # feed hold
        await wait_until(lambda: runtime.machine.state.status == "Hold")
        await pilot.press("m", "3")  # resume
        await wait_until(
            lambda: any(e.type == "machine_job_finished" for e in controller.store.events())
        )
        done = [e for e in controller.store.events() if e.type == "machine_job_finished"]
        assert done[0].payload["outcome"] == "finished"
        assert done[0].payload["lines_acked"] == 42

        await pilot.press("f", "1", "enter")
        await wait_until(lambda: controller.store.read_tables()["defects"] != [])
        photo = controller.store.read_tables()["defects"][0][8]
        assert photo and Path(photo).is_file() and Path(photo).stat().st_size > 1000


async def test_after_downtime_the_key_bar_shows_the_way_back(
    cut: StationController, keys_clock: PacedClock
) -> None:
    from cellctl.tui.kiosk.widgets import KeyBar
    from tests.kiosk.snapshot import screen_text

    running(cut)
    app = KioskApp(cut, clock=keys_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        cut.machine_stopped("spindle stalled")
        await wait_until(lambda: isinstance(app.screen, PickDialog))
        await pilot.press("2")  # JAM
        await pilot.pause()
        assert cut.state == CellState.DOWN
        bar = " ".join(screen_text(app).splitlines()[-2:])
        assert " R  Back up" in bar, bar
        await pilot.press("r")
        await pilot.pause()
        assert cut.state == CellState.PAUSED
        entries = [what for _, what, _ in app.query_one(KeyBar).entries]
        assert "Back up" not in entries and "Downtime" in entries


async def test_a_cell_is_offered_the_defects_of_its_kind(
    cut: StationController, keys_clock: PacedClock
) -> None:
    running(cut)
    app = KioskApp(cut, clock=keys_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("x")
        await wait_until(lambda: isinstance(app.screen, PickDialog))
        from tests.kiosk.snapshot import screen_text

        offered = screen_text(app)
        assert "Burn mark" in offered and "Surface scratch" in offered
        assert "Smudged print" not in offered  # a print cell's defect, not a cutter's
    assert [d.code for d in cut.site.defects_for("qa")] == [d.code for d in cut.site.defects]
