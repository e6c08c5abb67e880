"""Events from 20 cells through Mosquitto into the scheduler's store, as on a site.

The scheduler runs as on a site: `cellctl scheduler run` in its own process, fed
by the cells (bench/bus_cells.py) in another, through Mosquitto. Its figures
carry the plain names. The in-process variant (`inproc_*`) runs the same cells and
the same Scheduler in this one process and one event loop, as the bench did
before: a floor of what one Python process does with everything.

Each variant, on its own broker and real SQLite files at synchronous=FULL:
  1. throughput: each counting cell holds a burst of events; from letting them go
     until the scheduler has committed all of them (`events_per_s`);
  2. latency: the cells record 500 events/s together while a shop of four
     simulated cells works the runs a feeder submits over MQTT, so the scheduler
     dispatches and plans (afresh, and continuing its plan) all along; for each
     event, from its commit at the cell to its commit in the scheduler's store
     (seen by polling that file from here, every POLL_S, for the site variant).
     `plans` and `fresh_plans` count the scheduler's plans in this phase.

`baseline_p95_ms` is a bare aiomqtt QoS 1 publish→receive at the same rate in the
same run: when the shared machine is busy, both move together.

`--quick` (under a minute) is the regression guard: it exits 1 when the site
variant misses a target (p95 ≤ 50 ms, ≥ 4,000 events/s, a fresh plan made during
the latency phase).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiomqtt

from bench.bus_cells import CELLS, SITE, Workload
from bench.report import Report, parser
from cellctl.bus.broker_process import Mosquitto
from cellctl.bus.codec import decode
from cellctl.bus.topics import Topics
from cellctl.config.models import MqttConfig, SiteConfig, SiteInfo
from cellctl.domain.events import Event
from cellctl.scheduler import Scheduler
from cellctl.store.scheduler_store import SchedulerStore

POLL_S = 0.002
# The counting cells run in this many processes: a site has a machine per cell, and
# a cell's every count waits for its own fsync (synchronous=FULL), so many cells in
# one process would queue behind each other's commits, which no site does.
CELL_PROCESSES = 10
TARGET_P95_MS = 50.0
TARGET_EVENTS_PER_S = 4000.0


async def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the bench did not finish in time: {what}")
        await asyncio.sleep(0.005)


def _p(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[int(q * (len(s) - 1))]


async def _baseline(broker: Mosquitto, rate: float, seconds: float) -> float:
    """p95 of a bare aiomqtt QoS 1 publish → subscriber round trip at the same rate,
    measured in the same run: the floor this (shared, noisy) machine allows now."""
    sent: dict[int, float] = {}
    lat: list[float] = []
    n = int(rate * seconds)
    async with (
        aiomqtt.Client("127.0.0.1", broker.port) as sub,
        aiomqtt.Client("127.0.0.1", broker.port) as pub,
    ):
        await sub.subscribe("bench/baseline", qos=1)

        async def receive() -> None:
            async for m in sub.messages:
                lat.append((time.perf_counter() - sent[int(m.payload)]) * 1000)
                if len(lat) >= n:
                    return

        task = asyncio.create_task(receive())
        start = time.perf_counter()
        for k in range(n):
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[k] = time.perf_counter()
            await pub.publish("bench/baseline", str(k), qos=1)
        async with asyncio.timeout(30):
            await task
    return _p(lat, 0.95)


def _cpu_s(pid: int) -> float:
    """CPU seconds a process has used (user + system): unlike wall time, about the
    same on a busy machine as on a quiet one."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _latency_figures(report: Report, prefix: str, lat: list[float], achieved: float) -> None:
    report.add(f"{prefix}latency_rate", achieved, "events/s")
    report.add(f"{prefix}latency_p50_ms", statistics.median(lat), "ms")
    report.add(f"{prefix}latency_p95_ms", _p(lat, 0.95), "ms")
    report.add(f"{prefix}latency_max_ms", max(lat), "ms")


# -- the site: the scheduler and the cells in processes of their own -----------------------


