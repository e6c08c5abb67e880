"""What every driver shares: link supervision, events, job lifecycle and interlocks.

A driver (GRBL, Marlin, line protocol) subclasses `Machine` and implements the
protocol: how to greet the controller, parse what it says, and pace a job.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware_bridge.jobs import (
    Job,
    JobError,
    JobLine,
    JobRefused,
    JobResult,
    LineRules,
    line_problem,
    load_lines,
)
from firmware_bridge.link import LinkError, SerialLink

Interlock = Callable[[], "str | None | Awaitable[str | None]"]

EVENT_KINDS = (
    "link_up", "link_down", "connected", "state", "alarm", "error", "message", "reset",
    "progress", "job_started", "job_finished", "job_aborted", "temperature", "count",
    "cycle_complete", "fault",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class MachineEvent:
    kind: str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


@dataclass
class MachineState:
    status: str = "Offline"  # Idle Run Hold Alarm Home Jog Door Check Offline Unknown (GRBL names)
    detail: str = ""  # e.g. "Hold:0", or the line device's own state word
    position: tuple[float, ...] | None = None
    work_position: tuple[float, ...] | None = None
    feed: float | None = None
    spindle: float | None = None
    overrides: tuple[int, int, int] | None = None  # GRBL feed, rapid, spindle, in %
    planner_free: int | None = None
    rx_free: int | None = None
    alarm: tuple[int, str] | None = None
    position_lost: bool = False
    stale: bool = False  # the link went down: `raw` and the fields above are the last known
    reported: float = 0.0  # time.time() of the last report from the controller
    temperatures: dict[str, tuple[float, float]] = field(default_factory=dict)
    count: int | None = None
    raw: str = ""
    updated: float = 0.0


class Machine:
    driver = "base"
    rules = LineRules(max_len=80)
    clean_lines = True

    def __init__(
        self,
        link: SerialLink,
        *,
        interlock: Interlock | None = None,
        progress_interval: float = 0.1,
    ) -> None:
        self.link = link
        self.interlock = interlock
        self.progress_interval = progress_interval
        self.state = MachineState()
        self.job: Job | None = None
        self._job_done: asyncio.Future[JobResult] | None = None
        self._listeners: list[Callable[[MachineEvent], None]] = []
        self._queues: list[asyncio.Queue[MachineEvent]] = []
        self._last_progress = 0.0
        self._owned: list[Any] = []  # things to stop on close (an in-process simulator)
        self._tasks: set[asyncio.Task[Any]] = set()
        link.on_line = self._line
        link.on_up = self._link_up
        link.on_down = self._link_down

    # ---- public API ------------------------------------------------------------------

    @property
    def link_up(self) -> bool:
        return self.link.up

    async def connect(self, timeout: float = 5.0) -> None:
        """Open the port and greet the controller; raises LinkError with a reason."""
        await self.link.open()
        await self.wait_connected(timeout)

    async def wait_connected(self, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._greeted:
            if time.monotonic() > deadline:
                raise LinkError(f"{self.link.url}: no answer from a {self.driver} controller")
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        job = self.job
        if job is not None and job.active:
            self._end_job("aborted", f"the bridge was closed during the job; {job.acked} of "
                          f"{len(job.lines)} lines acknowledged")  # fmt: skip
        for task in list(self._tasks):
            task.cancel()
        await self.link.close()
        for owned in self._owned:
            owned.stop()

    def subscribe(self, callback: Callable[[MachineEvent], None]) -> Callable[[], None]:
        """Call `callback` with every event; returns the function that unsubscribes."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    async def events(self) -> AsyncIterator[MachineEvent]:
        """Every event from now on, as an async iterator (one queue per consumer)."""
        queue: asyncio.Queue[MachineEvent] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)

    def load_job(self, source: str | Path | Iterable[str]) -> list[JobLine]:
        """Check a job file for this controller without starting it (JobError names the line)."""
        return load_lines(source, self.rules, clean=self.clean_lines)

    async def start_job(
        self,
        source: str | Path | Iterable[str] | list[JobLine],
        *,
        interlock: Interlock | None = None,
        name: str | None = None,
    ) -> Job:
        """Check the job, the interlocks and the machine, then start streaming.

        Raises JobError (bad file, with the line number) or JobRefused (with the reason).
        """
        if isinstance(source, list) and source and isinstance(source[0], JobLine):
            lines = source
            for ln in lines:
                problem = line_problem(ln.text, self.rules)
                if problem:
                    raise JobError(f"line {ln.number}: {problem}")
        else:
            lines = self.load_job(source)  # type: ignore[arg-type]  # a path or text: load_job reads both
        if not lines:
            raise JobRefused("the job has no lines to send")
        reason = await self._refusal(interlock)
        if reason:
            raise JobRefused(reason)
        job_name = name or (Path(source).name if isinstance(source, str | Path) else "job")
        self.job = Job(job_name, lines, wire=self.wire_text)
        self._job_done = asyncio.get_running_loop().create_future()
        self._last_progress = 0.0
        self.emit("job_started", f"job {job_name}: {len(lines)} lines", name=job_name,
                  lines=len(lines))  # fmt: skip
        self._job_begin()
        return self.job

    async def wait_job(self, timeout: float | None = None) -> JobResult:
        if self._job_done is None:
            raise RuntimeError("no job was started")
        return await asyncio.wait_for(asyncio.shield(self._job_done), timeout)

    async def hold(self) -> None:
        raise NotImplementedError

    async def resume(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def unlock(self) -> None:
        raise JobRefused(f"{self.driver} has no unlock")

    async def home(self) -> None:
        raise JobRefused(f"{self.driver} has no homing")

    async def set_zero(self) -> None:
        raise JobRefused(f"a {self.driver} machine has no work zero to set here")

    async def start_cycles(self, cycles: int = 1) -> None:
        raise JobRefused(f"a {self.driver} machine runs jobs, not counted cycles")

    async def command(self, line: str, timeout: float = 10.0) -> list[str]:
        raise NotImplementedError

    def actions(self) -> list[str]:
        """The operator actions this machine can do now (the kiosk offers only these)."""
        out = ["start_job", "hold", "resume", "stop"]
        if type(self).unlock is not Machine.unlock:
            out.append("unlock")
        if type(self).home is not Machine.home:
            out.append("home")
        return out

    def wire_text(self, text: str) -> str:
        """A job line as it is sent (drivers that may shorten it override this)."""
        return text

    # ---- for drivers -----------------------------------------------------------------

    _greeted = False

    def emit(self, kind: str, message: str = "", **data: Any) -> None:
        event = MachineEvent(kind, message, data)
        for cb in list(self._listeners):
            try:
                cb(event)
            except Exception as exc:  # a listener's bug must not stop the machine
                self.link._record("!", f"event listener failed: {exc!r}")
        for q in self._queues:
            q.put_nowait(event)

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _refusal(self, interlock: Interlock | None) -> str | None:
        if self.job is not None and self.job.active:
            return f"job {self.job.name} is still running"
        if not self.link_up:
            return f"machine not connected ({self.link.down_reason or 'link down'})"
        for check in (interlock, self.interlock):
            if check is None:
                continue
            reason = check()
            if inspect.isawaitable(reason):
                reason = await reason
            if reason:
                return str(reason)
        if self.state.alarm is not None or self.state.status == "Alarm":
            code, msg = self.state.alarm or (0, "machine in alarm")
            return f"machine in alarm {code}: {msg}; clear the alarm first"
        if self.state.position_lost:
            return "machine position lost after a reset: home or unlock it first"
        return None

    def _progress(self, force: bool = False) -> None:
        job = self.job
        if job is None:
            return
        now = time.monotonic()
        if not force and now - self._last_progress < self.progress_interval:
            return
        self._last_progress = now
        p = job.progress()
        self.emit("progress", "", job=job.name, lines_total=p.lines_total,
                  lines_sent=p.lines_sent, lines_acked=p.lines_acked, bytes_total=p.bytes_total,
                  bytes_acked=p.bytes_acked, fraction=p.fraction, eta_s=p.eta_s)  # fmt: skip

    def _end_job(self, outcome: str, reason: str, *, position_lost: bool = False) -> None:
        job = self.job
        if job is None or not job.active:
            return
        self._progress(force=True)
        result = job.finish(outcome, reason, position_lost=position_lost)
        kind = "job_finished" if outcome == "finished" else "job_aborted"
        self.emit(kind, reason, job=job.name, outcome=outcome, lines_acked=result.lines_acked,
                  lines_sent=result.lines_sent, last_acked_line=result.last_acked_line,
                  result=result)  # fmt: skip
        if self._job_done is not None and not self._job_done.done():
            self._job_done.set_result(result)

    def _set_status(self, status: str, detail: str = "") -> None:
        old = (self.state.status, self.state.detail)
        self.state.status, self.state.detail = status, detail
        self.state.updated = time.time()
        if old != (status, detail):
            self.emit("state", f"{old[0]} -> {status}", status=status, detail=detail,
                      previous=old[0])  # fmt: skip

    def _link_up(self) -> None:
        self._greeted = False
        self.emit("link_up", f"link up: {self.link.url}")
        self._on_link_up()

    def _link_down(self, reason: str) -> None:
        self._greeted = False
        self.state.stale = True
        self._set_status("Offline")
        self.emit("link_down", f"link lost: {reason}", reason=reason)
        job = self.job
        if job is not None and job.active:
            last = job.lines[job.acked - 1].number if job.acked else None
            self._end_job(
                "aborted",
                f"link lost: {reason}; the machine acknowledged {job.acked} of "
                f"{len(job.lines)} lines (last acknowledged: file line {last}); nothing "
                "will be re-sent automatically",
            )
        self._on_link_down()

    def _write(self, data: bytes, *, log: bool = True) -> bool:
        try:
            self.link.write(data, log=log)
        except LinkError:
            return False
        return True

    # ---- driver hooks ----------------------------------------------------------------

    def _line(self, text: str) -> None:
        raise NotImplementedError

    def _on_link_up(self) -> None:
        pass

    def _on_link_down(self) -> None:
        pass

    def _job_begin(self) -> None:
        raise NotImplementedError


async def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    """Poll a condition until it holds or the timeout passes (no event exists for it)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True
