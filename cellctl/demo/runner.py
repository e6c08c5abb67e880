"""A whole microfactory on this machine, laid out as the real floor: broker, scheduler,
site historian, cells and operators.

Each machine of a real floor has a folder of its own under the work folder, holding
only what that machine would hold (`prepare_floor`):

    central/            the central machine: the site file and every station file (for
                        `config check`), the scheduler's and the historian's databases
    cells/<cell>/       one kiosk each: the site file, its own station file, the site's
                        assets (inspection templates, job files, keys) and its own store
    board/              the supervisor's laptop: the site file and the public key

The broker is their only link: no part opens a file in another's folder.

Everything runs in one asyncio loop (the board's, when there is a board), so
Ctrl-C or the end of `--duration` stops it all in order: operators, cells (first
winding down with their links up, so what they record on the way down is sent; then
each publishes its offline status), scheduler and historian, then the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cellctl.bus.broker_process import Mosquitto, free_port, mosquitto_path
from cellctl.bus.tasks import cancel_and_wait
from cellctl.demo.locate import BROKER_URL_FILE
from cellctl.demo.operators import Habits, SimInspector, SimOperator
from cellctl.domain.states import CellState
from cellctl.station.controller import StationController
from cellctl.station.runtime import StationRuntime, open_station

log = logging.getLogger(__name__)

DEMO_SOURCE = Path(__file__).resolve().parents[2] / "stations" / "demo"
OPERATOR_OF_CELL = {
    "cut-01": "OP-ADA",
    "print-01": "OP-BEN",
    "print-02": "OP-DEE",
    "finish-01": "OP-CARA",
    "qa-01": "OP-QUINN",
}


def sample_runs(now: datetime) -> list[dict[str, Any]]:
    """Limited editions and open runs with different margins and due dates."""
    h = timedelta(hours=1)
    return [
        {"id": "R-FOX-MUG", "sku": "MUG-ENAMEL", "title": "Enamel mug, fox (limited)",
         "quantity": 12, "edition_size": 250, "unit_margin": 14.0, "due": now + 3 * h,
         "routing": "cut>print>finish>qa", "sla": "express", "batch": "B-FOX-01", "cycle_s": 20},
        {"id": "R-POSTER", "sku": "POSTER-A3", "title": "Riso poster A3, harbour",
         "quantity": 10, "edition_size": 100, "unit_margin": 9.0, "due": now + 6 * h,
         "routing": "cut>print>qa", "sla": "standard", "batch": "B-HARB-01", "cycle_s": 15},
        {"id": "R-PINS", "sku": "PIN-BADGE", "title": "Enamel pin badge, owl",
         "quantity": 16, "unit_margin": 3.5, "due": now + 2 * h,
         "routing": "cut>finish>qa", "sla": "standard", "batch": "B-OWL-01", "cycle_s": 10},
        {"id": "R-TOTE", "sku": "TOTE-BAG", "title": "Screen-printed tote bag",
         "quantity": 14, "unit_margin": 6.0, "due": now + 26 * h,
         "routing": "cut>print>finish>qa", "sla": "standard", "batch": "B-TOTE-01", "cycle_s": 25},
        {"id": "R-FOX-MUG-2", "sku": "MUG-ENAMEL", "title": "Enamel mug, fox (limited, lot 2)",
         "quantity": 12, "edition_size": 250, "unit_margin": 14.0, "due": now + 30 * h,
         "routing": "cut>print>finish>qa", "sla": "standard", "batch": "B-FOX-02", "cycle_s": 20},
    ]  # fmt: skip


@dataclass
class DemoOptions:
    workdir: Path
    seed: int = 7
    kiosk: str | None = None
    seconds_per_unit: float = 0.25
    down_cell: str | None = "print-01"
    down_after_s: float = 20.0
    reject_batch: str | None = "B-HARB-01"
    plan_every_s: float = 3.0
    move_after_down_s: float = 6.0
    log: Callable[[str], None] = field(default=print)


class Broker:
    """Mosquitto when installed, else amqtt in this process (MQTT 3.1.1 only)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.kind = "mosquitto" if mosquitto_path() else "amqtt"
        self.port = free_port()
        self._mosquitto: Mosquitto | None = None
        self._amqtt: Any = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def start(self) -> None:
        # Where `cellctl board` (and --web) finds the running demo's broker by itself.
        (self.workdir / BROKER_URL_FILE).write_text(self.url + "\n")
        if self.kind == "mosquitto":
            self._mosquitto = Mosquitto(port=self.port, workdir=self.workdir, die_with_parent=True)
            await asyncio.to_thread(self._mosquitto.start)
            return
        from amqtt.broker import Broker as AmqttBroker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "sys_interval": 0,
            "auth": {"allow-anonymous": True},
            "topic-check": {"enabled": False},
        }
        self._amqtt = AmqttBroker(config)
        await self._amqtt.start()

    async def stop(self) -> None:
        (self.workdir / BROKER_URL_FILE).unlink(missing_ok=True)
        if self._mosquitto is not None:
            await asyncio.to_thread(self._mosquitto.stop)
        if self._amqtt is not None:
            with contextlib.suppress(Exception):
                await self._amqtt.shutdown()


