"""GRBL 1.1 driver: character-counting streaming, real-time commands, alarms, status.

Character counting keeps the sum of unacknowledged line lengths within GRBL's
127-byte receive ring, so the controller never starves and never overflows.
Lines that write GRBL's settings memory go one at a time (send-response): the
AVR stops listening to the serial port while it writes EEPROM. Lines go out
without their spaces (GRBL discards them anyway, and bCNC and UGS send them so),
so a line fits the ring if GRBL could take it at all.

After an `error:` reply the job stops at once: feed hold, wait until the machine
stands still, then a soft reset discards the lines already queued behind the
bad one (a reset while held keeps the position). The result says where it stopped.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from firmware_bridge.grbl_codes import grbl_alarm_message, grbl_error_message
from firmware_bridge.jobs import Job, JobRefused, LineRules
from firmware_bridge.link import SerialLink
from firmware_bridge.machine import Machine, wait_for

RX_SIZE = 127
PLANNER_SIZE = 15
BANNER = re.compile(r"^Grbl (\S+) \[.*\]")
EEPROM = re.compile(r"^\$(\d+=|N|RST=)|G10L(2|20)|G28\.1|G30\.1", re.IGNORECASE)
DWELL = re.compile(r"G0*4P([\d.]+)", re.IGNORECASE)
# Setting the work zero at the current place: the operator's confirmation of where the part is.
ZEROING = re.compile(r"^(G10L20P\d|G92)(?=.*X)(?=.*Y)(?=.*Z)", re.IGNORECASE)
HALT_TIMEOUT = 10.0


def writes_eeprom(text: str) -> bool:
    return bool(EEPROM.search(text.replace(" ", "").upper()))


def parse_status(text: str) -> tuple[str, str, dict[str, str]]:
    """`<Hold:0|MPos:1,2,3|Bf:15,127>` -> ("Hold", "0", {"MPos": "1,2,3", "Bf": "15,127"})."""
    parts = text.strip("<>").split("|")
    name, _, sub = parts[0].partition(":")
    fields = {}
    for part in parts[1:]:
        k, _, v = part.partition(":")
        fields[k] = v
    return name, sub, fields


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(","))


@dataclass
class Pending:
    size: int
    index: int | None  # job line index, or None for a console command
    eeprom: bool = False
    dwell: float = 0.0
    reply: list[str] = field(default_factory=list)
    future: asyncio.Future[list[str]] | None = None


class GrblMachine(Machine):
    driver = "grbl"
    rules = LineRules(max_len=79, forbidden="?!~", count_spaces=False)

    def __init__(
        self,
        link: SerialLink,
        *,
        mode: str = "char_counting",
        poll_interval: float = 0.2,
        stop_on_error: bool = True,
        stall_timeout: float = 30.0,
        drift_grace: float = 1.5,
        **kw: Any,
    ) -> None:
        super().__init__(link, **kw)
        if mode not in ("char_counting", "send_response"):
            raise ValueError("mode is char_counting or send_response")
        self.mode = mode
        self.poll_interval = poll_interval
        self.stop_on_error = stop_on_error
        self.stall_timeout = stall_timeout
        self.drift_grace = drift_grace
        self.version = ""
        self._inflight: deque[Pending] = deque()
        self._inflight_bytes = 0
        self._expect_reset = False
        self._critical = False
        self._draining = False
        self._last_activity = time.monotonic()
        self._last_status = time.monotonic()
        self._wco: tuple[float, ...] = (0.0, 0.0, 0.0)
        self._poller: asyncio.Task[None] | None = None
        self._halting = False
        self._had_session = False  # greeted once on an earlier opening of the port
        self._reopened = False
        self._lost_by_reset = False  # only homing or a confirmed zero clears this loss
        self._booting = False  # a banner came and no status report since
        self.homing: bool | None = None  # $22, once known
        self.max_inflight_bytes = 0

    # ---- connection ------------------------------------------------------------------

    def _on_link_up(self) -> None:
        self._clear_inflight("link reopened")
        self._reopened = self._had_session
        self.homing = None  # the port may now lead to another board
        self.spawn(self._greet())

    def _on_link_down(self) -> None:
        self._clear_inflight("link lost")
        if self._poller:
            self._poller.cancel()
            self._poller = None

    async def _greet(self) -> None:
        # Opening the port resets an Arduino (banner follows); a board that did not
        # reset answers a status poll. Nothing else is sent on connect.
        if not await wait_for(lambda: self._greeted, 1.0) and self._write(b"?", log=False):
            await wait_for(lambda: self._greeted, 2.0)
        if self._greeted and self._poller is None:
            self._poller = self.spawn(self._poll())

    def _mark_greeted(self) -> None:
        if not self._greeted:
            self._greeted = True
            self._had_session = True
            self.emit("connected", f"GRBL {self.version or ''} answering on {self.link.url}")

    async def _poll(self) -> None:
        while self.link_up:
            self._last_status_sent = time.monotonic()
            self._write(b"?", log=False)
            self._check_stall()
            await asyncio.sleep(self.poll_interval)

    # ---- receiving -----------------------------------------------------------------

    def _line(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        if text.startswith("<") and text.endswith(">"):
            try:
                self._status(text)
            except ValueError as exc:  # line noise inside a report (found by bench.fuzz)
                self.emit("message", f"unreadable status report ignored ({exc}): {text[:80]!r}")
        elif text == "ok":
            self._ack(None)
        elif text.startswith("error:"):
            code = int(text[6:]) if text[6:].isdigit() else -1
            self._ack(code)
        elif text.startswith("ALARM:"):
            code = int(text[6:]) if text[6:].isdigit() else -1
            self._alarm(code)
        elif banner := BANNER.match(text):
            self.version = banner.group(1)
            self._banner()
        elif text.startswith("[MSG:"):
            msg = text[5:-1]
            if msg == "Reset to continue":
                self._critical = True
            elif msg == "'$H'|'$X' to unlock" and self._booting:
                self.homing = True  # GRBL boots locked only when homing is enabled
                self._booting = False
            elif "unlock" in msg and self.state.alarm is None:
                self.state.alarm = (0, "locked: home ($H) or unlock ($X) before running")
                self._set_status("Alarm")
            self._attach(text)
            self.emit("message", msg)
        else:
            self._attach(text)

    def _attach(self, text: str) -> None:
        for p in self._inflight:
            if p.future is not None:
                p.reply.append(text)
                return

    def _status(self, text: str) -> None:
        if not self._greeted:
            self._mark_greeted()
        self._last_status = time.monotonic()
        name, sub, f = parse_status(text)
        st = self.state
        st.raw = text
        st.stale = False
        st.reported = time.time()
        if self._booting:
            # The first report after a banner: GRBL with homing enabled boots locked
            # (HOMING_INIT_LOCK, on by default), so a board that boots idle has it off.
            self._booting = False
            if name == "Idle" and self.homing is None:
                self.homing = False
        if "WCO" in f:
            self._wco = _floats(f["WCO"])
        if "MPos" in f:
            st.position = _floats(f["MPos"])
            st.work_position = tuple(p - w for p, w in zip(st.position, self._wco, strict=False))
        elif "WPos" in f:
            st.work_position = _floats(f["WPos"])
            st.position = tuple(p + w for p, w in zip(st.work_position, self._wco, strict=False))
        if "Bf" in f:
            st.planner_free, st.rx_free = (int(x) for x in f["Bf"].split(","))
        if "FS" in f:
            feed, _, spindle = f["FS"].partition(",")
            st.feed = float(feed)
            st.spindle = float(spindle) if spindle else st.spindle
        elif "F" in f:
            st.feed = float(f["F"])
        if "Ov" in f:  # GRBL sends overrides only now and then; keep the last ones
            feed_ov, rapid_ov, spindle_ov = (int(x) for x in f["Ov"].split(","))
            st.overrides = (feed_ov, rapid_ov, spindle_ov)
        if name != "Alarm" and st.alarm is not None and not self._critical:
            st.alarm = None
        if name == "Alarm" and st.alarm is None:
            st.alarm = (0, "locked: home ($H) or unlock ($X) before running")
        self._set_status(name, sub)
        self._check_drift(name)
        if self._draining and name == "Idle" and not self._inflight:
            self._draining = False
            job = self.job
            if job is not None and job.errors:
                where = ", ".join(str(e["line"]) for e in job.errors[:10])
                self._end_job("finished", f"all {len(job.lines)} lines sent, done with errors: "
                              f"{len(job.errors)} line(s) refused (file line {where})")  # fmt: skip
            elif job is not None:
                self._end_job("finished", f"all {len(job.lines)} lines done")

    def _ack(self, error: int | None) -> None:
        self._last_activity = time.monotonic()
        if not self._inflight:
            if error is not None:
                self.emit("error", f"error:{error}: {grbl_error_message(error)}", code=error)
            return
        p = self._inflight.popleft()
        self._inflight_bytes -= p.size
        if p.future is not None and not p.future.done():
            if error is None:
                p.future.set_result(p.reply)
            else:
                if error == 5:
                    self.homing = False
                p.future.set_exception(JobRefused(f"error:{error}: {grbl_error_message(error)}"))
        job = self.job
        if p.index is not None and job is not None and job.active:
            job.ack(p.index)  # answered: an `error:` acknowledges the line as much as `ok`
            if error is not None:
                line = job.lines[p.index]
                msg = grbl_error_message(error)
                job.errors.append({"line": line.number, "code": error, "message": msg})
                self.emit("error", f"error:{error} at file line {line.number}: {msg}",
                          code=error, line=line.number, text=line.text)  # fmt: skip
                if self.stop_on_error and job.ending is None:
                    job.sending = False
                    job.ending = ("aborted", f"error:{error} at file line {line.number} "
                                  f"({line.text!r}): {msg}")  # fmt: skip
                    self._halting = True
                    self._write(b"!")  # at once: every line queued behind it would still run
                    self.spawn(self._halt_after_error(job, time.monotonic()))
            self._progress()
        self._after_ack()

    async def _halt_after_error(self, job: Job, since: float) -> None:
        """The job met an error: hold, wait for standstill, reset away what is queued."""

        def still() -> bool:
            st = self.state
            fresh = self._last_status > since
            return fresh and (
                st.status in ("Idle", "Alarm") or (st.status, st.detail) == ("Hold", "0")
            )

        stopped = await wait_for(lambda: still() or not job.active, HALT_TIMEOUT)
        if not job.active:  # an alarm, a reset or the link ended it first, with its own reason
            self._halting = False
            return
        queued = sum(1 for p in self._inflight if p.index is not None)
        if stopped:
            await self._soft_reset()
            asked = time.monotonic()
            self._write(b"?", log=False)
            await wait_for(lambda: self._last_status > asked, 1.0)
        self._halting = False
        if not job.active:
            return
        outcome, reason = job.ending or ("aborted", "error")
        last = job.lines[job.acked - 1].number if job.acked else None
        where = self.state.work_position or self.state.position
        place = ",".join(f"{v:.3f}" for v in where) if where else "unknown"
        if stopped:
            reason += (
                f"; the bridge stopped the job: feed hold at once, then a reset (position kept) "
                f"discarded what was queued behind it ({queued} line(s) not yet answered); "
                f"the machine stands at work position {place}; answered up to file line {last}"
            )
        else:
            reason += (
                f"; the bridge sent a feed hold but the machine did not report standing still "
                f"within {HALT_TIMEOUT:.0f} s: check the machine; answered up to file line {last}"
            )
        self._end_job(outcome, reason)

    def _after_ack(self) -> None:
        job = self.job
        if job is None or not job.active or self._halting:
            return
        if job.ending and not self._inflight:
            self._end_job(*job.ending)
            return
        if job.next >= len(job.lines) and not self._inflight:
            self._draining = True
            self._write(b"?", log=False)
            return
        self._pump()

    def _alarm(self, code: int) -> None:
        msg = grbl_alarm_message(code)
        self.state.alarm = (code, msg)
        lost = code in (1, 3, 6, 7, 8, 9, 10)
        if lost:
            self.state.position_lost = True
        self._set_status("Alarm")
        self.emit("alarm", f"ALARM:{code}: {msg}", code=code, position_lost=lost)
        job = self.job
        self._clear_inflight(f"alarm {code}")
        if job is not None and job.active:
            job.alarms.append({"code": code, "message": msg})
            job.sending = False
            self._end_job("aborted", f"alarm {code}: {msg}; the machine acknowledged "
                          f"{job.acked} of {len(job.lines)} lines", position_lost=lost)  # fmt: skip

    def _banner(self) -> None:
        expected = self._expect_reset
        self._expect_reset = False
        self._critical = False
        self._clear_inflight("controller reset")
        was_greeted = self._greeted
        # A banner before any greeting on this opening is the power-on reset DTR causes;
        # only then does GRBL's boot state tell whether homing is enabled.
        self._booting = not was_greeted
        self._mark_greeted()
        job = self.job
        reopened, self._reopened = self._reopened, False
        if not expected and reopened and not was_greeted:
            # An Uno resets when the port is opened: after a reconnect the position it
            # counted is gone, whatever the machine did while the cable was out.
            self.state.position_lost = self._lost_by_reset = True
            self.emit("reset", "the controller reset when the port was reopened (it printed its "
                      "start-up banner): machine position is lost; home it, or set and confirm "
                      "its work zero, before the next job", expected=False)  # fmt: skip
        elif not expected and was_greeted:
            self.state.position_lost = self._lost_by_reset = True
            self.emit("reset", "the controller reset unexpectedly: machine position is lost",
                      expected=False)  # fmt: skip
            if job is not None and job.active:
                self._end_job("aborted", "the controller reset in the middle of the job; "
                              f"machine position is lost; {job.acked} of {len(job.lines)} "
                              "lines were acknowledged", position_lost=True)  # fmt: skip
        elif expected:
            self.emit("reset", "controller reset by the bridge", expected=True)
        if self._poller is None and self.link_up:
            self._poller = self.spawn(self._poll())

    def _clear_inflight(self, why: str) -> None:
        for p in self._inflight:
            if p.future is not None and not p.future.done():
                p.future.set_exception(JobRefused(f"no answer: {why}"))
        self._inflight.clear()
        self._inflight_bytes = 0
        self._draining = False

    # ---- stall and drift -------------------------------------------------------------

    def _check_drift(self, name: str) -> None:
        st = self.state
        if not self._inflight or name != "Idle" or self._expect_reset:
            return
        if st.planner_free != PLANNER_SIZE or st.rx_free != RX_SIZE:
            return
        grace = self.drift_grace + sum(p.dwell for p in self._inflight)
        if time.monotonic() - self._last_activity < grace:
            return
        n = len(self._inflight)
        job = self.job
        self._clear_inflight("count drift")
        reason = (
            f"character count drifted: the controller is idle with empty buffers but {n} line(s) "
            "were never acknowledged (an 'ok' was lost, probably to line noise); those lines may "
            "have run - check the part before resuming"
        )
        self.emit("error", reason, code="drift", unacknowledged=n)
        if job is not None and job.active:
            job.sending = False
            self._end_job("aborted", reason)

    def _check_stall(self) -> None:
        now = time.monotonic()
        job = self.job
        if job is None or not job.active:
            return
        if self._halting:
            return  # the halt after an error has its own deadline
        silent = now - self._last_status > max(5.0, 10 * self.poll_interval)
        waiting = self._inflight or (job.sending and job.next < len(job.lines))
        stalled = (
            waiting
            and now - self._last_activity > self.stall_timeout
            and self.state.status not in ("Run", "Hold", "Home", "Jog", "Door")
        )
        if silent or stalled:
            why = "no status reports" if silent else f"no 'ok' for {self.stall_timeout:.0f} s"
            if stalled and not self._inflight:
                ln = job.lines[job.next]
                why = (f"file line {ln.number} could not be sent for "
                       f"{self.stall_timeout:.0f} s")  # fmt: skip
            job.sending = False
            self._clear_inflight("stall")
            self._end_job("aborted", f"controller stopped answering ({why}); "
                          f"{job.acked} of {len(job.lines)} lines acknowledged")  # fmt: skip

    # ---- sending -------------------------------------------------------------------

    def _job_begin(self) -> None:
        self._draining = False
        self._last_activity = time.monotonic()
        self._pump()

    def _pump(self) -> None:
        job = self.job
        if job is None or not job.active or not job.sending or self._critical:
            return
        if any(p.eeprom for p in self._inflight):
            return
        out: list[str] = []
        while job.next < len(job.lines):
            text = job.wire[job.next]
            size = job.sizes[job.next]
            if size > RX_SIZE:  # never fits: refuse it now rather than wait for ever
                ln = job.lines[job.next]
                job.sending = False
                self._end_job("aborted", f"file line {ln.number} is {size} bytes, more than "
                              f"GRBL's {RX_SIZE}-byte receive buffer; nothing after file line "
                              f"{job.lines[job.next - 1].number if job.next else None} "
                              "was sent")  # fmt: skip
                return
            eeprom = writes_eeprom(text)
            alone = eeprom or self.mode == "send_response"
            if alone and (self._inflight or out):
                break
            if self._inflight_bytes + size > RX_SIZE:
                break
            m = DWELL.search(text)
            self._inflight.append(Pending(size, job.next, eeprom, float(m.group(1)) if m else 0.0))
            self._inflight_bytes += size
            self.max_inflight_bytes = max(self.max_inflight_bytes, self._inflight_bytes)
            out.append(text + "\n")
            job.next += 1
            if alone:
                break
        if out:
            self._last_activity = time.monotonic()
            if not self._write("".join(out).encode("ascii")):
                return

    # ---- operator actions --------------------------------------------------------------

    async def hold(self) -> None:
        self._write(b"!")

    async def resume(self) -> None:
        if self.state.alarm is not None:
            raise JobRefused("machine in alarm: clear the alarm first")
        self._write(b"~")

    async def stop(self) -> None:
        """Feed hold, wait until the machine has stopped, then soft-reset: position kept."""
        job = self.job
        if job is not None and job.active:
            job.sending = False
        if self.state.status in ("Run", "Jog") or self.state.detail == "1":
            self._write(b"!")
            await wait_for(
                lambda: (
                    self.state.status in ("Idle", "Alarm")
                    or (self.state.status == "Hold" and self.state.detail == "0")
                ),
                5.0,
            )
        await self._soft_reset()
        if job is not None and job.active:
            self._end_job("stopped", f"stopped by the operator; the machine acknowledged "
                          f"{job.acked} of {len(job.lines)} lines")  # fmt: skip

    async def _soft_reset(self) -> None:
        self._expect_reset = True
        self._clear_inflight("soft reset")
        if self._write(b"\x18"):
            await wait_for(lambda: not self._expect_reset, 3.0)

    def wire_text(self, text: str) -> str:
        return text.replace(" ", "")

    def actions(self) -> list[str]:
        """What the operator can do now: `home` unless homing is known to be off."""
        out = ["start_job", "hold", "resume", "stop"]
        if self.state.alarm is not None or self.state.status == "Alarm":
            out.append("unlock")
        if self.homing is not False:
            out.append("home")
        out.append("zero")
        return out

    async def unlock(self) -> None:
        """`$X`: only ever on an operator's explicit action."""
        if self._critical:
            await self._soft_reset()
        await self.command("$X")
        self.state.alarm = None
        if not self._lost_by_reset:  # a reset lost the count: unlocking does not bring it back
            self.state.position_lost = False
        self._write(b"?", log=False)

    async def set_zero(self) -> None:
        """Make where the machine stands the work zero (G54): the operator confirms the part."""
        await self.command("G10 L20 P1 X0 Y0 Z0")

    async def home(self, timeout: float = 120.0) -> None:
        """`$H`: only ever on an operator's explicit action."""
        if self._critical:
            await self._soft_reset()
        if self.homing is False:
            raise JobRefused(f"error:5: {grbl_error_message(5)}")
        await self.command("$H", timeout=timeout)
        self.state.alarm = None
        self.state.position_lost = self._lost_by_reset = False
        self._write(b"?", log=False)

    async def jog_cancel(self) -> None:
        self._write(b"\x85")

    async def read_settings(self) -> dict[int, float]:
        """`$$` parsed: {110: 10000.0, ...}."""
        out: dict[int, float] = {}
        for line in await self.command("$$"):
            m = re.fullmatch(r"\$(\d+)=([-\d.]+).*", line)
            if m:
                out[int(m.group(1))] = float(m.group(2))
        if 22 in out:
            self.homing = bool(out[22])
        return out

    async def command(self, line: str, timeout: float = 10.0) -> list[str]:
        """Send one line and return what came back before its `ok` (error -> JobRefused)."""
        if line in ("?", "!", "~", "\x18", "\x85"):
            if line == "\x18":
                await self._soft_reset()
            else:
                self._write(line.encode())
            return []
        if self.job is not None and self.job.active:
            raise JobRefused(f"job {self.job.name} is running: commands wait until it ends")
        text = line.strip()
        bad = next((c for c in text if not 32 <= ord(c) < 127 or c in "?!~"), None)
        if bad is not None:
            raise JobRefused(f"character {bad!r} cannot be sent in a line")
        text = self.wire_text(text)
        if len(text) > self.rules.max_len:
            raise JobRefused(f"{len(text)} characters without spaces: GRBL takes at most "
                             f"{self.rules.max_len} in a line")  # fmt: skip
        if not await wait_for(lambda: not self._inflight, timeout):
            raise JobRefused("the controller is still busy with earlier lines")
        fut: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._inflight.append(Pending(len(text) + 1, None, writes_eeprom(text), future=fut))
        self._inflight_bytes += len(text) + 1
        self._last_activity = time.monotonic()
        if not self._write((text + "\n").encode("ascii")):
            self._clear_inflight("link down")
        reply = await asyncio.wait_for(fut, timeout)
        if ZEROING.match(text):
            self.state.position_lost = self._lost_by_reset = False
        return reply
