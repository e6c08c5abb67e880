"""Faults against a real Mosquitto: a cell killed mid-step, the broker down while
cells keep recording. After each, the scheduler's totals equal the cells' exactly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cellctl.domain.run_spec import parse_run
from cellctl.store.station_store import StationStore
from tests.bus.conftest import SITE, Factory
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
OUTAGE_S = float(os.environ.get("CELLCTL_TEST_OUTAGE_S", "30"))


class ParkingGate(asyncio.Event):
    """A closed `SimCell.paused` gate that counts the work loops waiting at it.

    The cell's loop awaits the gate before each unit, so a loop parked here has
    landed the unit it was making and will record nothing more.
    """

    def __init__(self) -> None:
        super().__init__()
        self.parked = 0

    async def wait(self) -> Literal[True]:
        self.parked += 1
        try:
            return await super().wait()
        finally:
            self.parked -= 1


def _run(run_id: str, routing: str, quantity: int) -> dict:
    due = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    return {"id": run_id, "sku": "TILE", "quantity": quantity, "unit_margin": 2.5, "due": due,
            "routing": routing, "cycle_s": 0.05}  # fmt: skip


def _spawn_cell(factory: Factory, cell: str, kind: str, cycle: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cellctl.demo.sim_cell", "--store",
         str(factory.tmp / f"{cell}.db"), "--cell", cell, "--kind", kind, "--site", SITE,
         "--url", factory.broker.url, "--cycle", str(cycle), "--keepalive", "2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _store_totals(path: Path, cell: str) -> tuple[dict, int, int]:
    store = StationStore(path, cell)
    try:
        totals = {(r, s): (g, sc) for r, s, g, sc in store.read_tables()["step_counts"] if g or sc}
        return totals, store.outbox_count(), store.event_count()
    finally:
        store.close()


async def test_killed_cell_step_is_reassigned_without_double_counting(factory: Factory) -> None:
    store = factory.scheduler_store()
    store.add_run(parse_run(_run("R1", "cut", 60)))
    sched = await factory.scheduler(store)
    proc = _spawn_cell(factory, "cut-01", "cut", cycle=0.05)
    try:

        def counted(cell: str) -> int:
            return store.totals_by_cell().get(cell, {}).get(("R1", 0), (0, 0))[0]

        await wait_until(lambda: counted("cut-01") >= 8, 15, "cut-01 counting")
        spare = await factory.cell("cut-02", "cut", cycle_s=0.01)
        assert store.run("R1")["steps"][0]["cell"] == "cut-01"
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        # The will marks cut-01 offline; the scheduler moves the step to cut-02.
        await wait_until(lambda: sched.cells["cut-01"].online is False, 10, "will fired")
        await wait_until(lambda: store.run("R1")["status"] == "done", 20, "R1 done on cut-02")
        step = store.run("R1")["steps"][0]
        assert step["cell"] == "cut-02"
        given_to_spare = store.conn.execute(
            "SELECT quantity FROM steps WHERE run_id = 'R1' AND idx = 0"
        ).fetchone()[0]
        spare_good = spare.totals()[("R1", 0)][0]
        assert spare_good == given_to_spare  # only what was missing, not the whole run
        assert given_to_spare < 60
    finally:
        if proc.poll() is None:
            proc.kill()
    # cut-01 comes back: its unsent events drain and its open step is given back.
    proc = _spawn_cell(factory, "cut-01", "cut", cycle=0.05)
    try:
        await wait_until(
            lambda: sched.cells["cut-01"].online and sched.cells["cut-01"].backlog == 0,
            15,
            "cut-01 drained",
        )
        await wait_until(
            lambda: sched.store.seq_marks()["cut-01"][0] == sched.cells["cut-01"].last_seq,
            15,
            "every cut-01 event applied",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    a_totals, a_backlog, a_events = _store_totals(factory.tmp / "cut-01.db", "cut-01")
    assert a_backlog == 0
    by_cell = store.totals_by_cell()
    assert by_cell["cut-01"] == a_totals
    assert by_cell["cut-02"] == spare.totals()
    applied_a = store.conn.execute("SELECT COUNT(*) FROM applied WHERE cell = 'cut-01'").fetchone()[
        0
    ]
    assert applied_a == a_events  # each of cut-01's events applied exactly once
    assert store.run("R1")["steps"][0]["good"] == a_totals[("R1", 0)][0] + spare_good


async def test_broker_down_while_cells_keep_recording(factory: Factory) -> None:
    store = factory.scheduler_store()
    store.add_run(parse_run(_run("R1", "cut", 100_000)))
    store.add_run(parse_run(_run("R2", "print", 100_000)))
    sched = await factory.scheduler(store)
    cells = [
        await factory.cell("cut-01", "cut", cycle_s=0.02),
        await factory.cell("print-01", "print", cycle_s=0.02, scrap_every=7),
    ]
    await wait_until(lambda: len(store.totals_by_cell()) == 2, 15, "both cells counting")

    factory.broker.stop()
    await wait_until(lambda: not any(c.link.connected for c in cells), 10, "links down")
    before = [c.link.backlog for c in cells]
    await asyncio.sleep(OUTAGE_S)  # the fault itself: the broker stays away this long
    during = [c.link.backlog for c in cells]
    assert all(d > b + OUTAGE_S * 10 for b, d in zip(before, during, strict=True)), during
    factory.broker.start()

    await wait_until(lambda: all(c.link.connected for c in cells), 15, "links back")
    await wait_until(lambda: sched.connected, 15, "scheduler back")
    # Stop producing so the totals can settle. A unit already in its cycle still lands;
    # once each cell's work loop is parked on the closed gate, nothing more will.
    gates = [ParkingGate() for _ in cells]
    for c, gate in zip(cells, gates, strict=True):
        c.paused = gate
    await wait_until(lambda: all(g.parked for g in gates), 5, "every cell parked at its gate")
    events = [c.store.event_count() for c in cells]

    def settled() -> bool:
        by_cell = store.totals_by_cell()
        return all(c.link.backlog == 0 and by_cell.get(c.cell) == c.totals() for c in cells)

    await wait_until(settled, 30, "scheduler totals equal the cells' totals")
    for c in cells:
        assert store.totals_by_cell()[c.cell] == c.totals()
        applied = store.conn.execute(
            "SELECT COUNT(*) FROM applied WHERE cell = ?", (c.cell,)
        ).fetchone()[0]
        assert applied == c.store.event_count()
    assert [c.store.event_count() for c in cells] == events  # nothing landed after parking
