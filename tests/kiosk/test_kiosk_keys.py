"""Keys at the kiosk: a wedge scanner's burst is one scan and never a hotkey, a
person's keys are hotkeys, and every key a newcomer needs can be found at 80x24."""

from __future__ import annotations

from cellctl.domain.codes import BadgeCode, encode
from cellctl.domain.states import CellState
from cellctl.station.controller import StationController
from cellctl.station.runtime import StationRuntime
from cellctl.tui.kiosk.app import KioskApp
from cellctl.tui.kiosk.dialogs import KeysDialog, NoteDialog
from cellctl.tui.kiosk.widgets import KeyBar
from tests.kiosk.conftest import FakeClock, PacedClock
from tests.kiosk.helpers import message, running, type_keys, type_scan
from tests.kiosk.snapshot import screen_text
from tests.waiting import wait_until

# Starts with h (Hold) and holds s, t, p, x, u, e, m: hotkeys all, if typed.
URL = "https://example.com/u/42"


class ScanSpy(StationRuntime):
    """The station runtime (no broker) that also records what reaches `handle_scan`."""

    def __init__(self, controller: StationController) -> None:
        super().__init__(controller, connect_broker=False)
        self.seen: list[tuple[str, str]] = []

    def handle_scan(self, text: str, origin: str) -> str:
        self.seen.append((text, origin))
        return super().handle_scan(text, origin)


async def test_a_burst_starting_with_a_hotkey_is_one_scan_and_acts_on_nothing(
    cut: StationController, keys_clock: PacedClock
) -> None:
    running(cut)
    events_before = cut.store.event_count()
    spy = ScanSpy(cut)
    app = KioskApp(cut, runtime=spy, clock=keys_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_scan(pilot, URL)
        await pilot.pause()
        assert spy.seen == [(URL, "wedge")]
        assert app.screen_stack == [app.screen] and not isinstance(app.screen, NoteDialog)
        assert "unknown code" in message(app)
    assert cut.held_batches == {}
    assert cut.state == CellState.RUNNING and cut.counts() == (0, 0)
    assert cut.store.event_count() == events_before


async def test_the_same_keys_at_a_persons_pace_are_hotkeys(
    cut: StationController, keys_clock: PacedClock
) -> None:
    running(cut)
    spy = ScanSpy(cut)
    app = KioskApp(cut, runtime=spy, clock=keys_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("h")
        assert isinstance(app.screen, NoteDialog), "h should ask why the batch is held"
        # The rest of the keys are the hold reason typed into the dialog.
        await type_keys(pilot, URL[1:])
        await pilot.press("enter")
        await pilot.pause()
    assert cut.held_batches == {"B-100": URL[1:]}
    assert spy.seen == []


async def test_a_hotkey_acts_only_once_the_scanner_gap_has_passed(
    cut: StationController,
) -> None:
    running(cut)
    clock = FakeClock()  # moves only when told to
    app = KioskApp(cut, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g")
        await pilot.pause()
        assert cut.counts() == (0, 0), "g may be the first key of a scan: it must wait"
        clock.now += 0.01
        await pilot.press("g")
        assert cut.counts() == (0, 0)
        clock.now += 0.2  # the next key comes a person's pause later: both were typed
        await pilot.press("g")
        assert cut.counts() == (2, 0)
        clock.now += 0.2  # no next key: the timer decides for the last one
        await wait_until(lambda: cut.counts() == (3, 0), timeout=5)


async def test_a_code_typed_by_hand_is_a_keyboard_scan(
    cut: StationController, keys_clock: PacedClock
) -> None:
    spy = ScanSpy(cut)
    app = KioskApp(cut, runtime=spy, clock=keys_clock)
    badge = encode(BadgeCode("OP-ADA"))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_keys(pilot, badge[:4])
        assert "typing a code: CO:O" in message(app)
        await type_keys(pilot, badge[4:])
        await pilot.press("enter")
    assert spy.seen == [(badge, "keyboard")]
    assert cut.operator is not None and cut.operator.badge == "OP-ADA"


async def test_every_key_a_newcomer_needs_is_on_screen_at_80x24(
    cut: StationController, keys_clock: PacedClock
) -> None:
    running(cut)
    app = KioskApp(cut, clock=keys_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        bar = screen_text(app).splitlines()[-2:]
        shown = " ".join(bar)
        for key, what in [
            ("F2", "Sign in"),
            ("A", "Accept"),
            ("S", "Start"),
            ("G", "Good +1"),
            ("X", "Scrap +1"),
            ("U", "Undo"),
            ("F", "Defect"),
            ("T", "Downtime"),
            ("L", "Labels"),
            ("M", "Machine"),
            ("F3", "Sign out"),
            ("?", "Help"),
        ]:
            assert f" {key}  {what}" in shown, f"{key} {what} missing from {bar}"
        assert all(len(line) <= 80 for line in bar)

        await pilot.press("question_mark")
        assert isinstance(app.screen, KeysDialog)
        listed = screen_text(app)
        for what in ("Hold", "Pause", "Complete", "Decline", "Back up", "Scrap override"):
            assert what in listed, f"{what} missing from the key list"
        assert "Pass" not in listed, "QA keys are not listed at a cut cell"
        await pilot.press("escape")
        assert not isinstance(app.screen, KeysDialog)

        # A touch on a key in the bar does what the key does.
        column = bar[1].index(" L ") + 1
        assert await pilot.click(KeyBar, offset=(column, 1))
        assert "no label printer" in message(app)
