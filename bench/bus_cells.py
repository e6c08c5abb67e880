"""The cells of bench.bus: what feeds the scheduler, in the bench's process or in one
of their own (`python -m bench.bus_cells`, driven over stdin/stdout).

- CELLS counting cells (kind `count`, which no run needs) record `units_counted`
  events: a burst for the throughput phase, a steady rate for the latency phase.
- A small shop of simulated cells (two `cut`, two `print`) works the runs the
  scheduler gives them, and a run feeder submits runs over MQTT during the latency
  phase, a few at a time: each submission is a large share of the open runs, so
  the scheduler plans afresh while the events come in; every step completed or
  started is another dispatch round, another (continued) plan.

Every store is a real SQLite file at synchronous=FULL; appended times are
time.monotonic(), one clock for every process of the machine.

Commands on stdin, one per line, each answered on stdout when done:
`burst N` (append N events per counting cell, not sent yet) -> `appended`;
`go` (let them go) -> `going T0`; `steady RATE SECONDS PATH` (record at RATE,
feed runs, write {event id: appended time} as JSON to PATH) -> `steady ACHIEVED`;
`quit` -> `bye`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt

from cellctl.bus.cell_link import CellLink
from cellctl.bus.codec import encode
from cellctl.bus.connection import client_kwargs
from cellctl.bus.topics import Topics
from cellctl.config.models import MqttConfig
from cellctl.demo.sim_cell import SimCell
from cellctl.domain.events import Event
from cellctl.store.station_store import StationStore

CELLS = 20
SITE = "bench"
SHOP = (("cut-01", "cut"), ("cut-02", "cut"), ("print-01", "print"), ("print-02", "print"))
# The run feeder: RUNS_AT_ONCE runs every RUNS_EVERY_S, each of a few units at the
# shop's SHOP_CYCLE_S (the shop keeps up, so the queue stays small enough to plan).
RUNS_EVERY_S = 2.0
RUNS_AT_ONCE = 5
SHOP_CYCLE_S = 0.04


def _event(cell: str) -> Event:
    return Event("units_counted", cell, {"run_id": "R-BENCH", "step": 0, "good": 1, "scrap": 0})


class Workload:
    def __init__(
        self,
        tmp: Path,
        mqtt: MqttConfig,
        *,
        cells: range = range(CELLS),
        shop: bool = True,
    ) -> None:
        self.mqtt = mqtt
        self.stores = [StationStore(tmp / f"cell-{i:02}.db", f"cell-{i:02}") for i in cells]
        self.links = [
            CellLink(s, site=SITE, kind="count", mqtt=mqtt, drain_batch=500) for s in self.stores
        ]
        self.shop = [
            SimCell(tmp / f"{cell}.db", cell=cell, kind=kind, site=SITE, mqtt=mqtt,
                    cycle_s=SHOP_CYCLE_S)
            for cell, kind in (SHOP if shop else ())
        ]  # fmt: skip
        self.runs_submitted = 0
        self._rng = random.Random(17)

    async def start(self) -> None:
        for link in self.links:
            await link.start()
        for cell in self.shop:
            await cell.start()
        for link in [*self.links, *(c.link for c in self.shop)]:
            await link.wait_connected()

    async def stop(self) -> None:
        for link in self.links:
            await link.stop()
        for cell in self.shop:
            await cell.stop()
        for store in self.stores:
            store.close()

    def append_burst(self, per_cell: int) -> int:
        for s in self.stores:
            s.append_many(_event(s.cell) for _ in range(per_cell))
        return per_cell * len(self.stores)

    def release(self) -> None:
        for link in self.links:
            link.notify()

    async def steady(
        self, rate: float, seconds: float, on_append: Callable[[str, float], None]
    ) -> float:
        """Record `rate` events/s over the counting cells for `seconds`, feeding runs
        meanwhile; returns the rate achieved."""
        feeder = asyncio.create_task(self._feed_runs(seconds) if self.shop else asyncio.sleep(0))
        n_events = int(rate * seconds)
        start = time.monotonic()
        try:
            for k in range(n_events):
                delay = start + k / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                store = self.stores[k % len(self.stores)]
                (e,) = store.append(_event(store.cell))
                on_append(e.id, time.monotonic())
                self.links[k % len(self.links)].notify()
            return n_events / (time.monotonic() - start)
        finally:
            await feeder

    async def _feed_runs(self, seconds: float) -> None:
        topic = Topics(SITE).runs_submit
        async with aiomqtt.Client(**client_kwargs(self.mqtt)) as client:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                now = datetime.now(UTC)
                for _ in range(RUNS_AT_ONCE):
                    self.runs_submitted += 1
                    run = {
                        "v": 1,
                        "id": f"R-{self.runs_submitted:05d}",
                        "sku": "MUG",
                        "quantity": self._rng.randint(3, 8),
                        "unit_margin": round(self._rng.uniform(0.5, 20.0), 2),
                        "due": (now + timedelta(seconds=self._rng.uniform(2, 60))).isoformat(),
                        "routing": "cut>print",
                        "cycle_s": SHOP_CYCLE_S,
                    }
                    await client.publish(topic, encode(run), qos=1)
                await asyncio.sleep(min(RUNS_EVERY_S, max(0.0, end - time.monotonic())))


async def _serve(args: argparse.Namespace) -> None:
    work = Workload(
        Path(args.dir),
        MqttConfig(url=args.url, keepalive_s=10),
        cells=range(args.first, args.first + args.cells),
        shop=args.shop,
    )
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def say(line: str) -> None:
        print(line, flush=True)

    await work.start()
    say("ready")
    try:
        while line := (await reader.readline()).decode().split():
            if line[0] == "burst":
                say(f"appended {work.append_burst(int(line[1]))}")
            elif line[0] == "go":
                t0 = time.monotonic()
                work.release()
                say(f"going {t0!r}")
            elif line[0] == "steady":
                appended: dict[str, float] = {}
                achieved = await work.steady(float(line[1]), float(line[2]), appended.__setitem__)
                Path(line[3]).write_text(json.dumps(appended))
                say(f"steady {achieved!r} {work.runs_submitted}")
            elif line[0] == "quit":
                break
    finally:
        await work.stop()
    say("bye")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="the broker")
    p.add_argument("--dir", required=True, help="where the cells' stores go")
    p.add_argument("--first", type=int, default=0, help="the number of the first counting cell")
    p.add_argument("--cells", type=int, default=CELLS, help="how many counting cells")
    p.add_argument("--shop", action="store_true", help="also the shop and the run feeder")
    asyncio.run(_serve(p.parse_args()))


if __name__ == "__main__":
    main()
