"""The headless station controller: the cell's state machine and every action on it.

Scans, keys, machine events and assignments all arrive here. Each is checked
against the current state and the operator's role; an accepted action appends its
events to the station's store (one transaction, outbox included) and then tells
the listeners (the kiosk, the link) that something changed. A refused action
raises `Refused` with a reason for the screen and changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cellctl.config.load import LoadedStation
from cellctl.config.models import Operator
from cellctl.domain import codes, conservation
from cellctl.domain.assignment import Assignment, AssignmentError
from cellctl.domain.events import Event
from cellctl.domain.model import Role, role_allows
from cellctl.domain.pins import verify_pin
from cellctl.domain.states import CellState, can_transition
from cellctl.store.db import StoreError, describe_sqlite_error
from cellctl.store.station_store import StationStore

UNDO_WINDOW_S = 30.0


class Refused(Exception):
    """An input the cell will not act on; the message says why and what to do."""


@dataclass
class LastCount:
    event_id: str
    good: int
    scrap: int
    reason: str | None
    at: float


@dataclass
class StationView:
    """Everything a screen needs to draw the cell, copied out of the controller."""

    station: str
    kind: str
    state: CellState
    operator: Operator | None
    assignment: Assignment | None
    assignment_accepted: bool
    good: int
    scrap: int
    downtime_reason_needed: bool
    downtime_reason: str | None
    held_batches: dict[str, str]
    outbox: int
    link: str
    machine: dict[str, Any]
    printer: str
    scanner: str
    message: str
    undo_available: bool
    extra: dict[str, Any] = field(default_factory=dict)


class StationController:
    def __init__(
        self,
        loaded: LoadedStation,
        store: StationStore,
        *,
        clock: Callable[[], float] = time.monotonic,
        undo_window_s: float = UNDO_WINDOW_S,
    ) -> None:
        self.loaded = loaded
        self.site = loaded.site
        self.cell = loaded.id
        self.kind = loaded.config.station.kind
        self.store = store
        self.clock = clock
        self.undo_window_s = undo_window_s
        self.listeners: list[Callable[[], None]] = []
        self.assignment: Assignment | None = None
        self.assignment_accepted = False
        self.operator: Operator | None = None
        self.downtime_reason_needed = False
        self.downtime_open: str | None = None
        self.held_batches: dict[str, str] = {}
        self.last_count: LastCount | None = None
        self.link_state = "not connected"
        self.machine_info: dict[str, Any] = {"link": "none", "state": "none"}
        self.printer_state = "no printer" if loaded.config.printer is None else "ready"
        self.scanner_state = "ready" if loaded.config.scanners else "no scanner"
        self.message = "Scan your badge or press F2 to sign in with a PIN"
        self._restore()

    # -- state restored from the store --------------------------------------------

    def _restore(self) -> None:
        # Only rows that are still open are read (status, holds, downtime, the open
        # step), so start-up costs the same after a day or after a year of history.
        conn = self.store.conn
        status = conn.execute(
            "SELECT state, operator FROM cell_status WHERE cell = ?", (self.cell,)
        ).fetchone()
        self.state = CellState(status[0]) if status else CellState.IDLE
        if status and status[1]:
            self.operator = self.site.operator(status[1])
        for batch, reason in conn.execute(
            "SELECT batch, reason FROM holds WHERE held = 1 ORDER BY batch"
        ):
            self.held_batches[batch] = reason
        down = conn.execute(
            "SELECT reason FROM downtime WHERE ended IS NULL ORDER BY event_id DESC LIMIT 1"
        ).fetchone()
        if down:
            self.downtime_open = down[0]
        # The last accepted assignment that was not completed is still ours.
        step = conn.execute(
            "SELECT assignment FROM open_step WHERE cell = ?", (self.cell,)
        ).fetchone()
        if step:
            try:
                self.assignment = Assignment.from_dict(json.loads(step[0]))
                self.assignment_accepted = True
            except AssignmentError:
                pass
        if self.state == CellState.OFFLINE:
            self.state = CellState.IDLE

    # -- the public API of the cell's record: what the QA flow, the runtime and the
    # -- cell kinds use (they never touch the controller's private parts or fields) --

    def subscribe(self, listener: Callable[[], None]) -> None:
        self.listeners.append(listener)

    def changed(self) -> None:
        """Tell the listeners (the kiosk, the bus link) that what they show changed."""
        for listener in list(self.listeners):
            listener()

    def say(self, message: str) -> None:
        """The line the operator reads next."""
        self.message = message
        self.changed()

    def note_devices(
        self, *, link: str | None = None, printer: str | None = None, scanner: str | None = None
    ) -> bool:
        """The state words of the bus link, the printer and the scanners, as the runtime
        sees them; True when one changed (the caller then calls `changed`)."""
        before = (self.link_state, self.printer_state, self.scanner_state)
        self.link_state = link if link is not None else self.link_state
        self.printer_state = printer if printer is not None else self.printer_state
        self.scanner_state = scanner if scanner is not None else self.scanner_state
        return before != (self.link_state, self.printer_state, self.scanner_state)

    def event(self, etype: str, payload: dict[str, Any], operator: str | None = None) -> Event:
        """An event of this cell, by `operator` (default: whoever is signed in); not yet
        recorded: give it to `commit`."""
        if operator is None and self.operator is not None:
            operator = self.operator.badge
        badge = operator
        return Event(etype, self.cell, payload, operator=badge)

    def _append(self, *events: Event) -> list[Event]:
        try:
            stored = self.store.append(*events)
        except sqlite3.Error as exc:
            raise Refused(describe_sqlite_error(exc)) from None
        except StoreError as exc:
            raise Refused(str(exc)) from None
        return stored

    def _transition(self, target: CellState, reason: str = "") -> Event | None:
        if target == self.state:
            return None
        if not can_transition(self.state, target):
            raise Refused(f"the cell is {self.state}; it cannot go to {target} from here")
        payload: dict[str, Any] = {"from": self.state.value, "to": target.value}
        if reason:
            payload["reason"] = reason
        return self.event("state_changed", payload)

    def commit(
        self, *events: Event | None, state: CellState | None = None, msg: str = ""
    ) -> list[Event]:
        """Record the events in one durable transaction (None entries are skipped), then
        take the new state and message and tell the listeners; `Refused` when the store
        refuses (a full disk says so)."""
        stored = self._append(*[e for e in events if e is not None])
        if state is not None:
            self.state = state
        if msg:
            self.message = msg
        self.changed()
        return stored

    def need_operator(self) -> Operator:
        """The operator signed in, or `Refused` asking for a badge."""
        if self.operator is None:
            raise Refused("sign in first: scan your badge (or F2 for a PIN)")
        return self.operator

    def need_role(self, action: str, what: str) -> Operator:
        """The operator, allowed to do `action`; else the refusal is recorded
        (`access_refused`) and `Refused` says who may do `what`."""
        op = self.need_operator()
        if not role_allows(op.role, action):
            self._append(
                self.event("access_refused", {"action": action, "role": op.role.value}, op.badge)
            )
            raise Refused(f"{what} needs QA or a supervisor; {op.name} is a {op.role.value}")
        return op

    def need_assignment(self) -> Assignment:
        """The accepted run step, or `Refused`."""
        if self.assignment is None or not self.assignment_accepted:
            raise Refused("no run step here yet: wait for an assignment or scan a run ticket")
        return self.assignment

    # -- operators ------------------------------------------------------------------

    def sign_in_badge(self, badge: str) -> Operator:
        op = self.site.operator(badge)
        if op is None:
            raise Refused(f"badge {badge!r} is not on this site's operator list: ask a supervisor")
        return self._sign_in(op, "badge")

    def sign_in_pin(self, badge: str, pin: str) -> Operator:
        op = self.site.operator(badge)
        if op is None or op.pin_hash is None or not verify_pin(pin, op.pin_hash):
            self._append(self.event("access_refused", {"action": "pin_sign_in"}, badge[:64]))
            raise Refused("badge and PIN do not match: try again or scan your badge")
        return self._sign_in(op, "pin")

    def _sign_in(self, op: Operator, how: str) -> Operator:
        events: list[Event] = []
        if self.operator is not None and self.operator.badge != op.badge:
            events.append(self.event("operator_signed_out", {"badge": self.operator.badge}))
        events.append(
            self.event(
                "operator_signed_in",
                {"badge": op.badge, "role": op.role.value, "how": how},
                op.badge,
            )
        )
        self.operator = op
        self.commit(*events, msg=f"Signed in: {op.name} ({op.role.value})")
        return op

    def sign_out(self) -> None:
        op = self.need_operator()
        self.operator = None
        self.commit(
            self.event("operator_signed_out", {"badge": op.badge}, op.badge),
            msg=f"{op.name} signed out. Scan a badge to sign in",
        )

    # -- assignments ----------------------------------------------------------------

    def offer_assignment(self, data: object) -> Assignment:
        """A new assignment from the scheduler (or a scanned run ticket)."""
        a = data if isinstance(data, Assignment) else Assignment.from_dict(data)
        current = self.assignment
        if current is not None and a.assign_id is not None and current.assign_id == a.assign_id:
            return current  # the retained copy again after a reconnect or restart
        if a.kind != self.kind:
            raise Refused(f"this is a {self.kind} cell; that step is for a {a.kind} cell")
        if (
            self.assignment is not None
            and self.assignment_accepted
            and (self.assignment.run_id, self.assignment.step) != (a.run_id, a.step)
        ):
            raise Refused(
                f"finish or release {self.assignment.run_id} step {self.assignment.step} first"
            )
        if self.assignment == a:
            return a
        self.assignment = a
        self.assignment_accepted = False
        self.commit(
            self.event(
                "assignment_received",
                {"run_id": a.run_id, "step": a.step, "assign_id": a.assign_id},
            ),
            msg=f"New step: {a.title or a.sku} ({a.edition_text}). Press A to accept",
        )
        return a

    def accept_assignment(self) -> Assignment:
        op = self.need_operator()
        a = self.assignment
        if a is None:
            raise Refused("there is no assignment to accept")
        if a.batch and a.batch in self.held_batches:
            raise Refused(
                f"batch {a.batch} is on QC hold ({self.held_batches[a.batch]}): "
                "QA must release it before work starts"
            )
        if self.assignment_accepted:
            return a
        self.assignment_accepted = True
        self.commit(
            self.event(
                "assignment_accepted",
                {
                    "run_id": a.run_id,
                    "step": a.step,
                    "assign_id": a.assign_id,
                    "assignment": a.to_dict(),
                },
                op.badge,
            ),
            msg=f"Accepted {a.run_id} step {a.step}. Press S to start",
        )
        return a

    def decline_assignment(self, reason: str) -> None:
        a = self.assignment
        if a is None:
            raise Refused("there is no assignment to decline")
        if self.assignment_accepted and self.state in (CellState.RUNNING, CellState.PAUSED):
            raise Refused("stop the running step before declining it")
        self.assignment = None
        self.assignment_accepted = False
        self.commit(
            self.event(
                "assignment_declined",
                {"run_id": a.run_id, "step": a.step, "assign_id": a.assign_id, "reason": reason},
            ),
            state=None,
            msg=f"Declined {a.run_id} step {a.step}: {reason}",
        )

    def withdraw_assignment(self, why: str) -> None:
        """The scheduler took the step back (this cell was offline or down too long)."""
        a = self.assignment
        if a is None:
            return
        if not self.assignment_accepted:
            self.assignment = None
            self.message = f"Step {a.run_id}/{a.step} withdrawn: {why}"
            self.changed()
            return
        # A cell that is down stays down (the step left because of it); others go idle.
        target = CellState.DOWN if self.state == CellState.DOWN else CellState.IDLE
        events = [
            self.event("run_step_released", {"run_id": a.run_id, "step": a.step, "reason": why}),
            self._transition(target, "step withdrawn"),
        ]
        self.assignment = None
        self.assignment_accepted = False
        self.last_count = None
        self.downtime_reason_needed = False
        self.commit(*events, state=target, msg=f"Step {a.run_id}/{a.step} withdrawn: {why}")

    def start_step(self) -> None:
        self.need_operator()
        a = self.need_assignment()
        if a.batch and a.batch in self.held_batches:
            raise Refused(
                f"batch {a.batch} is on QC hold ({self.held_batches[a.batch]}): "
                "it cannot start until QA releases it"
            )
        if self.downtime_reason_needed:
            raise Refused("choose a downtime reason first")
        if self.state == CellState.RUNNING:
            return
        events = [self._transition(CellState.RUNNING, "step started")]
        if self.state not in (CellState.PAUSED,):
            events.insert(0, self.event("run_step_started", {"run_id": a.run_id, "step": a.step}))
        self.commit(*events, state=CellState.RUNNING, msg="Running: G = +1 good, X = +1 scrap")

    def pause(self) -> None:
        self.need_operator()
        if self.state != CellState.RUNNING:
            raise Refused(f"the cell is {self.state}, not running")
        self.commit(
            self._transition(CellState.PAUSED, "paused"),
            state=CellState.PAUSED,
            msg="Paused. Press S to resume",
        )

    def shortfall(self) -> tuple[int, int]:
        """(done, quantity) of the step here: done < quantity means it is short."""
        a = self.need_assignment()
        good, scrap = self.counts()
        return conservation.accounted(good, scrap, first=a.first_step), a.quantity

    def complete_step(self, *, outcome: str | None = None) -> None:
        """Complete the step; a step short of its quantity is refused (close it short)."""
        op = self.need_operator()
        a = self.need_assignment()
        done, quantity = self.shortfall()
        if done < quantity:
            what = "good" if a.first_step else "good or scrapped"
            raise Refused(
                f"{done} of {quantity} {what} on {a.run_id} step {a.step}: count the rest, "
                "or have QA or a supervisor close the step short with a reason (Z)"
            )
        self._complete(op, a, outcome=outcome)

    def close_step_short(self, reason: str) -> None:
        """End the step short of its quantity on purpose (QA or a supervisor, with why)."""
        a = self.need_assignment()
        op = self.need_role(conservation.CLOSE_SHORT_ACTION, "Closing a step short")
        if not reason.strip():
            raise Refused("closing a step short needs a reason: why are units missing?")
        done, quantity = self.shortfall()
        if done >= quantity:
            self._complete(op, a)
            return
        self._complete(op, a, closed_short=reason.strip()[:300])

    def _complete(
        self,
        op: Operator,
        a: Assignment,
        *,
        outcome: str | None = None,
        closed_short: str | None = None,
    ) -> None:
        good, scrap = self.counts()
        payload: dict[str, Any] = {"run_id": a.run_id, "step": a.step, "good": good, "scrap": scrap}
        if outcome:
            payload["outcome"] = outcome
        if closed_short:
            payload["closed_short"] = closed_short
            payload["quantity"] = a.quantity
        events = [
            self.event("run_step_completed", payload, op.badge),
            self._transition(CellState.IDLE, "step completed"),
        ]
        self.assignment = None
        self.assignment_accepted = False
        self.last_count = None
        short = f" Closed short of {a.quantity}: {closed_short}." if closed_short else ""
        self.commit(
            *events,
            state=CellState.IDLE,
            msg=f"Step done: {good} good, {scrap} scrap.{short} Waiting for the next step",
        )

    # -- counting --------------------------------------------------------------------

    def counts(self) -> tuple[int, int]:
        if self.assignment is None:
            return 0, 0
        row = self.store.conn.execute(
            "SELECT good, scrap FROM step_counts WHERE run_id = ? AND step = ?",
            (self.assignment.run_id, self.assignment.step),
        ).fetchone()
        return (row[0], row[1]) if row else (0, 0)

    def count_event(
        self, good: int, scrap: int, reason: str | None, *, by_machine: bool = False
    ) -> Event:
        op = self.need_operator()
        a = self.need_assignment()
        if self.state not in (CellState.RUNNING, CellState.PAUSED, CellState.SETUP):
            raise Refused(f"the cell is {self.state}: press S to start the step before counting")
        payload: dict[str, Any] = {"run_id": a.run_id, "step": a.step, "good": good, "scrap": scrap}
        if reason:
            payload["reason"] = reason
        have_good, have_scrap = self.counts()
        excess = conservation.count_refusal(
            self.cell,
            good=have_good,
            scrap=have_scrap,
            add_good=good,
            add_scrap=scrap,
            available=None if a.first_step else a.quantity,
            upstream_kind=a.upstream_kind,
            upstream_good=a.upstream_good,
        )
        extra: list[Event] = []
        if excess is not None:
            note = {**payload, "reason": excess, "available": a.quantity}
            if not by_machine:
                # The press is kept as a refused command the supervisor sees.
                self._append(self.event("count_refused", note, op.badge))
                raise Refused(excess)
            # A machine made the part: keep its count and raise the alarm.
            extra.append(self.event("count_exceeds_upstream", {**note, "source": "machine"}))
        (stored, *_) = self.commit(self.event("units_counted", payload, op.badge), *extra)
        self.last_count = LastCount(stored.id, good, scrap, reason, self.clock())
        g, s = self.counts()
        self.message = (
            f"+{good} good ({g} good, {s} scrap). U = undo"
            if good
            else f"+{scrap} scrap: {reason} ({g} good, {s} scrap). U = undo"
        )
        if excess is not None:
            self.message = f"{excess}: kept, and the supervisor is alerted"
        self.changed()
        return stored

    def count_good(self, n: int = 1, *, by_machine: bool = False) -> Event:
        """Count good units; `by_machine`: the machine counted them, so a count beyond
        what came from upstream is kept with an alert instead of refused."""
        if n < 1:
            raise Refused("count at least one unit")
        return self.count_event(n, 0, None, by_machine=by_machine)

    def count_scrap(self, reason: str, n: int = 1) -> Event:
        if n < 1:
            raise Refused("count at least one unit")
        if not reason:
            raise Refused("scrap needs a reason: pick one from the list")
        known = {d.code for d in self.site.defects} | {r.code for r in self.site.downtime_reasons}
        if known and reason not in known:
            raise Refused(f"unknown scrap reason {reason!r}: pick one from the list")
        return self.count_event(0, n, reason)

    def undo_available(self) -> bool:
        return (
            self.last_count is not None and self.clock() - self.last_count.at <= self.undo_window_s
        )

    def undo_last(self) -> None:
        op = self.need_operator()
        a = self.need_assignment()
        last = self.last_count
        if last is None:
            raise Refused("nothing to undo")
        if self.clock() - last.at > self.undo_window_s:
            raise Refused(
                f"the last count is older than {self.undo_window_s:.0f} s: "
                "ask QA or a supervisor to correct it"
            )
        payload: dict[str, Any] = {
            "undoes": last.event_id,
            "run_id": a.run_id,
            "step": a.step,
            "good": last.good,
            "scrap": last.scrap,
        }
        if last.reason:
            payload["reason"] = last.reason
        self.last_count = None
        self.commit(self.event("count_undone", payload, op.badge), msg="Last count undone")

    def reclassify_good_as_scrap(self, reason: str, n: int = 1) -> None:
        """Scrap override: turn counted good units into scrap (QA or supervisor)."""
        op = self.need_role("scrap_override", "Turning good units into scrap")
        a = self.need_assignment()
        good, _ = self.counts()
        if n > good:
            raise Refused(f"only {good} good units are counted on this step")
        self.commit(
            self.event(
                "units_counted",
                {
                    "run_id": a.run_id,
                    "step": a.step,
                    "good": -n,
                    "scrap": n,
                    "reason": reason,
                    "override": True,
                },
                op.badge,
            ),
            msg=f"{n} good unit(s) re-counted as scrap ({reason})",
        )

    # -- defects ---------------------------------------------------------------------

    def record_defect(
        self,
        code: str,
        *,
        note: str | None = None,
        photo: str | None = None,
        serial: str | None = None,
    ) -> Event:
        op = self.need_operator()
        defect = self.site.defect(code)
        if defect is None:
            raise Refused(f"unknown defect code {code!r}: pick one from the catalogue")
        a = self.assignment
        payload: dict[str, Any] = {
            "run_id": a.run_id if a else "",
            "step": a.step if a else None,
            "code": defect.code,
            "severity": defect.severity.value,
            "batch": a.batch if a else None,
        }
        for key, value in (("note", note), ("photo", photo), ("serial", serial)):
            if value:
                payload[key] = value[:500]
        (stored,) = self.commit(
            self.event("defect_recorded", payload, op.badge),
            msg=f"Defect recorded: {defect.description} ({defect.severity.value})",
        )
        return stored

    # -- downtime and the machine ------------------------------------------------------

    def machine_stopped(self, why: str = "") -> None:
        """The machine stopped unexpectedly: the cell is down until a reason is given."""
        if self.state == CellState.DOWN and self.downtime_reason_needed:
            return
        events = [self._transition(CellState.DOWN, why or "machine stopped")]
        self.downtime_reason_needed = True
        self.commit(
            *events,
            state=CellState.DOWN,
            msg=f"Machine stopped{': ' + why if why else ''}. Choose a downtime reason",
        )

    def record_downtime(self, reason_code: str) -> None:
        reason = next((r for r in self.site.downtime_reasons if r.code == reason_code), None)
        if reason is None:
            raise Refused(f"unknown downtime reason {reason_code!r}: pick one from the list")
        events: list[Event | None] = []
        if self.downtime_open is not None:
            events.append(self.event("downtime_ended", {}))
        if self.state != CellState.DOWN:
            events.append(self._transition(CellState.DOWN, reason.text))
        events.append(
            self.event("downtime_started", {"reason": reason.code, "planned": reason.planned})
        )
        self.downtime_reason_needed = False
        self.downtime_open = reason.code
        self.commit(
            *events,
            state=CellState.DOWN,
            msg=f"Downtime: {reason.text}. Press R when the cell is back",
        )

    def end_downtime(self) -> None:
        if self.state != CellState.DOWN:
            raise Refused("the cell is not down")
        if self.downtime_reason_needed:
            raise Refused("choose a downtime reason first")
        target = CellState.PAUSED if self.assignment_accepted else CellState.IDLE
        events = [
            self.event("downtime_ended", {}) if self.downtime_open else None,
            self._transition(target, "back up"),
        ]
        self.downtime_open = None
        self.commit(
            *events,
            state=target,
            msg="Back up." + (" Press S to resume" if self.assignment_accepted else ""),
        )

    def machine_alarm(self, code: str, message: str) -> None:
        self.commit(
            self.event("machine_alarm", {"code": str(code), "message": message}),
            msg=f"Machine alarm: {message}",
        )
        if self.state in (CellState.RUNNING, CellState.PAUSED, CellState.SETUP):
            self.machine_stopped(f"alarm {code}")

    def record_machine_job_started(self, job: str, lines: int) -> None:
        a = self.assignment
        self.commit(
            self.event(
                "machine_job_started",
                {"job": job, "lines": lines, "run_id": a.run_id if a else None},
            ),
            msg=f"Machine job {job} started ({lines} lines)",
        )

    def record_machine_job(
        self, job: str, outcome: str, *, lines_acked: int, reason: str = ""
    ) -> None:
        a = self.assignment
        self.commit(
            self.event(
                "machine_job_finished",
                {
                    "job": job,
                    "outcome": outcome,
                    "lines_acked": lines_acked,
                    "reason": reason[:300],
                    "run_id": a.run_id if a else None,
                },
            ),
            msg=f"Machine job {job}: {outcome}" + (f" ({reason})" if reason else ""),
        )

    def set_machine_info(self, **info: Any) -> None:
        self.machine_info.update(info)
        self.changed()

    # -- holds --------------------------------------------------------------------------

    def hold_batch(self, batch: str, reason: str) -> None:
        op = self.need_operator()
        self.held_batches[batch] = reason
        self.commit(
            self.event("batch_held", {"batch": batch, "reason": reason}, op.badge),
            msg=f"Batch {batch} on hold: {reason}",
        )

    def release_batch(self, batch: str, reason: str) -> None:
        op = self.need_role("qc_release", "Releasing a QC hold")
        if batch not in self.held_batches:
            raise Refused(f"batch {batch} is not on hold")
        del self.held_batches[batch]
        self.commit(
            self.event("batch_released", {"batch": batch, "reason": reason}, op.badge),
            msg=f"Batch {batch} released: {reason}",
        )

    def note_hold(self, batch: str, held: bool, reason: str) -> None:
        """A hold or release heard from elsewhere (another cell, the scheduler)."""
        if held:
            self.held_batches[batch] = reason
        else:
            self.held_batches.pop(batch, None)
        self.changed()

    # -- scans ------------------------------------------------------------------------

    def handle_scan(self, text: str, origin: str = "scanner") -> str:
        """Act on one scanned payload; return what happened, or raise Refused."""
        text = text.strip()
        if not codes.looks_like_ours(text):
            raise Refused(f"unknown code: {text[:40]!r} is not a cellctl badge, ticket or card")
        try:
            code = codes.decode(text)
        except codes.CodeError as exc:
            raise Refused(f"bad code: {exc}") from None
        match code:
            case codes.BadgeCode(badge=badge):
                if self.operator is not None and self.operator.badge == badge:
                    self.sign_out()
                    return "signed out"
                op = self.sign_in_badge(badge)
                return f"signed in {op.name}"
            case codes.CommandCard(command="GOOD+1"):
                self.count_good()
                return "+1 good"
            case codes.CommandCard(command="SCRAP+1"):
                raise Refused("scan a defect-code card for the scrap reason (or press X)")
            case codes.CommandCard(command="UNDO"):
                self.undo_last()
                return "undone"
            case codes.CommandCard(command="PAUSE"):
                self.pause()
                return "paused"
            case codes.CommandCard(command="RESUME"):
                self.start_step()
                return "running"
            case codes.CommandCard(command="DONE"):
                self.complete_step()
                return "step completed"
            case codes.CommandCard(command="HOLD"):
                a = self.need_assignment()
                if not a.batch:
                    raise Refused("this step has no batch to hold")
                self.hold_batch(a.batch, "hold card scanned")
                return f"batch {a.batch} on hold"
            case codes.DefectCard(code=dcode):
                if self.state == CellState.RUNNING and self.assignment_accepted:
                    self.count_scrap(dcode)
                    self.record_defect(dcode)
                    return f"+1 scrap ({dcode}) and defect recorded"
                self.record_defect(dcode)
                return f"defect {dcode} recorded"
            case codes.RunTicket(run_id=run_id, step=step):
                offered = self.assignment
                if (
                    offered is not None
                    and offered.run_id == run_id
                    and step in (None, offered.step)
                ):
                    self.accept_assignment()
                    return f"accepted {run_id}"
                raise Refused(f"run ticket {run_id} is not the step assigned to this cell")
            case codes.MaterialLot(lot=lot):
                op = self.need_operator()
                held = self.assignment
                self.commit(
                    self.event(
                        "material_scanned",
                        {
                            "lot": lot,
                            "run_id": held.run_id if held else None,
                            "step": held.step if held else None,
                        },
                        op.badge,
                    ),
                    msg=f"Material lot {lot} recorded",
                )
                return f"material lot {lot}"
        raise Refused(f"a {type(code).__name__} scan means nothing at a {self.kind} cell")

    # -- the picture for screens and the bus -------------------------------------------

    def view(self) -> StationView:
        good, scrap = self.counts()
        return StationView(
            station=self.cell,
            kind=self.kind,
            state=self.state,
            operator=self.operator,
            assignment=self.assignment,
            assignment_accepted=self.assignment_accepted,
            good=good,
            scrap=scrap,
            downtime_reason_needed=self.downtime_reason_needed,
            downtime_reason=self.downtime_open,
            held_batches=dict(self.held_batches),
            outbox=self.store.outbox_count(),
            link=self.link_state,
            machine=dict(self.machine_info),
            printer=self.printer_state,
            scanner=self.scanner_state,
            message=self.message,
            undo_available=self.undo_available(),
        )

    def status(self) -> dict[str, Any]:
        """The retained status the cell publishes."""
        v = self.view()
        return {
            "cell": self.cell,
            "kind": self.kind,
            "state": v.state.value,
            "operator": v.operator.badge if v.operator else None,
            "run_id": v.assignment.run_id if v.assignment and v.assignment_accepted else None,
            "step": v.assignment.step if v.assignment and v.assignment_accepted else None,
            "good": v.good,
            "scrap": v.scrap,
            "printer": v.printer,
            "scanner": v.scanner,
            "machine": v.machine.get("state"),
            "link": v.machine.get("link"),
        }

    def role(self) -> Role | None:
        return self.operator.role if self.operator else None