def add_signing_key(site_dir: Path) -> Path:
    """Give a copy of the demo site a signing key pair of its own; return the public key."""
    from cellctl.labels import keys

    keys.generate(site_dir / "keys" / "site.key", site_dir / "keys" / "site.pub")
    site = site_dir / "site.toml"
    text = site.read_text().replace(
        'scheduler_store = "var/scheduler.db"',
        'scheduler_store = "var/scheduler.db"\nsigning_key = "keys/site.key"\n'
        'public_key = "keys/site.pub"',
    )
    site.write_text(text)
    return site_dir / "keys" / "site.pub"


def prepare_site(workdir: Path) -> Path:
    """A fresh copy of the demo site in `workdir`, with a signing key pair of its own."""
    site_dir = workdir / "site"
    if site_dir.exists():
        shutil.rmtree(site_dir)
    shutil.copytree(DEMO_SOURCE, site_dir, ignore=shutil.ignore_patterns("var", "__pycache__"))
    add_signing_key(site_dir)
    # The demo runs whenever someone starts it, so its copy works around the clock.
    site = site_dir / "site.toml"
    text = site.read_text()
    day_shift = text[text.index("[[shifts]]") :]
    site.write_text(
        text.replace(
            day_shift,
            '[[shifts]]\nname = "demo"\nstart = "00:00"\nend = "23:59"\n'
            'days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]\n',
        )
    )
    return site_dir


def prepare_floor(workdir: Path) -> tuple[Path, dict[str, Path], Path]:
    """The central machine's folder, each cell's folder (cell -> its station file), and
    the board's folder, each holding only that machine's files (module docstring)."""
    central = prepare_site(workdir)
    site_text = (central / "site.toml").read_text()
    stations = tomllib.loads(site_text)["stations"]
    shared = [p for p in central.iterdir() if p.is_dir() and p.name not in ("var", "__pycache__")]
    cells: dict[str, Path] = {}
    floor = workdir / "cells"
    if floor.exists():
        shutil.rmtree(floor)
    for rel in stations:
        station = central / rel
        cell = tomllib.loads(station.read_text())["station"]["id"]
        folder = floor / cell
        folder.mkdir(parents=True)
        (folder / "site.toml").write_text(site_text)
        shutil.copy(station, folder / station.name)
        for asset in shared:
            shutil.copytree(asset, folder / asset.name)
        cells[cell] = folder / station.name
    board = workdir / "board"
    if board.exists():
        shutil.rmtree(board)
    board.mkdir()
    (board / "site.toml").write_text(site_text)
    (board / "keys").mkdir()  # the public key only: `verify` on the supervisor's laptop
    shutil.copy(central / "keys" / "site.pub", board / "keys" / "site.pub")
    return central, cells, board


