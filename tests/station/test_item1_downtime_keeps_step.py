"""Issue 16, item 1, step by step on real parts (Mosquitto, the scheduler, the cut-01
station): count 5 good and 1 scrap, report a machine jam, come back, complete.

cut-01 is the only cut cell, so the downtime must not take the step away: before the
fix the scheduler withdrew it, gave it back as "11 units" while the cell still held its
5, and the step completed at 11 good while finish and QA then counted 16.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cellctl.bus.broker_process import Mosquitto
from cellctl.config.load import load_site
from cellctl.domain.run_spec import parse_run
from cellctl.domain.states import CellState
from cellctl.scheduler import Scheduler
from cellctl.station.runtime import StationRuntime, open_station
from cellctl.store.scheduler_store import SchedulerStore
from tests.waiting import wait_until


async def test_a_jam_at_the_only_cut_cell_keeps_the_step_and_conserves_units(
    demo_dir: Path, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    site = load_site(demo_dir / "site.toml")
    mqtt = site.mqtt.model_copy(update={"url": mosquitto.url})
    store = SchedulerStore(tmp_path / "scheduler.db", synchronous="NORMAL")
    due = datetime.now(UTC) + timedelta(hours=2)
    store.add_run(
        parse_run(
            {"id": "R-PINS", "sku": "PIN-BADGE", "title": "Enamel pin badge, owl",
             "quantity": 16, "unit_margin": 3.5, "due": due.isoformat(),
             "routing": "cut>finish>qa", "batch": "B-OWL-01", "cycle_s": 10}
        )
    )  # fmt: skip
    scheduler = Scheduler(store, site=site, mqtt=mqtt, tick_s=0.05)
    cut = open_station(demo_dir / "cut-01.toml")
    runtime = StationRuntime(cut, broker_url=mosquitto.url, poll_s=0.05)
    await scheduler.start()
    await runtime.start()
    try:
        await wait_until(lambda: cut.assignment is not None, what="the step reaches cut-01")
        # Sign in (OP-ADA), accept and start, count 5 good and 1 scrap.
        cut.sign_in_badge("OP-ADA")
        cut.accept_assignment()
        await runtime.start_step()
        cut.count_good(5)
        cut.count_scrap("JAM")
        # Report downtime "Machine jam" (T at the kiosk).
        cut.record_downtime("JAM")
        view = lambda: scheduler.cells.get("cut-01")  # noqa: E731
        await wait_until(
            lambda: view() is not None and view().state == "down", what="the scheduler sees DOWN"
        )
        await wait_until(
            lambda: cut.store.outbox_count() == 0, what="the cell's events reach the broker"
        )
        await wait_until(
            lambda: store.totals_by_cell().get("cut-01"), what="the counts reach the scheduler"
        )
        step = store.steps("R-PINS")[0]
        # No other cut cell: the step stays on cut-01 and the kiosk keeps it.
        assert (step["cell"], step["status"]) == ("cut-01", "running")
        assert cut.assignment is not None and cut.assignment_accepted
        assert "withdrawn" not in cut.message
        # Back up: the step is as it was, 5 of 16 good.
        cut.end_downtime()
        assert cut.state == CellState.PAUSED
        assert cut.assignment.quantity == 16 and cut.counts() == (5, 1)
        await runtime.start_step()
        cut.count_good(11)
        cut.complete_step()
        await wait_until(lambda: store.steps("R-PINS")[0]["status"] == "done", what="cut step done")
        steps = store.steps("R-PINS")
        assert (steps[0]["good"], steps[0]["scrap"]) == (16, 1)
        # What finish may consume is what cut made good, and nothing breaks the rules.
        assert steps[1]["target"] == 16
        assert store.conservation_violations() == []
        assert store.conservation_alerts() == []
    finally:
        await runtime.stop()
        await scheduler.stop()
        store.close()
