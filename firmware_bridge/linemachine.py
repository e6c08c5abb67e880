"""Driver for microcontroller machines speaking the cellctl line protocol (PROTOCOL.md).

One command is outstanding at a time. A reply that does not come, or a frame the
device reports as damaged, makes the driver repeat the command with the same
sequence number; the device answers a repeat from its cache without running it
again. Counts are cumulative in every CYCLE event and STATUS reply, so a lost
event never loses a unit: the next one carries the total.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from firmware_bridge.jobs import JobRefused, LineRules
from firmware_bridge.lineproto import (
    ERROR_TEXT,
    PROTOCOL_VERSIONS,
    FrameError,
    Message,
    frame,
    parse,
    unframe,
)
from firmware_bridge.link import SerialLink
from firmware_bridge.machine import Machine

STATUS_NAMES = {"IDLE": "Idle", "RUNNING": "Run", "FAULT": "Alarm", "HOLD": "Hold"}


class LineMachine(Machine):
    driver = "line"
    rules = LineRules(max_len=60, forbidden="*!")

    def __init__(
        self,
        link: SerialLink,
        *,
        reply_timeout: float = 1.0,
        retries: int = 3,
        poll_interval: float = 1.0,
        **kw: Any,
    ) -> None:
        super().__init__(link, **kw)
        self.reply_timeout = reply_timeout
        self.retries = retries
        self.poll_interval = poll_interval
        self.device: dict[str, str] = {}
        self.protocol = 0
        self._seq = 0
        self._waiting: tuple[int, asyncio.Future[Message]] | None = None
        self._lock = asyncio.Lock()
        self._eseq = 0
        self._count: int | None = None
        self._paused = False
        self._poller: asyncio.Task[None] | None = None
        self.repeats = 0

    # ---- connection ------------------------------------------------------------------

    def _on_link_up(self) -> None:
        self.spawn(self._greet())

    def _on_link_down(self) -> None:
        if self._waiting and not self._waiting[1].done():
            self._waiting[1].set_exception(JobRefused("link lost"))
        self._waiting = None
        if self._poller:
            self._poller.cancel()
            self._poller = None

    async def _greet(self) -> None:
        lo, hi = PROTOCOL_VERSIONS
        try:
            hello = await self._request(f"HELLO {lo}-{hi}")
        except JobRefused as exc:
            self.emit("error", f"device did not accept HELLO: {exc}")
            return
        self.device = hello.fields
        self.protocol = int(self.device.get("proto", "0") or 0)
        await self._refresh()
        self._greeted = True
        self.emit("connected", f"{self.device.get('dev', 'device')} {self.device.get('id', '')} "
                  f"firmware {self.device.get('fw', '?')}, protocol {self.protocol}",
                  **self.device)  # fmt: skip
        if self._poller is None:
            self._poller = self.spawn(self._poll())

    async def _poll(self) -> None:
        while self.link_up:
            await asyncio.sleep(self.poll_interval)
            if not self._lock.locked():
                with contextlib.suppress(JobRefused):
                    await self._refresh()

    async def _refresh(self) -> None:
        status = await self._request("STATUS")
        f = status.fields
        word = f.get("state", "IDLE")
        if word != "FAULT" and self.state.alarm is not None:
            self.state.alarm = None
        if word == "FAULT" and self.state.alarm is None:
            code = int(f.get("fault", "0") or 0)
            self.state.alarm = (code, f"device fault {code}")
        self._set_status(STATUS_NAMES.get(word, word.title()), word)
        if "count" in f:
            self._update_count(int(f["count"]), source="status")

    # ---- receiving -----------------------------------------------------------------

    def _line(self, text: str) -> None:
        if not text.strip():
            return
        try:
            msg = parse(unframe(text))
        except FrameError as exc:
            self.emit("message", f"damaged frame from the device ignored ({exc})")
            return
        if msg.event:
            try:
                self._event(msg)
            except ValueError as exc:  # a number that is not one (found by bench.fuzz)
                self.emit("message", f"unreadable device event ignored ({exc}): {text[:80]!r}")
            return
        if self._waiting is None:
            return
        seq, fut = self._waiting
        if msg.seq == 0 and msg.word == "ERR" and msg.args[:1] == ["1"]:
            if not fut.done():  # the device saw a damaged frame: repeat it
                fut.set_result(msg)
            return
        if msg.seq == seq and not fut.done():
            fut.set_result(msg)

    def _event(self, msg: Message) -> None:
        if msg.word == "BOOT":
            rebooted = self._greeted
            self._eseq = msg.seq
            if rebooted:
                self.emit("reset", "the device restarted", expected=False)
                job = self.job
                if job is not None and job.active:
                    done = f"{job.acked} of {len(job.lines)} commands acknowledged"
                    self._end_job("aborted", f"the device restarted during the job; {done}")
                self._greeted = False
                self.spawn(self._greet())
            return
        if self._eseq and msg.seq != self._eseq + 1:
            self.emit("message", f"{msg.seq - self._eseq - 1} event(s) lost on the wire; "
                      "counts stay right (they are cumulative)")  # fmt: skip
        self._eseq = msg.seq
        f = msg.fields
        if msg.word == "CYCLE":
            self._update_count(int(f.get("count", "0")), source="cycle")
        elif msg.word == "STATE":
            word = f.get("state", "IDLE")
            self._set_status(STATUS_NAMES.get(word, word.title()), word)
        elif msg.word == "FAULT":
            code = int(f.get("code", "0") or 0)
            text = f.get("text", "").replace("_", " ")
            self.state.alarm = (code, text or f"device fault {code}")
            self._set_status("Alarm", "FAULT")
            self.emit("alarm", f"device fault {code}: {text}", code=code)
            job = self.job
            if job is not None and job.active:
                self._end_job("aborted", f"device fault {code}: {text}")

    def _update_count(self, total: int, source: str) -> None:
        previous = self._count
        if source == "status" and previous is not None and total < previous:
            # A STATUS reply read before a CYCLE line but applied after it: its count is
            # stale. Taking it would make the next cycle count twice (conservation check
            # of issue 16). A device reset shows on its next CYCLE line instead.
            return
        self._count = total
        self.state.count = total
        if previous is None:
            self.emit("count", f"device count {total}", count=total, delta=0)
            return
        delta = total - previous
        if delta > 0 and source == "cycle":
            self.emit("cycle_complete", f"cycle complete ({total})", count=total, delta=delta)
        if delta != 0:
            self.emit("count", f"device count {total}", count=total, delta=delta)

    # ---- requests ------------------------------------------------------------------

    async def _request(self, text: str) -> Message:
        async with self._lock:
            self._seq = self._seq % 65535 + 1
            seq = self._seq
            data = frame(f"{seq} {text}")
            for attempt in range(self.retries + 1):
                fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
                self._waiting = (seq, fut)
                if attempt:
                    self.repeats += 1
                if not self._write(data):
                    raise JobRefused("link down")
                try:
                    msg = await asyncio.wait_for(fut, self.reply_timeout)
                except TimeoutError:
                    continue
                finally:
                    self._waiting = None
                if msg.seq == 0:
                    continue  # damaged on the way in: repeat with the same sequence number
                if msg.word == "ERR":
                    code = int(msg.args[0]) if msg.args and msg.args[0].isdigit() else 0
                    detail = " ".join(msg.args[1:]).replace("_", " ")
                    raise JobRefused(f"ERR {code}: {ERROR_TEXT.get(code, 'error')} ({detail})")
                return msg
            raise JobRefused(f"no valid answer to {text.split()[0]} after {self.retries + 1} tries")

    # ---- jobs and actions --------------------------------------------------------------

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
            line = job.lines[index]
            try:
                await self._request(line.text)
            except JobRefused as exc:
                job.errors.append({"line": line.number, "code": "refused", "message": str(exc)})
                self._end_job("aborted", f"file line {line.number} ({line.text!r}): {exc}")
                return
            job.ack(index)
            self._progress()
        if job.active:
            self._end_job("finished", f"all {len(job.lines)} commands done")

    async def command(self, line: str, timeout: float = 10.0) -> list[str]:
        text = line.strip()
        if any(c in text for c in "*!") or any(not 32 <= ord(c) < 127 for c in text):
            raise JobRefused("the command has characters the protocol does not allow")
        msg = await asyncio.wait_for(self._request(text), timeout)
        return [" ".join([msg.word, *msg.args])]

    async def start_cycles(self, cycles: int = 1) -> None:
        reason = await self._refusal(None)
        if reason:
            raise JobRefused(reason)
        await self._request(f"START cycles={cycles}")

    async def hold(self) -> None:
        self._paused = True

    async def resume(self) -> None:
        self._paused = False

    async def stop(self) -> None:
        job = self.job
        if job is not None and job.active:
            job.sending = False
            self._end_job("stopped", f"stopped by the operator; {job.acked} of "
                          f"{len(job.lines)} commands acknowledged")  # fmt: skip
        await self._request("STOP")

    async def unlock(self) -> None:
        """CLEAR the device's fault: only on an operator's explicit action."""
        await self._request("CLEAR")
        self.state.alarm = None
        await self._refresh()

    async def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.state.status != "Idle":
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True