class Demo:
    def __init__(self, options: DemoOptions) -> None:
        self.o = options
        self.workdir = options.workdir
        self.site_dir, self.cell_files, self.board_dir = prepare_floor(self.workdir)
        self.historian: Any = None
        self.broker = Broker(self.workdir)
        self.scheduler: Any = None
        self.controllers: dict[str, StationController] = {}
        self.runtimes: dict[str, StationRuntime] = {}
        self.operators: dict[str, SimOperator] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.errors: list[str] = []

    @property
    def labels_dir(self) -> Path:
        """Where the cells' label printers write (each cell's own var/labels)."""
        return self.workdir / "cells" / "*" / "var" / "labels"

    def station_files(self) -> list[Path]:
        """Each cell's own station file, in its own folder."""
        return list(self.cell_files.values())

    async def start(self) -> None:
        from cellctl.config.load import load_site
        from cellctl.domain.run_spec import parse_run
        from cellctl.scheduler.service import Scheduler
        from cellctl.store.scheduler_store import SchedulerStore

        await self.broker.start()
        self.o.log(f"broker: {self.broker.kind} on {self.broker.url}")
        site = load_site(self.site_dir / "site.toml")
        mqtt = site.mqtt.model_copy(update={"url": self.broker.url})
        store = SchedulerStore(self.site_dir / site.scheduler_store)
        now = datetime.now(UTC)
        for data in sample_runs(now):
            store.add_run(parse_run(data), source="demo")
        # The demo's shift is sped up, and so is the rule that moves a step off a
        # cell that stays down (a stop shorter than this keeps the step on the cell).
        self.scheduler = Scheduler(
            store, site=site, mqtt=mqtt, move_after_down_s=self.o.move_after_down_s
        )
        await self.scheduler.start()
        from cellctl.historian.answers import SiteContext
        from cellctl.historian.backends import open_store
        from cellctl.historian.service import Historian

        site_path = self.site_dir / "site.toml"
        self.historian = Historian(
            open_store(self.site_dir / site.historian_db),
            context=SiteContext.load(site, site_path),
            mqtt=mqtt,
        )
        await self.historian.start()
        for i, path in enumerate(self.station_files()):
            controller = open_station(path)
            runtime = StationRuntime(controller, broker_url=self.broker.url)
            self.controllers[controller.cell] = controller
            self.runtimes[controller.cell] = runtime
            await runtime.start()
            if controller.cell != self.o.kiosk:
                badge = OPERATOR_OF_CELL.get(controller.cell, "OP-ADA")
                habits = Habits(seconds_per_unit=self.o.seconds_per_unit)
                op: SimOperator
                if runtime.qa is not None:
                    op = SimInspector(
                        runtime,
                        badge,
                        runtime.qa,
                        seed=self.o.seed + i,
                        habits=habits,
                        reject_batches=(self.o.reject_batch,) if self.o.reject_batch else (),
                    )
                else:
                    op = SimOperator(runtime, badge, seed=self.o.seed + i, habits=habits)
                self.operators[controller.cell] = op
                self._tasks.append(asyncio.create_task(op.run(), name=f"op-{controller.cell}"))
        self.o.log(f"cells: {', '.join(self.controllers)}; labels in {self.labels_dir}")
        self._tasks.append(asyncio.create_task(self._planner(), name="planner"))
        if self.o.down_cell in self.controllers and self.o.down_cell != self.o.kiosk:
            self._tasks.append(asyncio.create_task(self._take_down(self.o.down_cell)))

    async def _planner(self) -> None:
        """A planner keeps the queue fed, so the shift goes on as long as the demo runs."""
        from cellctl.domain.run_spec import parse_run

        rng = __import__("random").Random(self.o.seed)
        templates = sample_runs(datetime.now(UTC))
        n = 0
        while True:
            queued = [r for r in self.scheduler.store.runs() if r["status"] == "queued"]
            if len(queued) >= 2:
                # Topped up to two waiting runs, then a look every few seconds: one run per
                # 10 s left the cutter idle half the demo (a loss of availability in OEE).
                await asyncio.sleep(self.o.plan_every_s)
                continue
            n += 1
            base = dict(rng.choice(templates))
            base.update(
                id=f"{base['id']}-{n:03d}",
                batch=f"{base['batch'][:-3]}-{n + 2:02d}",
                due=datetime.now(UTC) + timedelta(hours=rng.uniform(1, 30)),
                quantity=rng.randint(8, 16),
            )
            self.scheduler.store.add_run(parse_run(base), source="planner")
            self.o.log(f"planner: run {base['id']} submitted")

    async def _take_down(self, cell: str) -> None:
        """One cell breaks down mid-shift and stays down; after `move_after_down_s` the
        scheduler moves its step to the other cell of its kind."""
        await asyncio.sleep(self.o.down_after_s)
        op = self.operators.get(cell)
        c = self.controllers[cell]
        if op is None:
            return
        # Break down in the middle of a step, so there is a step to move elsewhere.
        while not (c.state == CellState.RUNNING and c.assignment_accepted):
            await asyncio.sleep(0.2)
        op.stop()
        with contextlib.suppress(Exception):
            state: CellState = c.state  # its operator may have stopped it since
            if state != CellState.DOWN:
                c.machine_stopped("spindle motor failure")
            c.record_downtime("MAINT")
        self.o.log(
            f"{cell}: down for maintenance; its step moves if it stays down "
            f"{self.o.move_after_down_s:.0f} s and another cell of its kind is free"
        )

    async def stop(self) -> None:
        for op in self.operators.values():
            op.stop()
        for task in self._tasks:
            await cancel_and_wait(task)
        for runtime in self.runtimes.values():
            with contextlib.suppress(Exception):
                await runtime.wind_down()
        for runtime in self.runtimes.values():
            with contextlib.suppress(Exception):
                await runtime.stop()
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.historian is not None:
            await self.historian.stop()
            self.historian.store.close()
        await self.broker.stop()

    # -- what a test or a person checks at the end ------------------------------------

    def cell_totals(self) -> dict[str, dict[tuple[str, int], tuple[int, int]]]:
        out: dict[str, dict[tuple[str, int], tuple[int, int]]] = {}
        for cell, c in self.controllers.items():
            rows = c.store.read_tables()["step_counts"]
            totals = {(r, s): (g, sc) for r, s, g, sc in rows if g or sc}
            if totals:
                out[cell] = totals
        return out

    def scheduler_totals(self) -> dict[str, dict[tuple[str, int], tuple[int, int]]]:
        raw = self.scheduler.store.totals_by_cell()
        return {
            cell: {k: v for k, v in t.items() if v != (0, 0)}
            for cell, t in raw.items()
            if any(v != (0, 0) for v in t.values())
        }

    def backlog(self) -> int:
        return sum(c.store.outbox_count() for c in self.controllers.values())

    async def settle(self, timeout: float = 15.0) -> bool:
        """Wind the floor down, then wait until every cell's outbox is empty and the
        scheduler agrees.

        In order: the operators told to stop finish what they had in hand, the planner
        and the breakdown stop, the machines finish the job they were running, then each
        cell winds down with its link still up (a line machine counting its own cycles,
        a job aborted at close or an assignment arriving would otherwise land in the
        outbox after the check, and stay there once the links close)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        stopping = {f"op-{cell}" for cell, op in self.operators.items() if op.stopped.is_set()}
        busy = [t for t in self._tasks if t.get_name() in stopping and not t.done()]
        if busy:
            await asyncio.wait(busy, timeout=timeout)
        for task in self._tasks:
            await cancel_and_wait(task)
        jobs_end = loop.time() + 5.0  # a demo job takes about 2 s
        while self._machines_busy() and loop.time() < jobs_end:
            await asyncio.sleep(0.1)
        for runtime in self.runtimes.values():
            await runtime.wind_down()
        while loop.time() < deadline:
            if (
                self.backlog() == 0
                and self.cell_totals() == self.scheduler_totals()
                and not self.historian_behind()
            ):
                return True
            await asyncio.sleep(0.2)
        return False

    def historian_behind(self) -> dict[str, tuple[int, int]]:
        """cell -> (the historian's contiguous mark, the cell's last seq) where the site
        historian does not yet hold every event of the cell exactly once."""
        if self.historian is None:
            return {}
        marks = self.historian.store.seq_marks()
        out = {}
        for cell, c in self.controllers.items():
            last = c.store.last_seq()
            hwm = marks.get(cell, (0, 0))[0]
            if hwm != last:
                out[cell] = (hwm, last)
        return out

    def left_in_outboxes(self) -> dict[str, dict[str, int]]:
        """cell -> {event type: count} of what never reached the broker (after stop)."""
        out = {}
        for cell, c in self.controllers.items():
            summary = c.store.outbox_summary()
            if summary["count"]:
                out[cell] = summary["by_type"]
        return out

    def _machines_busy(self) -> bool:
        jobs = [rt.machine.job for rt in self.runtimes.values() if rt.machine is not None]
        return any(job is not None and job.active for job in jobs)

    def conservation_problems(self) -> list[str]:
        """Every run whose step counts break conservation, and what the scheduler raised."""
        store = self.scheduler.store
        found = [str(v) for v in store.conservation_violations()]
        found += [f"alert: {a['message']}" for a in store.conservation_alerts()]
        return found

    def runs_done(self) -> list[str]:
        return [r["id"] for r in self.scheduler.store.runs() if r["status"] == "done"]


def default_workdir() -> Path:
    return Path(os.environ.get("CELLCTL_DEMO_DIR", Path.cwd() / "demo-run"))
