"""Marlin 2.x driver: numbered, checksummed lines sent one at a time.

Every line carries `N<n>` and an XOR checksum, so the printer itself refuses a
damaged line and refuses a line number it has already executed. The driver acks
a line only on an `ok` that answers it cleanly; an `ok` that closes an
`Error:`/`Resend:` exchange is never counted, and whenever the answer is in doubt
(a garbled reply, a lost `ok`) it sends the same numbered line again and lets the
printer say whether it already had it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass
from typing import Any

from firmware_bridge.jobs import JobRefused, LineRules
from firmware_bridge.link import SerialLink
from firmware_bridge.machine import Machine, wait_for

TEMP = re.compile(r"\b(T\d?|B|C|P):\s*(-?[\d.]+)\s*/\s*(-?[\d.]+)")
RESEND = re.compile(r"^(?:Resend:|rs)\s*N?(\d+)\s*$")
LAST_LINE = re.compile(r"Last Line:\s*(\d+)\s*$")
KNOWN = ("ok", "echo:", "busy:", "T:", "X:", "FIRMWARE_NAME:", "Cap:", "//", "start")
# Commands that legitimately run long; the number is the timeout without any sign of life.
LONG_TIMEOUTS = {"G28": 300.0, "G29": 900.0, "M109": 1800.0, "M190": 1800.0, "M303": 1800.0,
                 "M400": 1800.0, "M600": None, "M0": None, "M1": None, "M226": None,
                 "G4": 1800.0, "M191": 1800.0}  # fmt: skip


def checksum(text: str) -> int:
    cs = 0
    for ch in text.encode("ascii"):
        cs ^= ch
    return cs


def numbered(n: int, text: str) -> str:
    body = f"N{n} {text}"
    return f"{body}*{checksum(body)}"


@dataclass
class Sent:
    n: int | None
    text: str
    index: int | None
    future: asyncio.Future[list[str]] | None
    timeout: float | None
    reply: list[str]
    resends: int = 0
    outstanding: int = 0  # transmissions whose `ok` has not come back yet
    executed: bool = False  # the printer confirmed it ran this line number


class MarlinMachine(Machine):
    driver = "marlin"
    rules = LineRules(max_len=80, forbidden="*")

    def __init__(
        self,
        link: SerialLink,
        *,
        timeout: float = 10.0,
        uncertain_timeout: float = 2.0,
        max_resends: int = 8,
        auto_temperature: float = 2.0,
        **kw: Any,
    ) -> None:
        super().__init__(link, **kw)
        self.timeout = timeout
        self.uncertain_timeout = uncertain_timeout
        self.max_resends = max_resends
        self.auto_temperature = auto_temperature
        self._cur: Sent | None = None
        self._n = 0
        self._resend: int | None = None
        self._last_line: int | None = None
        self._error = False
        self._uncertain_at: float | None = None
        self._last_life = time.monotonic()
        self._paused = False
        self._halted = False
        self._started_seen = False
        self._watch: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._job_base_n: int | None = None
        self.resends = 0
        self.timeouts = 0

    # ---- connection ------------------------------------------------------------------

    def _on_link_up(self) -> None:
        self._cur = None
        self.spawn(self._greet())

    def _on_link_down(self) -> None:
        self._fail_cur("link lost")
        if self._watch:
            self._watch.cancel()
            self._watch = None

    async def _greet(self) -> None:
        await wait_for(lambda: self._started_seen, 1.0)  # a board that resets says "start"
        if self._watch is None:
            self._watch = self.spawn(self._watchdog())
        for _ in range(3):
            # Numbered and checksummed, so line noise cannot set a wrong line number.
            self._n = -1
            try:
                await self._request("M110 N0", timeout=2.0)
                break
            except (JobRefused, TimeoutError):
                continue
        else:
            self.emit("error", "the printer did not answer M110 (line numbering)")
            return
        self._greeted = True
        self._halted = False
        self._set_status("Idle")
        self.emit("connected", f"Marlin answering on {self.link.url}")
        if self.auto_temperature:
            with contextlib.suppress(JobRefused, TimeoutError):
                await self._request(f"M155 S{self.auto_temperature:g}", timeout=3.0)

    # ---- receiving -----------------------------------------------------------------

    def _line(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        if text.startswith("ok"):
            if text != "ok" and self._cur is not None:
                self._cur.reply.append(text)
            self._temps(text)
            self._life()
            self._ok()
            return
        m = RESEND.match(text)
        if m:
            self._resend = int(m.group(1))
            return
        if text.startswith(("Resend", "rs ")):
            self._resend = -1
            return
        if text.startswith("Error:"):
            self._error_line(text)
            return
        if text == "start":
            self._started_seen = True
            self._reset_seen()
            return
        if (
            text.startswith(("echo:busy", "busy:"))
            or TEMP.search(text)
            and text.lstrip()[0] in "TB"
        ):
            self._temps(text)
            self._life()
            return
        if text.startswith(KNOWN):
            if self._cur is not None:
                self._cur.reply.append(text)
            if text.startswith("echo:") and "busy" not in text:
                self.emit("message", text[5:].strip())
            return
        # Not a line Marlin sends: line noise. The answer to the current line is in doubt.
        self._uncertain_at = self._uncertain_at or time.monotonic()

    def _life(self) -> None:
        self._last_life = time.monotonic()

    def _temps(self, text: str) -> None:
        found = TEMP.findall(text)
        if not found:
            return
        for name, cur, target in found:
            try:
                self.state.temperatures[name] = (float(cur), float(target))
            except ValueError:  # "0..0" from line noise; on an "ok" it must not lose the ack
                continue
        self.emit("temperature", "", **{k: v for k, v in self.state.temperatures.items()})

    def _error_line(self, text: str) -> None:
        body = text[6:].strip()
        if "halted" in body or "kill" in body or "stopped" in body.lower():
            self._halt(body)
            return
        m = LAST_LINE.search(body)
        self._error = True
        self._last_line = int(m.group(1)) if m else None
        self.emit("message", body)

    def _halt(self, why: str) -> None:
        self._halted = True
        self.state.alarm = (112, f"printer halted: {why}; it needs a reset")
        self._set_status("Alarm", "halted")
        self.emit("alarm", f"printer halted: {why}", code=112)
        self._fail_cur("printer halted")
        job = self.job
        if job is not None and job.active:
            self._end_job("aborted", f"printer halted ({why}); {job.acked} of {len(job.lines)} "
                          "lines acknowledged", position_lost=True)  # fmt: skip

    def _reset_seen(self) -> None:
        if not self._greeted:
            return
        self.state.position_lost = True
        self.emit("reset", "the printer restarted: position and temperatures are lost",
                  expected=False)  # fmt: skip
        self._fail_cur("printer restarted")
        job = self.job
        if job is not None and job.active:
            self._end_job("aborted", "the printer restarted in the middle of the job; "
                          f"{job.acked} of {len(job.lines)} lines acknowledged",
                          position_lost=True)  # fmt: skip
        self._greeted = False
        self.spawn(self._greet())

    def _ok(self) -> None:
        cur = self._cur
        resend, error, last, doubt = self._resend, self._error, self._last_line, self._uncertain_at
        self._resend, self._error, self._last_line, self._uncertain_at = None, False, None, None
        if cur is None:
            return
        cur.outstanding = max(0, cur.outstanding - 1)
        if cur.n is None:
            self._done(cur)
            return
        consistent = error and resend is not None and last is not None and resend == last + 1
        if resend is None and not error and doubt is None:
            cur.executed = True  # a clean ok: the printer took this line
        elif consistent and resend == cur.n + 1:
            cur.executed = True  # it already had this line number: a repeat was refused
        elif consistent and resend is not None and resend < cur.n:
            # A late ok was taken for a later line (timeouts shorter than the printer's
            # real answers). Believe the printer: it has run lines up to resend - 1.
            self._correct_acks(resend - 1)
            self._give_up(f"the printer asked again for line {resend}, already acknowledged; "
                          "timeouts are too short for this printer")  # fmt: skip
            return
        # Each transmission earns exactly one ok: settle only when all are back, so a
        # late ok is never taken for the next line's.
        if cur.outstanding > 0:
            return
        if cur.executed:
            self._done(cur)
        else:
            self._again(cur, "resend requested" if resend is not None else "reply in doubt")

    def _correct_acks(self, last_run: int) -> None:
        job, base = self.job, self._job_base_n
        if job is None or base is None or not job.active:
            return
        acked = max(0, min(job.acked, last_run - base + 1))
        job.acked = acked
        job.bytes_acked = sum(job.sizes[:acked])

    def _done(self, cur: Sent) -> None:
        self._cur = None
        if cur.future is not None and not cur.future.done():
            cur.future.set_result(cur.reply)

    def _again(self, cur: Sent, why: str) -> None:
        cur.resends += 1
        self.resends += 1
        if cur.resends > self.max_resends:
            self._give_up(
                f"line {cur.n} ({cur.text!r}) had to be re-sent {cur.resends - 1} times in a row "
                f"({why}): check the cable and the baud rate"
            )
            return
        self._transmit(cur)

    def _give_up(self, reason: str) -> None:
        job = self.job
        self._fail_cur(reason)
        if job is not None and job.active:
            job.sending = False
            self._end_job("aborted", f"{reason}; {job.acked} of {len(job.lines)} lines "
                          "acknowledged")  # fmt: skip
        self.emit("error", reason)

    def _fail_cur(self, why: str) -> None:
        cur, self._cur = self._cur, None
        if cur is not None and cur.future is not None and not cur.future.done():
            cur.future.set_exception(JobRefused(why))

    # ---- sending -------------------------------------------------------------------

    def _timeout_for(self, text: str) -> float | None:
        head = text.split()[0].upper() if text.split() else ""
        if head in LONG_TIMEOUTS:
            base = LONG_TIMEOUTS[head]
            if head == "G4" and base is not None:
                m = re.search(r"[PS]([\d.]+)", text.upper())
                if m:
                    secs = float(m.group(1)) / (1000 if "P" in text.upper() else 1)
                    return base + secs
            return base
        return self.timeout

    def _transmit(self, cur: Sent) -> None:
        cur.outstanding += 1
        line = cur.text if cur.n is None else numbered(cur.n, cur.text)
        self._life()
        self._resend, self._error, self._uncertain_at = None, False, None
        self._write((line + "\n").encode("ascii"))

    async def _request(
        self,
        text: str,
        *,
        plain: bool = False,
        timeout: float | None = None,
        index: int | None = None,
    ) -> list[str]:
        async with self._lock:
            return await self._request_locked(text, plain, timeout, index)

    async def _request_locked(
        self, text: str, plain: bool, timeout: float | None, index: int | None
    ) -> list[str]:
        if self._halted and not plain:
            raise JobRefused("printer halted: reset it first")
        fut: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        if not plain:
            self._n += 1
        cur = Sent(None if plain else self._n, text, index, fut, self._timeout_for(text), [])
        self._cur = cur
        self._transmit(cur)
        if timeout is None:
            return await fut
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            if self._cur is cur:
                self._cur = None
            raise

    async def _watchdog(self) -> None:
        while self.link_up:
            await asyncio.sleep(0.05)
            cur = self._cur
            if cur is None or cur.n is None:
                continue
            now = time.monotonic()
            garbled = (
                self._uncertain_at is not None and now - self._uncertain_at > self.uncertain_timeout
            )
            silent = cur.timeout is not None and now - self._last_life > cur.timeout
            if not (garbled or silent):
                continue
            # The missing oks were lost on the wire: stop waiting for them.
            self._resend, self._error, self._uncertain_at = None, False, None
            cur.outstanding = 0
            if silent:
                self.timeouts += 1
            if cur.executed:
                self._done(cur)
            else:
                self._again(cur, "reply garbled" if garbled else f"no answer for {cur.timeout:g} s")

    def _job_begin(self) -> None:
        self._paused = False
        self.spawn(self._run_job())

    async def _run_job(self) -> None:
        job = self.job
        assert job is not None
        while job.active and job.next < len(job.lines):
            if self._paused or not job.sending:
                await asyncio.sleep(0.02)
                if not job.sending:
                    return
                continue
            index = job.next
            job.next += 1
            if index == 0:
                self._job_base_n = self._n + 1
            try:
                await self._request(job.lines[index].text, index=index)
            except JobRefused as exc:
                self._end_job(
                    "aborted", f"{exc}; {job.acked} of {len(job.lines)} lines acknowledged"
                )
                return
            job.ack(index)
            self._progress()
        if job.active:
            self._end_job("finished", f"all {len(job.lines)} lines done")

    # ---- operator actions --------------------------------------------------------------

    async def hold(self) -> None:
        """Stop feeding lines; the few commands already queued in the printer still run."""
        self._paused = True
        self._set_status("Hold", "0")

    async def resume(self) -> None:
        if self._halted:
            raise JobRefused("printer halted: reset it first")
        self._paused = False
        self._set_status("Run" if self.job and self.job.active else "Idle")

    async def stop(self) -> None:
        job = self.job
        if job is not None and job.active:
            job.sending = False
            await wait_for(lambda: self._cur is None, 30.0)
            self._end_job("stopped", f"stopped by the operator; the printer acknowledged "
                          f"{job.acked} of {len(job.lines)} lines")  # fmt: skip
        self._paused = False
        if not self._halted:
            await self._request("M410", timeout=10.0)  # quick stop: drop planned moves
        self._set_status("Idle")

    async def emergency_stop(self) -> None:
        """M112: the printer halts at once and needs a reset; nothing is sent afterwards."""
        self._write(b"M112\n")
        self._halt("emergency stop (M112) sent by the operator")

    async def home(self, timeout: float = 300.0) -> None:
        await self.command("G28", timeout=timeout)
        self.state.position_lost = False

    async def command(self, line: str, timeout: float = 10.0) -> list[str]:
        if self.job is not None and self.job.active:
            raise JobRefused(f"job {self.job.name} is running: commands wait until it ends")
        if self._halted:
            raise JobRefused("printer halted: reset it first")
        text = line.strip()
        if line.upper().startswith("M112"):
            await self.emergency_stop()
            return []
        if "*" in text or any(not 32 <= ord(c) < 127 for c in text):
            raise JobRefused("the line has characters the printer cannot take")
        return await self._request(text, timeout=timeout)