class _Applied:
    """Polls the scheduler's store from here: when each event became visible there."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        self.seen: dict[str, float] = {}
        self.rowid = 0

    def count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM applied").fetchone()[0]

    def poll(self) -> None:
        rows = self.conn.execute(
            "SELECT rowid, event_id FROM applied WHERE rowid > ? ORDER BY rowid", (self.rowid,)
        ).fetchall()
        now = time.monotonic()
        for rowid, event_id in rows:
            self.seen[event_id] = now
            self.rowid = rowid

    async def watch(self) -> None:
        while True:
            self.poll()
            await asyncio.sleep(POLL_S)


class _SchedulerStatus:
    """The scheduler's retained status: how often it planned."""

    def __init__(self) -> None:
        self.plans = 0
        self.fresh_plans = 0
        self.online = asyncio.Event()
        self.updated = asyncio.Event()

    async def follow(self, port: int) -> None:
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.subscribe(Topics(SITE).scheduler_status, qos=1)
            async for m in client.messages:
                body = decode(m.payload if isinstance(m.payload, bytes) else b"")
                if body.get("online"):
                    self.plans = int(body.get("plans", 0))
                    self.fresh_plans = int(body.get("fresh_plans", 0))
                    self.online.set()
                    self.updated.set()


class _Bystander:
    """A subscriber to the cells' events beside the scheduler: when each event came
    out of the broker, which splits the latency into the cells' part and the rest."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.subscribed = asyncio.Event()

    async def follow(self, port: int) -> None:
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.subscribe(Topics(SITE).all_events, qos=0)
            self.subscribed.set()
            async for m in client.messages:
                now = time.monotonic()
                with contextlib.suppress(Exception):
                    self.seen.setdefault(json.loads(bytes(m.payload))["id"], now)


class _Cells:
    """bench/bus_cells.py as a process, driven line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def ask(self, line: str | None, expect: str, timeout: float = 120.0) -> list[str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if line is not None:
            self.proc.stdin.write(f"{line}\n".encode())
            await self.proc.stdin.drain()
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise RuntimeError(f"the cells process ended (waiting for {expect!r})")
                words = raw.decode().split()
                if words and words[0] == expect:
                    return words[1:]


async def _site(
    tmp: Path, burst: int, rate: float, seconds: float, report: Report, split: bool
) -> float:
    (tmp / "mosquitto").mkdir()
    broker = Mosquitto(workdir=tmp / "mosquitto").start()
    db = tmp / "scheduler.db"
    site_file = tmp / "site.toml"
    site_file.write_text(f'[site]\nid = "{SITE}"\nname = "bench"\n\n[mqtt]\nurl = "{broker.url}"\n')
    log = open(tmp / "scheduler.log", "wb")  # noqa: SIM115
    sched = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cellctl", "scheduler", "run",
        "--site", str(site_file), "--db", str(db),
        stdout=log, stderr=log,
    )  # fmt: skip
    status = _SchedulerStatus()
    follower = asyncio.create_task(status.follow(broker.port))
    procs: list[asyncio.subprocess.Process] = []
    watcher: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(30):
            await status.online.wait()
        per = CELLS // CELL_PROCESSES
        for n in range(CELL_PROCESSES):
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.bus_cells",
                    "--url",
                    broker.url,
                    "--dir",
                    str(tmp / "cells"),
                    "--first",
                    str(n * per),
                    "--cells",
                    str(per),
                    *(["--shop"] if n == 0 else []),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
            )
        cells = [_Cells(proc) for proc in procs]

        async def ask_all(line: str | None, expect: str) -> list[list[str]]:
            return list(await asyncio.gather(*(c.ask(line, expect) for c in cells)))

        await ask_all(None, "ready")
        applied = _Applied(db)

        # 1. throughput
        total = sum(int(n) for (n,) in await ask_all(f"burst {burst}", "appended"))
        before = applied.count()
        cpu0 = _cpu_s(sched.pid)
        t0 = min(float(t) for (t,) in await ask_all("go", "going"))
        await _wait(lambda: applied.count() >= before + total, 120, "site burst")
        events_per_s = total / (time.monotonic() - t0)
        report.add("burst_events", total, "events")
        report.add("scheduler_cpu_us_per_event", (_cpu_s(sched.pid) - cpu0) / total * 1e6, "µs")

        # 2. latency, with the scheduler planning meanwhile
        applied.poll()
        watcher = asyncio.create_task(applied.watch())
        bystander = _Bystander()
        if split:
            follower2 = asyncio.create_task(bystander.follow(broker.port))
            await bystander.subscribed.wait()
        plans0, fresh0 = status.plans, status.fresh_plans
        workers = _children(sched.pid)
        cpu0, plan_cpu0, wall0 = (
            _cpu_s(sched.pid),
            sum(map(_cpu_s, workers)),
            time.monotonic(),
        )
        answers = await asyncio.gather(
            *(
                c.ask(f"steady {rate / CELL_PROCESSES} {seconds} {tmp / f'appended-{n}.json'}",
                      "steady")
                for n, c in enumerate(cells)
            )
        )  # fmt: skip
        achieved = sum(float(a) for a, _ in answers)
        wall = time.monotonic() - wall0
        workers += [w for w in _children(sched.pid) if w not in workers]
        cpu_share = (_cpu_s(sched.pid) - cpu0) / wall
        plan_share = (sum(map(_cpu_s, workers)) - plan_cpu0) / wall
        runs = answers[0][1]
        appended: dict[str, float] = {}
        for n in range(CELL_PROCESSES):
            appended.update(json.loads((tmp / f"appended-{n}.json").read_text()))
        await _wait(lambda: appended.keys() <= applied.seen.keys(), 60, "site latency phase")
        # The status follows each dispatch round within a tick: wait for one more.
        status.updated.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(6):
                await status.updated.wait()
        lat = [(applied.seen[i] - t) * 1000 for i, t in appended.items()]
        _latency_figures(report, "", lat, float(achieved))
        if split:
            follower2.cancel()
            out = {i: bystander.seen[i] for i in appended if i in bystander.seen}
            cells_part = [(out[i] - appended[i]) * 1000 for i in out]
            report.add("cells_part_p95_ms", _p(cells_part, 0.95), "ms")
            sched_part = [(applied.seen[i] - out[i]) * 1000 for i in out]
            report.add("scheduler_part_p95_ms", _p(sched_part, 0.95), "ms")
        report.add("runs_submitted", int(runs), "runs")
        report.add("plans", status.plans - plans0, "plans")
        report.add("fresh_plans", status.fresh_plans - fresh0, "plans")
        report.add("scheduler_cpu_share", cpu_share, "cores")
        report.add("planner_cpu_share", plan_share, "cores")
        report.add("scheduler_applied", applied.count(), "events")
        report.add("baseline_p95_ms", await _baseline(broker, rate, min(seconds, 3.0)), "ms")
        # The scheduler first: no assignment may reach a shop cell that is stopping.
        await _end(sched)
        await ask_all("quit", "bye")
    finally:
        for task in (watcher, follower):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        for proc in [sched, *procs]:
            await _end(proc)
        log.close()
        broker.stop()
    return events_per_s


