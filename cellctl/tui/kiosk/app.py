"""The station kiosk: a Textual front end on a `StationController`.

The kiosk owns no hardware and no broker connection: every key and scan goes
through the controller, and the screen redraws from the controller's view.

Keys on the main screen go through the shared `WedgeDetector` first: a burst of keys
faster than a person ending in Enter is one scan from a keyboard-wedge scanner, and
never a hotkey, even when it starts with a hotkey letter ("https://..." is not Hold).
The detector holds each key until the next key or the scanner gap has passed, so a
hotkey acts only once it is known to be a person's. Keys a person typed that are not
hotkeys (upper-case letters, digits, punctuation) start a code typed by hand, which
Enter submits.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NamedTuple

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer

from cellctl.domain.states import CellState
from cellctl.scan.wedge import ENTER, WedgeDetector, WedgeResult
from cellctl.station.controller import Refused, StationController
from cellctl.station.qa_flow import QAFlow
from cellctl.station.runtime_api import KioskRuntime
from cellctl.tui.kiosk.dialogs import KeysDialog, NoteDialog, PickDialog, PinDialog
from cellctl.tui.kiosk.widgets import (
    AssignmentPanel,
    CountsPanel,
    KeyBar,
    Line,
    MachinePanel,
    QAPanel,
    key_label,
    status_line,
)

TYPED_CODE_IDLE_RESET_S = 2.0  # a code half typed by hand and left is dropped
# The key bar shows what a newcomer needs first, in this order; "?" lists every key.
BAR_KEYS = ("f2", "a", "s", "g", "x", "u", "f", "t", "l", "m", "f3", "question_mark")
QA_BAR_KEYS = ("f2", "a", "s", "o", "y", "n", "k", "h", "l", "t", "f3", "question_mark")


class _HeldKey(NamedTuple):
    key: str
    character: str | None
    t: float


class KioskApp(App[None]):
    CSS_PATH = Path(__file__).parent / "kiosk.tcss"
    TITLE = "cellctl kiosk"
    ENABLE_COMMAND_PALETTE = False

    # Descriptions are what the key bar and the help list show: short, for arm's length.
    BINDINGS = [
        Binding("f2", "pin", "Sign in"),
        Binding("f3", "sign_out", "Sign out"),
        Binding("a", "accept", "Accept"),
        Binding("d", "decline", "Decline"),
        Binding("s", "start", "Start"),
        Binding("p", "pause", "Pause"),
        Binding("c", "complete", "Complete"),
        Binding("z", "close_short", "Close short"),
        Binding("g", "good", "Good +1"),
        Binding("x", "scrap", "Scrap +1"),
        Binding("u", "undo", "Undo"),
        Binding("f", "defect", "Defect"),
        Binding("t", "downtime", "Downtime"),
        Binding("r", "back_up", "Back up"),
        Binding("l", "labels", "Labels"),
        Binding("m", "machine", "Machine"),
        Binding("h", "hold", "Hold"),
        Binding("e", "scrap_override", "Scrap override"),
        Binding("o", "qa_open", "Open batch"),
        Binding("y", "qa_pass", "Pass"),
        Binding("n", "qa_fail", "Fail"),
        Binding("k", "qa_ncr", "NCR sign-off"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(
        self,
        controller: StationController,
        *,
        runtime: KioskRuntime | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.controller = controller
        self.runtime = runtime
        self.clock = clock
        self.ready = asyncio.Event()  # set once the first interactive screen is drawn
        self.wedge = WedgeDetector()
        self.typed_code = ""  # a code a person is typing by hand; Enter submits it
        self._typed_at = 0.0
        self._held: deque[_HeldKey] = deque()  # the keys the detector holds, in order
        self._wedge_timer: Timer | None = None
        self._hotkeys = {b.key: b.action for b in self.BINDINGS if isinstance(b, Binding)}
        self._refused = False
        self._redraw_queued = False
        self._stale = False
        self._view_ready = False
        self._asking_downtime = False
        controller.subscribe(self._on_controller_change)

    # -- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield Line(id="andon")
            yield Line(id="who")
        with Horizontal(id="body"):
            yield AssignmentPanel(id="assignment")
            with Vertical(id="side"):
                yield CountsPanel(id="counts")
                if self._qa is not None:
                    yield QAPanel(id="qa")
                else:
                    yield MachinePanel(id="machine")
        yield Line(id="message")
        yield Line(id="status")
        yield KeyBar(self._key_entries(self._bar_keys()))

    async def on_mount(self) -> None:
        if self.runtime is not None:
            await self.runtime.start()
        self.query_one("#counts").border_title = "Counts"
        if self._qa is not None:
            self.query_one("#qa").border_title = "Inspection (ISO 2859-1)"
        else:
            self.query_one("#machine").border_title = "Machine"
        self._view_ready = True
        self.refresh_view()
        self.set_interval(1.0, self.refresh_view)
        self.call_after_refresh(self.ready.set)

    async def on_unmount(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()

    def on_resize(self, event: events.Resize) -> None:
        self.screen.set_class(event.size.width >= 110, "-wide")

    def _on_controller_change(self) -> None:
        # The controller may change from a task or thread outside the app's context
        # (a scanner, the broker link, the machine): redraw on the app's own turn,
        # and only once however many changes came in meanwhile.
        self._stale = True
        if self._redraw_queued or not self.is_running:
            return
        self._redraw_queued = True
        self.call_later(self._redraw)

    def _redraw(self) -> None:
        self._redraw_queued = False
        if self._view_ready and self._stale:  # an action may have redrawn already
            self.refresh_view()

    def refresh_view(self) -> None:
        self._stale = False
        v = self.controller.view()
        andon = self.query_one("#andon", Line)
        andon.show_text(v.state.value.upper())
        state_class = f"state-{v.state.value}"
        if not andon.has_class(state_class):
            andon.set_classes(state_class)
        who = f"[b]{v.station}[/b] · {v.kind} cell"
        who += f" · {v.operator.name}" if v.operator else " · [b]scan your badge or F2[/b]"
        self.query_one("#who", Line).show_text(who)
        self.query_one(AssignmentPanel).show(v)
        self.query_one(CountsPanel).show(v)
        if self._qa is not None:
            self.query_one(QAPanel).show_qa(self._qa.view())
        else:
            self.query_one(MachinePanel).show(v)
        message = self.query_one("#message", Line)
        text = v.message
        if self.typed_code:
            text = f"typing a code: {self.typed_code}  (Enter sends it, Esc clears)"
        message.show_text(text)
        message.set_class(self._refused and not self.typed_code, "refused")
        self.query_one("#status", Line).show_text(status_line(v))
        bar = self.query_one(KeyBar)
        if (entries := self._key_entries(self._bar_keys())) != bar.entries:
            bar.entries = entries
            bar.refresh(layout=True)
        if v.downtime_reason_needed and len(self.screen_stack) == 1 and not self._asking_downtime:
            self._asking_downtime = True
            self.call_later(self.action_downtime)

    def _bar_keys(self) -> tuple[str, ...]:
        keys: tuple[str, ...] = QA_BAR_KEYS if self._qa is not None else BAR_KEYS
        if self.controller.state == CellState.DOWN:
            # Down, the downtime is recorded: the way back ("r Back up") takes its place.
            keys = tuple("r" if k == "t" else k for k in keys)
        return keys

    def _key_entries(self, keys: tuple[str, ...] | None = None) -> list[tuple[str, str, str]]:
        """(key as shown, description, action) of the bindings that mean something at
        this cell: `keys` in that order, or every one."""
        by_key = {b.key: b for b in self.BINDINGS if isinstance(b, Binding)}
        chosen = [by_key[k] for k in keys] if keys else list(by_key.values())
        return [
            (key_label(b.key), b.description, b.action)
            for b in chosen
            if self.check_action(b.action, ())
        ]

    @property
    def _qa(self) -> QAFlow | None:
        return self.runtime.qa if self.runtime is not None else None

    @property
    def _qa_flow(self) -> QAFlow:
        qa = self._qa
        assert qa is not None, "the QA keys are offered only at a QA cell (check_action)"
        return qa

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Show each cell only the keys that mean something there.
        if action.startswith("qa_"):
            return self._qa is not None
        if action == "machine":
            return self._qa is None
        return True

    # -- doing things through the controller -------------------------------------------

    def _do(self, fn: Callable[[], object]) -> object | None:
        try:
            result = fn()
        except Refused as exc:
            self._refuse(str(exc))
            return None
        self._refused = False
        self.refresh_view()
        return result

    def _refuse(self, reason: str) -> None:
        self.controller.say(reason)
        self._refused = True
        self.bell()
        self.refresh_view()

    async def _do_async(self, fn: Callable[[], Awaitable[object]]) -> object | None:
        try:
            result = await fn()
        except Refused as exc:
            self._refuse(str(exc))
            return None
        self._refused = False
        self.refresh_view()
        return result

    # -- keys: a scanner's burst or a person's hotkeys ----------------------------------

    async def on_key(self, event: events.Key) -> None:
        if len(self.screen_stack) > 1:
            return  # a dialog reads its own keys
        if event.key == "escape" and self.typed_code:
            event.stop()
            self.typed_code = ""
            self.refresh_view()
            return
        char = "\r" if event.key == "enter" else event.character
        if char is None or not (char in ENTER or char.isprintable()):
            return  # F-keys and the like: never part of a scan
        # Every character waits for the detector's verdict, hotkeys included: acting on
        # `h` now would hold the batch when "https://..." is being scanned.
        event.stop()
        event.prevent_default()
        now = self.clock()
        self._held.append(_HeldKey(event.key, event.character, now))
        await self._take(self.wedge.key(char, now))
        # Asked again at once, so a key is not kept waiting when the clock already
        # shows the scanner gap has passed; otherwise the timer asks.
        await self._take(self.wedge.pending(self.clock()))
        self._arm_wedge_timer()

    async def _wedge_timeout(self) -> None:
        self._wedge_timer = None
        await self._take(self.wedge.pending(self.clock()))
        self._arm_wedge_timer()

    def _arm_wedge_timer(self) -> None:
        if not self._held:
            if self._wedge_timer is not None:
                self._wedge_timer.stop()
                self._wedge_timer = None
            return
        if self._wedge_timer is None:
            # Just past the gap: `pending` wants the last key strictly older than it.
            self._wedge_timer = self.set_timer(self.wedge.max_gap_s + 0.001, self._wedge_timeout)

    async def _take(self, result: WedgeResult) -> None:
        if result.scan is not None:
            self._held.clear()  # the burst and its Enter were the scan
            self.handle_scan(result.scan, "wedge")
        # `typed` answers for the oldest held keys, one character per key (Enter too).
        for _ in range(min(len(result.typed), len(self._held))):
            await self._person_key(self._held.popleft())

    async def _person_key(self, held: _HeldKey) -> None:
        if len(self.screen_stack) > 1:
            # A hotkey just before this key opened a dialog: the key is the dialog's.
            self.post_message(events.Key(held.key, held.character))
            return
        if self.typed_code and held.t - self._typed_at > TYPED_CODE_IDLE_RESET_S:
            self.typed_code = ""
            self.refresh_view()
        if held.key == "enter":
            if self.typed_code:
                text, self.typed_code = self.typed_code, ""
                self.handle_scan(text, "keyboard")
            return
        char = held.character or ""
        if not self.typed_code:
            if held.key in self._hotkeys:
                await self.run_action(self._hotkeys[held.key])
                return
            if char == " ":
                return
        self.typed_code += char
        self._typed_at = held.t
        self.refresh_view()

    def handle_scan(self, text: str, origin: str) -> None:
        runtime = self.runtime
        if runtime is not None:
            result = self._do(lambda: runtime.handle_scan(text, origin))
        else:
            result = self._do(lambda: self.controller.handle_scan(text, origin))
        if result is not None:
            self.controller.say(f"{result} ({origin})")
            self.refresh_view()

    # -- actions -----------------------------------------------------------------------

    def action_pin(self) -> None:
        def done(answer: tuple[str, str] | None) -> None:
            if answer:
                self._do(lambda: self.controller.sign_in_pin(*answer))

        self.push_screen(PinDialog(), done)

    def action_sign_out(self) -> None:
        self._do(self.controller.sign_out)

    def action_accept(self) -> None:
        self._do(self.controller.accept_assignment)

    def action_decline(self) -> None:
        def done(reason: str | None) -> None:
            if reason:
                self._do(lambda: self.controller.decline_assignment(reason))

        if self.controller.assignment is None:
            self._refuse("there is no assignment to decline")
            return
        self.push_screen(NoteDialog("Why decline this step?", "reason", allow_empty=False), done)

    def action_close_short(self) -> None:
        """End the step short of its quantity (QA or a supervisor, with a reason)."""

        def done(reason: str | None) -> None:
            if reason:
                self._do(lambda: self.controller.close_step_short(reason))

        c = self.controller
        if c.assignment is None or not c.assignment_accepted:
            self._refuse("no run step here to close")
            return
        done_n, quantity = c.shortfall()
        self.push_screen(
            NoteDialog(
                f"Close {c.assignment.run_id} step {c.assignment.step} short at {done_n} of "
                f"{quantity}? Why are units missing?",
                "reason",
                allow_empty=False,
            ),
            done,
        )

    def action_start(self) -> None:
        if self.runtime is not None:
            self.run_worker(self._do_async(self.runtime.start_step), exclusive=True)
        else:
            self._do(self.controller.start_step)

    def action_pause(self) -> None:
        self._do(self.controller.pause)

    def action_complete(self) -> None:
        # At QA the step closes with the lot's outcome and its units (QAFlow.close_step).
        self._do(self._qa.close_step if self._qa is not None else self.controller.complete_step)

    def action_good(self) -> None:
        self._do(self.controller.count_good)

    def action_undo(self) -> None:
        self._do(self.controller.undo_last)

    def _reason_options(self) -> list[tuple[str, str]]:
        defects = self.controller.site.defects_for(self.controller.kind)
        return [(d.code, f"{d.description} ({d.severity.value})") for d in defects]

    def action_scrap(self) -> None:
        def done(code: str | None) -> None:
            if code:
                self._do(lambda: self.controller.count_scrap(code))

        if self._precheck_count():
            self.push_screen(PickDialog("+1 scrap: why?", self._reason_options()), done)

    def action_scrap_override(self) -> None:
        """QA or a supervisor turns a counted good unit into scrap (role-checked)."""

        def done(code: str | None) -> None:
            if code:
                self._do(lambda: self.controller.reclassify_good_as_scrap(code))

        self.push_screen(
            PickDialog("Scrap override: a good unit becomes scrap. Why?", self._reason_options()),
            done,
        )

    def _precheck_count(self) -> bool:
        c = self.controller
        if c.operator is None:
            self._refuse("sign in first: scan your badge (or F2 for a PIN)")
            return False
        if c.state not in (CellState.RUNNING, CellState.PAUSED, CellState.SETUP):
            self._refuse(f"the cell is {c.state}: press S to start the step before counting")
            return False
        return True

    def _defect_then(
        self, title: str, record: Callable[[str, str | None, str | None], object]
    ) -> None:
        """Pick a defect code, take an optional note, snap the camera, then record."""

        def picked(code: str | None) -> None:
            if not code:
                return

            def noted(note: str | None) -> None:
                if note is None:
                    return
                photo = None
                if self.runtime is not None:
                    photo = self.runtime.snapshot()
                self._do(lambda: record(code, note or None, photo))

            self.push_screen(NoteDialog(f"{code}: a note?", "optional note"), noted)

        self.push_screen(PickDialog(title, self._reason_options()), picked)

    def action_defect(self) -> None:
        if self.controller.operator is None:
            self._refuse("sign in first: scan your badge (or F2 for a PIN)")
            return
        self._defect_then(
            "Record a defect (or scan a defect-code card)",
            lambda code, note, photo: self.controller.record_defect(code, note=note, photo=photo),
        )

    def action_downtime(self) -> None:
        def done(code: str | None) -> None:
            self._asking_downtime = False
            if code:
                self._do(lambda: self.controller.record_downtime(code))

        reasons = [
            (r.code, r.text + (" (planned)" if r.planned else ""))
            for r in self.controller.site.downtime_reasons
        ]
        self.push_screen(PickDialog("Why is the cell stopped?", reasons), done)

    def action_back_up(self) -> None:
        self._do(self.controller.end_downtime)

    def action_hold(self) -> None:
        a = self.controller.assignment
        if a is None or not a.batch:
            self._refuse("no batch here to hold or release")
            return
        if a.batch in self.controller.held_batches:

            def released(reason: str | None) -> None:
                if reason:
                    self._do(lambda: self.controller.release_batch(a.batch or "", reason))

            self.push_screen(
                NoteDialog(f"Release batch {a.batch}: reason", allow_empty=False), released
            )
        else:

            def held(reason: str | None) -> None:
                if reason:
                    self._do(lambda: self.controller.hold_batch(a.batch or "", reason))

            self.push_screen(NoteDialog(f"Hold batch {a.batch}: reason", allow_empty=False), held)

    def action_labels(self) -> None:
        runtime = self.runtime
        if runtime is None or not runtime.has_printer:
            self._refuse("this cell has no label printer configured")
            return
        options = [
            ("units", "Print unit labels (one per good unit not yet labelled)"),
            ("batch", "Print the batch traveller label"),
            ("reprint", "Reprint a unit label (QA or supervisor)"),
            ("void", "Void a spoiled label (QA or supervisor)"),
        ]

        def chosen(what: str | None) -> None:
            if what in ("units", "batch"):
                self.run_worker(self._do_async(lambda: runtime.print_labels(what)))
            elif what in ("reprint", "void"):

                def serial_given(serial: str | None) -> None:
                    if serial:
                        self.run_worker(self._do_async(lambda: runtime.print_labels(what, serial)))

                self.push_screen(
                    NoteDialog(f"{what.title()}: which serial?", allow_empty=False), serial_given
                )

        self.push_screen(PickDialog("Labels", options), chosen)

    def action_machine(self) -> None:
        runtime = self.runtime
        machine = runtime.machine_actions if runtime is not None else None
        if runtime is None or machine is None:
            self._refuse("this cell has no machine bridge configured")
            return
        offered = [
            ("start_job", "Start the step's job on the machine"),
            ("hold", "Feed hold"),
            ("resume", "Resume"),
            ("stop", "Stop the job"),
            ("unlock", "Unlock after an alarm ($X)"),
            ("home", "Home the machine ($H)"),
            ("zero", "Set work zero where the machine stands (after a reset)"),
        ]
        can = set(machine.actions())  # only what this machine can do now
        options = [(key, text) for key, text in offered if key in can]

        def chosen(what: str | None) -> None:
            if what:
                self.run_worker(self._do_async(lambda: runtime.machine_action(what)))

        self.push_screen(PickDialog("Machine", options), chosen)

    def action_help(self) -> None:
        self.push_screen(KeysDialog(self._key_entries()))

    # -- the QA cell -------------------------------------------------------------------

    def action_qa_open(self) -> None:
        a = self.controller.assignment
        if a is None or not a.batch:
            self._refuse("no assigned batch: scan a batch traveller (CB:…)")
            return
        batch = a.batch
        self._do(lambda: self._qa_flow.open_batch(batch))

    def action_qa_pass(self) -> None:
        view = self._qa_flow.view()
        if view.current is None:
            self._refuse("scan the unit to inspect first")
            return
        items = list(view.checklist)
        results: dict[str, bool | float] = {}

        def ask(index: int) -> None:
            while index < len(items) and items[index].kind != "measure":
                results[items[index].id] = True
                index += 1
            if index == len(items):
                self._do(lambda: self._qa_flow.record_pass(results))
                return
            item = items[index]

            def answered(value: str | None) -> None:
                if value is None:
                    return
                try:
                    results[item.id] = float(value.replace(",", "."))
                except ValueError:
                    self._refuse(f"{value!r} is not a number: measure {item.text} again")
                    return
                ask(index + 1)

            self.push_screen(
                NoteDialog(f"{item.text} ({item.unit}), nominal {item.nominal:g}",
                           "measured value", allow_empty=False),
                answered,
            )  # fmt: skip

        ask(0)

    def action_qa_fail(self) -> None:
        if self._qa_flow.view().current is None:
            self._refuse("scan the unit to inspect first")
            return
        self._defect_then(
            "Fail: which defect?",
            lambda code, note, photo: self._qa_flow.record_fail([code], note=note, photo=photo),
        )

    def action_qa_ncr(self) -> None:
        ncrs = self._qa_flow.open_ncrs()
        if not ncrs:
            self._refuse("no open non-conformance to sign off")
            return
        choices = [(n["ncr_id"], f"{n['ncr_id']}: {n['reason']}"[:60]) for n in ncrs]
        dispositions = [
            ("rework", "Rework (releases the batch)"),
            ("use_as_is", "Use as is (releases the batch)"),
            ("scrap", "Scrap (keeps the hold)"),
            ("return_to_supplier", "Return to supplier (keeps the hold)"),
        ]

        def picked(ncr_id: str | None) -> None:
            if not ncr_id:
                return

            def disposed(disposition: str | None) -> None:
                if not disposition:
                    return

                def noted(note: str | None) -> None:
                    if note:
                        self._do(lambda: self._qa_flow.close_ncr(ncr_id, disposition, note))

                self.push_screen(NoteDialog("Sign-off note", allow_empty=False), noted)

            self.push_screen(PickDialog(f"{ncr_id}: disposition", dispositions), disposed)

        self.push_screen(PickDialog("Sign off a non-conformance", choices), picked)

    @work(exclusive=False)
    async def run_coroutine(self, coro: Awaitable[object]) -> None:
        await coro


def build_kiosk(
    station: str | Path,
    *,
    db: str | Path | None = None,
    broker_url: str | None = None,
    connect_broker: bool = True,
) -> KioskApp:
    """The kiosk of one station file with its runtime (broker link, printer, machine,
    scanners), as `cellctl kiosk --station FILE` runs it."""
    from cellctl.station.runtime import StationRuntime, open_station

    controller = open_station(station, db=db)
    runtime = StationRuntime(controller, broker_url=broker_url, connect_broker=connect_broker)
    app = KioskApp(controller, runtime=runtime)
    runtime.attach_app(app)
    return app
