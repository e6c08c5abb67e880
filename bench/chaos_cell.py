"""One cell of the chaos suite as its own process, so the suite can SIGKILL it.

It runs the real station (controller, store, runtime with broker link, machine
bridge and label printer) with a simulated person at it, and reports on stdout
every event the moment its commit returned: `ack SEQ ID TYPE`. That is exactly
what the operator saw confirmed, so the suite can check each one survived.

Commands on stdin, one per line: `clock SECONDS` steps this cell's wall clock,
`stop` ends it cleanly (as Ctrl-C would).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
from collections.abc import Iterable
from typing import Any

from cellctl.config.load import load_station
from cellctl.demo.operators import Habits, SimInspector, SimOperator
from cellctl.domain import clock
from cellctl.domain.events import Event
from cellctl.station.controller import StationController
from cellctl.station.runtime import StationRuntime
from cellctl.store.station_store import Allocation, StationStore

_out_lock = threading.Lock()


def report(line: str) -> None:
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class ReportingStore(StationStore):
    """The station's store, saying on stdout which events each commit made durable."""

    def append(self, *events: Event) -> list[Event]:
        return self._acked(super().append(*events))

    def append_many(self, events: Iterable[Event]) -> list[Event]:
        return self._acked(super().append_many(events))

    def allocate_serials(self, count: int, **kw: Any) -> Allocation:
        out = super().allocate_serials(count, **kw)
        self._acked([out.event])
        return out

    @staticmethod
    def _acked(stored: list[Event]) -> list[Event]:
        for e in stored:
            report(f"ack {e.seq} {e.id} {e.type}")
        return stored


def _read_commands(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["clock"] and len(words) == 2:
            clock.step(float(words[1]))
            report(f"clock {clock.offset_s():+.0f}")
        elif words[:1] == ["stop"]:
            break
    loop.call_soon_threadsafe(stop.set)


async def _main(args: argparse.Namespace) -> None:
    loaded = load_station(args.station)
    store = ReportingStore(args.db or loaded.store_path(), loaded.id)
    controller = StationController(loaded, store)
    runtime = StationRuntime(controller, broker_url=args.broker)
    await runtime.start()
    habits = Habits(seconds_per_unit=args.seconds_per_unit)
    if runtime.qa is not None:
        op: SimOperator = SimInspector(
            runtime, args.badge, runtime.qa, seed=args.seed, habits=habits, rework_after_s=3.0
        )
    else:
        op = SimOperator(runtime, args.badge, seed=args.seed, habits=habits)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    threading.Thread(target=_read_commands, args=(loop, stop), daemon=True).start()
    worker = asyncio.create_task(op.run())
    report("ready")
    await stop.wait()
    op.stop()
    await worker
    await runtime.stop()
    store.close()
    report("stopped")


def main() -> None:
    p = argparse.ArgumentParser(description="a chaos-suite cell: real station, simulated person")
    p.add_argument("--station", required=True)
    p.add_argument("--db")
    p.add_argument("--broker", required=True)
    p.add_argument("--badge", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seconds-per-unit", type=float, default=0.2)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
    logging.getLogger("cellctl.demo.operators").setLevel(logging.INFO)  # refusals
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