async def _end(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


# -- in-process: the same cells and scheduler on this one event loop ----------------------


async def _inproc(tmp: Path, burst: int, rate: float, seconds: float, report: Report) -> float:
    (tmp / "mosquitto").mkdir()
    broker = Mosquitto(workdir=tmp / "mosquitto").start()
    mqtt = MqttConfig(url=broker.url, keepalive_s=10)
    site = SiteConfig(site=SiteInfo(id=SITE, name="bench"), mqtt=mqtt)
    appended: dict[str, float] = {}
    seen: dict[str, float] = {}
    applied = 0

    def on_applied(events: list[Event]) -> None:
        nonlocal applied
        now = time.monotonic()
        applied += len(events)
        for e in events:
            seen[e.id] = now

    sched = Scheduler(SchedulerStore(tmp / "scheduler.db"), site=site, on_applied=on_applied)
    work = Workload(tmp / "cells", mqtt)
    try:
        await sched.start()
        await sched.wait_connected()
        await work.start()

        before = applied
        total = work.append_burst(burst)
        t0 = time.monotonic()
        work.release()
        await _wait(lambda: applied >= before + total, 120, "in-process burst")
        events_per_s = total / (time.monotonic() - t0)

        stats0 = (sched.plan_stats.decisions, sched.plan_stats.fresh)
        achieved = await work.steady(rate, seconds, appended.__setitem__)
        await _wait(lambda: appended.keys() <= seen.keys(), 60, "in-process latency phase")
        lat = [(seen[i] - t) * 1000 for i, t in appended.items()]
        _latency_figures(report, "inproc_", lat, achieved)
        report.add("inproc_plans", sched.plan_stats.decisions - stats0[0], "plans")
        report.add("inproc_fresh_plans", sched.plan_stats.fresh - stats0[1], "plans")
        report.add("inproc_events_per_s", events_per_s, "events/s")
    finally:
        await sched.stop()  # first: no assignment may reach a shop cell that is stopping
        await work.stop()
        sched.store.close()
        broker.stop()
    return events_per_s


async def run(
    burst: int, rate: float, seconds: float, tmp: Path, inproc: bool, split: bool = False
) -> tuple[Report, tuple[str, float, str]]:
    report = Report()
    (tmp / "site").mkdir()
    events_per_s = await _site(tmp / "site", burst, rate, seconds, report, split)
    if inproc:
        (tmp / "inproc").mkdir()
        await _inproc(tmp / "inproc", burst, rate, seconds, report)
    figures = {name: value for name, value, _ in report.figures}
    report.add(
        "p95_over_baseline", figures["latency_p95_ms"] / max(figures["baseline_p95_ms"], 1e-3), "×"
    )
    return report, ("events_per_s", events_per_s, "events/s")


def _guard(report: Report, headline: tuple[str, float, str]) -> list[str]:
    figures = {name: value for name, value, _ in report.figures}
    misses = []
    if figures["latency_p95_ms"] > TARGET_P95_MS:
        misses.append(f"latency_p95_ms {figures['latency_p95_ms']:.1f} > {TARGET_P95_MS:g}")
    if headline[1] < TARGET_EVENTS_PER_S:
        misses.append(f"events_per_s {headline[1]:.0f} < {TARGET_EVENTS_PER_S:g}")
    if figures["fresh_plans"] < 1:
        misses.append("no fresh plan was made during the latency phase")
    return misses


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--burst", type=int, default=1000, help="events per cell in the burst")
    p.add_argument("--rate", type=float, default=500.0, help="events/s in the latency phase")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the latency phase")
    p.add_argument("--site-only", action="store_true", help="skip the in-process variant")
    p.add_argument(
        "--quick",
        action="store_true",
        help="the regression guard: shorter phases, exit 1 if the site misses a target",
    )
    p.add_argument(
        "--split",
        action="store_true",
        help="also subscribe to the events here, to split the site's latency into the "
        "cells' part (to the broker's output) and the scheduler's (costs this process CPU)",
    )
    p.add_argument("--keep", metavar="DIR", help="leave the stores and logs in DIR (new)")
    args = p.parse_args()
    if args.quick:
        args.burst, args.seconds = min(args.burst, 250), min(args.seconds, 4.0)
    with contextlib.ExitStack() as stack:
        if args.keep:
            tmp = Path(args.keep)
            tmp.mkdir(parents=True)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-bus-")))
        report, headline = asyncio.run(
            run(args.burst, args.rate, args.seconds, tmp, not args.site_only, args.split)
        )
    report.emit(headline, args.json)
    if args.quick:
        misses = _guard(report, headline)
        print("guard: " + ("; ".join(misses) if misses else "all targets met"), file=sys.stderr)
        if misses:
            sys.exit(1)


if __name__ == "__main__":
    main()
