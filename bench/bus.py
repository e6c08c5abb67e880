"""Events from 20 simulated cells through Mosquitto into the scheduler's store.

Two phases on a real broker and real SQLite files:
  1. throughput: every cell records a burst of events; we time from the first
     publish until the scheduler has applied (committed) all of them;
  2. latency: the cells together record 500 events/s for a while; for each event,
     the time from its append at the cell to its commit in the scheduler's store.

Cells and the scheduler share this one process (and its one CPU's worth of
Python), so the figures are a floor for a real site where each cell has its own
machine. Stores use synchronous=FULL, as in production. `baseline_p95_ms` is a
bare MQTT publish→receive at the same rate in the same run: when the machine is
busy, both move together.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.report import Report, parser
from cellctl.bus.broker_process import Mosquitto
from cellctl.bus.cell_link import CellLink
from cellctl.config.models import MqttConfig, SiteConfig, SiteInfo
from cellctl.domain.events import Event
from cellctl.services.scheduler import Scheduler
from cellctl.store.scheduler_store import SchedulerStore
from cellctl.store.station_store import StationStore

CELLS = 20
SITE = "bench"


def _event(cell: str, _n: int) -> Event:
    return Event("units_counted", cell, {"run_id": "R-BENCH", "step": 0, "good": 1, "scrap": 0})


async def _wait(cond, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("the bench did not finish in time")
        await asyncio.sleep(0.005)


async def _baseline(broker: Mosquitto, rate: float, seconds: float) -> float:
    """p95 of a bare aiomqtt QoS 1 publish → subscriber round trip at the same rate,
    measured in the same run: the floor this (shared, noisy) machine allows now."""
    import aiomqtt

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
    lat.sort()
    return lat[int(0.95 * (len(lat) - 1))]


async def run(
    burst: int, rate: float, seconds: float, tmp: Path
) -> tuple[Report, tuple[str, float, str]]:
    broker = Mosquitto().start()
    mqtt = MqttConfig(url=broker.url, keepalive_s=10)
    site = SiteConfig(site=SiteInfo(id=SITE, name="bench"), mqtt=mqtt)
    appended: dict[str, float] = {}
    latencies: list[float] = []
    applied = 0

    def on_applied(events: list[Event]) -> None:
        nonlocal applied
        now = time.perf_counter()
        applied += len(events)
        for e in events:
            t0 = appended.pop(e.id, None)
            if t0 is not None:
                latencies.append((now - t0) * 1000)

    sched = Scheduler(SchedulerStore(tmp / "scheduler.db"), site=site, on_applied=on_applied)
    stores = [StationStore(tmp / f"cell-{i:02}.db", f"cell-{i:02}") for i in range(CELLS)]
    links = [CellLink(s, site=SITE, kind="cut", mqtt=mqtt, drain_batch=500) for s in stores]
    report = Report()
    try:
        await sched.start()
        await sched.wait_connected()
        for link in links:
            await link.start()
        for link in links:
            await link.wait_connected()

        # 1. throughput
        for s in stores:
            s.append_many(_event(s.cell, n) for n in range(burst))
        t0 = time.perf_counter()
        for link in links:
            link.notify()
        total = burst * CELLS
        await _wait(lambda: applied >= total, 120)
        elapsed = time.perf_counter() - t0
        events_per_s = total / elapsed
        report.add("burst_events", total, "events")
        report.add("burst_seconds", elapsed, "s")

        # 2. latency at a steady rate, spread evenly over the cells
        latencies.clear()
        interval = 1.0 / rate
        n_events = int(rate * seconds)
        start = time.perf_counter()
        for k in range(n_events):
            due = start + k * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            store = stores[k % CELLS]
            (e,) = store.append(_event(store.cell, k))
            appended[e.id] = time.perf_counter()
            links[k % CELLS].notify()
        achieved = n_events / (time.perf_counter() - start)
        await _wait(lambda: len(latencies) >= n_events, 60)
        lat = sorted(latencies)
        report.add("latency_rate", achieved, "events/s")
        report.add("latency_p50_ms", statistics.median(lat), "ms")
        report.add("latency_p95_ms", lat[int(0.95 * (len(lat) - 1))], "ms")
        report.add("latency_max_ms", lat[-1], "ms")
        report.add("duplicates_dropped", sched.duplicates, "events")
        report.add("scheduler_applied", sched.store.applied_count(), "events")
        report.add("baseline_p95_ms", await _baseline(broker, rate, min(seconds, 3.0)), "ms")
    finally:
        for link in links:
            await link.stop()
        await sched.stop()
        broker.stop()
    return report, ("events_per_s", events_per_s, "events/s")


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--burst", type=int, default=1000, help="events per cell in the burst")
    p.add_argument("--rate", type=float, default=500.0, help="events/s in the latency phase")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the latency phase")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-bus-") as tmp:
        report, headline = asyncio.run(run(args.burst, args.rate, args.seconds, Path(tmp)))
    report.emit(headline, args.json)


if __name__ == "__main__":
    main()
