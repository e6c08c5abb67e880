"""A simulated production cell on a real StationStore and a real CellLink.

It accepts assignments, counts units at a steady cycle time (with optional
scrap), completes the step when the assigned quantity is good, and keeps
recording with no broker. Tests, benches, the demo and the chaos suite use it;
`python -m cellctl.demo.sim_cell` runs one as its own process (so a test
can kill it and see its last will fire).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

from cellctl.bus.cell_link import CellLink
from cellctl.bus.tasks import cancel_and_wait
from cellctl.config.models import MqttConfig
from cellctl.domain import conservation
from cellctl.domain.events import Event
from cellctl.store.station_store import StationStore

log = logging.getLogger(__name__)


class SimCell:
    def __init__(
        self,
        store_path: str | Path,
        *,
        cell: str,
        kind: str,
        site: str,
        mqtt: MqttConfig,
        cycle_s: float = 0.05,
        scrap_every: int = 0,
        decline_runs: tuple[str, ...] = (),
        operator: str | None = "OP-SIM",
        synchronous: str = "FULL",
    ) -> None:
        self.store = StationStore(store_path, cell, synchronous=synchronous)
        self.cell = cell
        self.cycle_s = cycle_s
        self.scrap_every = scrap_every
        self.decline_runs = set(decline_runs)
        self.operator = operator
        self.current: dict[str, Any] | None = None
        self.completed: list[tuple[str, int]] = []
        self.paused = asyncio.Event()
        self.paused.set()
        self._work: asyncio.Task[None] | None = None
        self._handled = self._handled_assignments()
        self.link = CellLink(self.store, site=site, kind=kind, mqtt=mqtt, on_assign=self._on_assign)

    def _handled_assignments(self) -> set[str]:
        handled: set[str] = set()
        open_step: tuple[str, int] | None = None
        for e in self.store.events():
            if e.type in ("assignment_accepted", "assignment_declined"):
                handled.add(str(e.payload.get("assign_id")))
            if e.type == "assignment_accepted":
                open_step = (e.payload["run_id"], e.payload["step"])
            elif e.type in ("run_step_completed", "run_step_released"):
                open_step = None
        if open_step is not None:
            # Restarted mid-step: the scheduler may have moved the step on; give it back.
            self._append(
                "run_step_released", run_id=open_step[0], step=open_step[1], reason="restarted"
            )
        return handled

    def _append(self, etype: str, **payload: Any) -> None:
        self.store.append(Event(etype, self.cell, payload, operator=self.operator))
        if hasattr(self, "link"):
            self.link.notify()

    def totals(self) -> dict[tuple[str, int], tuple[int, int]]:
        """(run, step) -> (good, scrap) from the cell's own read table."""
        return {
            (r, s): (g, sc) for r, s, g, sc in self.store.read_tables()["step_counts"] if g or sc
        }

    async def start(self) -> None:
        self.link.update_status(state="idle", run=None, step=None)
        await self.link.start()

    async def stop(self) -> None:
        await cancel_and_wait(self._work)
        await self.link.stop()
        self.store.close()

    async def _on_assign(self, a: dict[str, Any] | None) -> None:
        if a is None or a.get("withdrawn"):
            if self.current is not None and self._work is not None:
                self._work.cancel()
                run_id, step = self.current["run_id"], self.current["step"]
                self.current = None
                self._append("run_step_released", run_id=run_id, step=step, reason="withdrawn")
                self.link.update_status(state="idle", run=None, step=None)
            return
        if a["assign_id"] in self._handled:
            return
        self._handled.add(a["assign_id"])
        if self.current is not None or a["run_id"] in self.decline_runs:
            reason = "busy" if self.current is not None else "cannot make this run"
            self.link.decline(a, reason, self.operator)
            return
        self.link.accept(a, self.operator)
        self.current = a
        self._append("run_step_started", run_id=a["run_id"], step=a["step"])
        self.link.update_status(state="running", run=a["run_id"], step=a["step"])
        self._work = asyncio.create_task(self._make(a))

    async def _make(self, a: dict[str, Any]) -> None:
        # The quantity covers what this cell counted on the step before (conservation):
        # go on from there; a later step is done when every unit that came is counted.
        good, scrap_total = self.totals().get((a["run_id"], a["step"]), (0, 0))
        first = a.get("upstream_good") is None
        n = 0
        while conservation.accounted(good, scrap_total, first=first) < a["quantity"]:
            await self.paused.wait()
            await asyncio.sleep(self.cycle_s)
            n += 1
            scrap = 1 if self.scrap_every and n % self.scrap_every == 0 else 0
            self._append(
                "units_counted", run_id=a["run_id"], step=a["step"], good=1 - scrap, scrap=scrap
            )
            good += 1 - scrap
            scrap_total += scrap
            self.link.update_status(good=good)
        self._append(
            "run_step_completed", run_id=a["run_id"], step=a["step"], good=good, scrap=scrap_total
        )
        self.completed.append((a["run_id"], a["step"]))
        self.current = None
        self.link.update_status(state="idle", run=None, step=None)


async def _main(args: argparse.Namespace) -> None:
    cell = SimCell(
        args.store,
        cell=args.cell,
        kind=args.kind,
        site=args.site,
        mqtt=MqttConfig(url=args.url, keepalive_s=args.keepalive),
        cycle_s=args.cycle,
        scrap_every=args.scrap_every,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await cell.start()
    print("ready", flush=True)
    await stop.wait()
    await cell.stop()


def main() -> None:
    p = argparse.ArgumentParser(description="a simulated cell on a real store and broker link")
    p.add_argument("--store", required=True)
    p.add_argument("--cell", required=True)
    p.add_argument("--kind", required=True)
    p.add_argument("--site", default="demo")
    p.add_argument("--url", default="mqtt://127.0.0.1:1883")
    p.add_argument("--cycle", type=float, default=0.05)
    p.add_argument("--scrap-every", type=int, default=0)
    p.add_argument("--keepalive", type=int, default=5)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
