"""The chaos suite: a simulated shift of four cells, the scheduler and a real
Mosquitto, with faults injected one after another and the invariants checked
after each.

Every cell is the real station (store, controller, runtime, broker link, machine
bridge, label printer) in its own process with a simulated person at it
(`bench.chaos_cell`); its machine and its label printer are simulators on real
pseudo-terminals owned by this process, so they outlive a killed station as real
hardware would. The scheduler is `cellctl scheduler run` in its own process, and the
site historian `cellctl historian run`, on PostgreSQL when a server can be started here
(so its database can be restarted under it), else on SQLite.

Invariants, after every fault:
- every event a cell confirmed (count, defect, label, serial, ...) is in its store;
- once the broker is reachable, the scheduler has applied each of them exactly
  once: the set of applied ids equals the store's, and at a moment when the two
  agree, the scheduler's good/scrap totals equal the cell's;
- no serial number was issued twice across the site;
- each cell's read tables equal a rebuild from its log (`store check`);
- no label came out of a printer more often than the cell's print queue sent it;
- units are conserved from step to step: no step used more units than its upstream
  step made good, and no step is done short unless it was closed short
  (`cellctl store check --site`, domain.conservation);
- the historian holds every confirmed event exactly once: at a moment when it has
  caught up, its events of each cell are the cell's store's, each once.

`python -m bench.chaos [--quick] [--json PATH] [--markdown RELIABILITY.md]`
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import Report, parser
from cellctl.bus.broker_process import Mosquitto
from cellctl.demo.runner import prepare_site, sample_runs
from cellctl.domain.run_spec import parse_run
from cellctl.labels.printer_sim import QLPrinterSim, Roll
from cellctl.store.scheduler_store import SchedulerStore
from cellctl.store.station_store import StationStore
from firmware_bridge.sim import make_sim

ROOT = Path(__file__).resolve().parents[1]
CELLS = {  # cell -> (badge, machine simulator, printer model code)
    "cut-01": ("OP-ADA", "grbl", 0x41),
    "print-01": ("OP-BEN", "marlin", 0x35),
    "finish-01": ("OP-CARA", "line", 0x41),
    "qa-01": ("OP-QUINN", None, 0x41),
}
DISK_CELL = "cut-01"  # its store lives on a small filesystem of its own
CLOCK_CELL = "print-01"


def _now() -> float:
    return time.monotonic()


def wait_for(cond: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
    """Poll a condition that no event announces (another process's database)."""
    deadline = _now() + timeout
    while _now() < deadline:
        if cond():
            return True
        time.sleep(poll)
    return cond()


def _snapshot(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite file (the backup API, no write lock)."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    with contextlib.closing(source), contextlib.closing(sqlite3.connect(dst)) as d:
        source.backup(d)


def _without_table(toml_text: str, name: str) -> str:
    out: list[str] = []
    skipping = False
    for line in toml_text.splitlines():
        if line.startswith("["):
            skipping = line.strip() == f"[{name}]"
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n"


@dataclass
class CellProc:
    cell: str
    badge: str
    station: Path
    db: Path
    broker_url: str
    seed: int
    logdir: Path
    proc: subprocess.Popen[str] | None = None
    acked: dict[str, str] = field(default_factory=dict)  # event id -> type
    starts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, timeout: float = 60.0) -> None:
        ready = threading.Event()
        self.starts += 1
        err = open(self.logdir / f"{self.cell}.stderr", "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.chaos_cell", "--station", str(self.station),
             "--db", str(self.db), "--broker", self.broker_url, "--badge", self.badge,
             "--seed", str(self.seed * 100 + self.starts)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
            env={**os.environ, "TMPDIR": str(self.logdir)},  # a SIGKILLed cell's temp files
        )  # fmt: skip
        err.close()
        threading.Thread(target=self._read, args=(self.proc, ready), daemon=True).start()
        if not ready.wait(timeout):
            raise RuntimeError(f"{self.cell} did not start; see {self.logdir}/{self.cell}.stderr")

    def _read(self, proc: subprocess.Popen[str], ready: threading.Event) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            words = line.split()
            if words[:1] == ["ack"] and len(words) == 4:
                with self._lock:
                    self.acked[words[2]] = words[3]
            elif words[:1] == ["ready"]:
                ready.set()

    def acked_ids(self) -> set[str]:
        with self._lock:
            return set(self.acked)

    def send(self, command: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(OSError):
            self.send("stop")
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Check:
    fault: str
    detail: str
    events_lost: int = 0
    events_duplicated: int = 0
    serials_reused: int = 0
    store_problems: list[str] = field(default_factory=list)
    labels_twice: int = 0
    conservation: list[str] = field(default_factory=list)
    historian_missing: int = 0
    settle_s: float = 0.0
    note: str = ""
    took_effect: bool = True  # False: the fault was injected but did not bite

    @property
    def ok(self) -> bool:
        return self.took_effect and not (
            self.events_lost
            or self.events_duplicated
            or self.serials_reused
            or self.store_problems
            or self.labels_twice
            or self.conservation
            or self.historian_missing
        )


class Shift:
    """Four cells, the scheduler and Mosquitto, all on this machine."""

    def __init__(self, workdir: Path, seed: int) -> None:
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.seed = seed
        self.broker = Mosquitto(workdir=workdir, die_with_parent=True)
        self.site_dir = prepare_site(workdir)
        self.logdir = workdir / "logs"
        self.logdir.mkdir()
        self.sched_db = self.site_dir / "var" / "scheduler.db"
        self.sched_proc: subprocess.Popen[str] | None = None
        self.hist_proc: subprocess.Popen[str] | None = None
        self.pg: Any = None  # a PostgreSQL cluster for the historian, when one can start
        self.hist_db = str(self.site_dir / "var" / "historian.db")
        self.machines: dict[str, Any] = {}
        self.printers: dict[str, QLPrinterSim] = {}
        self.cells: dict[str, CellProc] = {}
        self.disk: Path | None = None
        self.disk_note = ""
        self.missed: list[str] = []  # faults that did not bite, said by the fault itself
        self._runs = 0
        self._planning_done = threading.Event()

    # -- set-up ---------------------------------------------------------------------

    def _mount_small_disk(self) -> Path | None:
        """The disk-full cell's store on a 32 MiB tmpfs of its own (needs root)."""
        mnt = self.workdir / "disk"
        mnt.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            self.disk_note = f"no small filesystem: mount failed ({done.stderr.strip()})"
            return None
        return mnt

    def _cell_folder(self, cell: str) -> Path:
        """The cell's machine: the site file, its own station file and the site's assets,
        nothing of another cell (the broker is the only link between them)."""
        folder = self.workdir / "cells" / cell
        folder.mkdir(parents=True)
        shutil.copy(self.site_dir / "site.toml", folder / "site.toml")
        for asset in ("inspection", "instructions", "jobs", "keys"):
            if (self.site_dir / asset).is_dir():
                shutil.copytree(self.site_dir / asset, folder / asset)
        (folder / "var").mkdir()
        return folder

    def _station_file(self, cell: str, db: Path) -> Path:
        text = (self.site_dir / f"{cell}.toml").read_text()
        path = self.workdir / "cells" / cell / f"{cell}.toml"
        text = _without_table(text, "camera")  # no camera: not under test here
        if cell in self.machines:
            text = re.sub(r'port = "[^"]*"', f'port = "{self.machines[cell].path}"', text)
        text = re.sub(r'backend = "[^"]*"', f'backend = "{self.printers[cell].url}"', text)
        text = text.replace("[station]\n", f'[station]\nstore = "{db}"\n', 1)
        path.write_text(text)
        return path

    def start(self) -> None:
        site = self.site_dir / "site.toml"
        text = site.read_text()
        text = re.sub(r'"print-02\.toml",?\s*', "", text)
        site.write_text(text)
        self.broker.start()
        self.disk = self._mount_small_disk()
        store = SchedulerStore(self.sched_db)
        for data in sample_runs(datetime.now(UTC)):
            store.add_run(parse_run(data), source="chaos")
        store.close()
        self._start_scheduler()
        self._start_pg()
        self._start_historian()
        for i, (cell, (badge, machine, model)) in enumerate(CELLS.items()):
            if machine is not None:
                opts = {"time_scale": 0.05} if machine != "marlin" else {}
                self.machines[cell] = make_sim(machine, **opts).start()
            self.printers[cell] = QLPrinterSim(model, Roll(62 if cell != "finish-01" else 29))
            home = self._cell_folder(cell)
            folder = self.disk if (cell == DISK_CELL and self.disk) else home / "var"
            db = folder / f"{cell}.db"
            station = self._station_file(cell, db)
            self.cells[cell] = CellProc(
                cell, badge, station, db, self.broker.url, self.seed + i, self.logdir
            )
        for c in self.cells.values():
            c.start()
        self.feed_queue()
        threading.Thread(target=self._planner, name="planner", daemon=True).start()

    def _start_scheduler(self) -> None:
        err = open(self.logdir / "scheduler.stderr", "a")  # noqa: SIM115
        self.sched_proc = subprocess.Popen(
            [sys.executable, "-m", "cellctl", "scheduler", "run", "--site",
             str(self.site_dir / "site.toml"), "--db", str(self.sched_db),
             "--url", self.broker.url],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
        err.close()
        assert self.sched_proc.stdout is not None
        self.sched_proc.stdout.readline()  # "scheduler for site ...": it is subscribed

    def _start_pg(self) -> None:
        try:
            from tests.fixtures.postgres import PostgresCluster, postgres_available
        except ImportError:  # an installed cellctl without its tests: SQLite it is
            return
        if postgres_available() is None:
            self.pg = PostgresCluster().start()  # its own temporary folder, removed at stop
            self.hist_db = self.pg.create_database("historian")

    def _start_historian(self) -> None:
        err = open(self.logdir / "historian.stderr", "a")  # noqa: SIM115
        self.hist_proc = subprocess.Popen(
            [sys.executable, "-m", "cellctl", "historian", "run", "--site",
             str(self.site_dir / "site.toml"), "--db", self.hist_db, "--url", self.broker.url],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
        err.close()
        assert self.hist_proc.stdout is not None
        self.hist_proc.stdout.readline()  # its first line: it is subscribed

    def _historian_ids(self, cell: str) -> list[str] | None:
        """The ids the historian holds of a cell's events (None: its database is away)."""
        from cellctl.historian.backends import open_store

        try:
            store = open_store(self.hist_db)
        except Exception:
            return None
        try:
            return [r[0] for r in store.execute("SELECT id FROM events WHERE cell = ?", (cell,))]
        except Exception:
            return None
        finally:
            store.close()

    def _planner(self) -> None:
        while not self._planning_done.wait(1.0):
            self.feed_queue()

    def feed_queue(self) -> None:
        """A planner: keep a few runs queued so every cell has work all shift."""
        with contextlib.closing(SchedulerStore(self.sched_db)) as store:
            queued = [r for r in store.runs() if r["status"] == "queued"]
            templates = sample_runs(datetime.now(UTC))
            while len(queued) < 3:
                self._runs += 1
                base = dict(self.rng.choice(templates))
                base.update(
                    id=f"{base['id']}-C{self._runs:03d}",
                    batch=f"{base['batch']}-C{self._runs:03d}",
                    due=datetime.now(UTC) + timedelta(hours=self.rng.uniform(1, 30)),
                    quantity=self.rng.randint(6, 12),
                )
                store.add_run(parse_run(base), source="chaos")
                queued.append(base)

    def stop(self) -> None:
        self._planning_done.set()
        for c in self.cells.values():
            c.stop()
        for proc in (self.sched_proc, self.hist_proc):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(15)
                if proc.poll() is None:
                    proc.kill()
        if self.pg is not None:
            self.pg.remove()
        self.broker.stop()
        for m in self.machines.values():
            m.stop()
        for p in self.printers.values():
            p.close()
        if self.disk is not None:
            self.fill_disk(False)
            subprocess.run(["umount", "-l", str(self.disk)], check=False)

    # -- faults -----------------------------------------------------------------------

    def kill_station(self, cell: str) -> str:
        c = self.cells[cell]
        c.kill()
        c.start()
        return f"SIGKILL {cell} (start {c.starts}), restarted"

    def kill_scheduler(self) -> str:
        assert self.sched_proc is not None
        self.sched_proc.send_signal(signal.SIGKILL)
        self.sched_proc.wait()
        self._start_scheduler()
        return "SIGKILL scheduler, restarted"

    def kill_historian(self) -> str:
        assert self.hist_proc is not None
        self.hist_proc.send_signal(signal.SIGKILL)
        self.hist_proc.wait()
        self._start_historian()
        return "SIGKILL historian, restarted"

    def restart_historian_db(self, seconds: float = 2.0) -> str:
        if self.pg is None:
            self.missed.append("no PostgreSQL here: the historian is on SQLite")
            return "historian database restart skipped"
        self.pg.stop()
        time.sleep(seconds)  # the fault itself: the database is away this long
        self.pg.start()
        return f"PostgreSQL under the historian stopped for {seconds:.0f} s and restarted"

    def kill_broker(self) -> str:
        self.broker.kill()
        self.broker.start()
        return "SIGKILL mosquitto, restarted on the same port"

    def broker_outage(self, seconds: float) -> str:
        self.broker.stop()
        time.sleep(seconds)  # the fault itself: cells keep working this long without it
        self.broker.start()
        return f"broker unreachable for {seconds:.0f} s while the cells kept working"

    def _last_event(self, cell: str, etype: str) -> tuple[int, dict[str, Any]]:
        """(seq, payload) of the cell's newest event of a type; (0, {}) when none."""
        uri = f"file:{self.cells[cell].db}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
            row = conn.execute(
                "SELECT seq, payload FROM events WHERE type = ? ORDER BY seq DESC LIMIT 1", (etype,)
            ).fetchone()
        return (row[0], json.loads(row[1])) if row else (0, {})

    def pull_cable(self, cell: str = "cut-01", seconds: float = 3.0) -> str:
        """Pulled while the machine runs a job: the job stops with what was acknowledged."""

        def streaming() -> bool:
            started, _ = self._last_event(cell, "machine_job_started")
            return started > self._last_event(cell, "machine_job_finished")[0]

        wait_for(streaming, 90, 0.2)
        before, _ = self._last_event(cell, "machine_job_finished")
        sim = self.machines[cell]
        sim.unplug()
        time.sleep(seconds)  # the fault itself: the cable stays out this long
        sim.plug()
        ended = wait_for(lambda: self._last_event(cell, "machine_job_finished")[0] > before, 30)
        _, job = self._last_event(cell, "machine_job_finished")
        if not ended or job.get("outcome") == "done":
            self.missed.append("no job was cut short by the pulled cable")
            return f"{cell}'s serial cable pulled for {seconds:.0f} s; no job was cut short"
        return (
            f"{cell}'s serial cable pulled for {seconds:.0f} s mid-job: job {job.get('job')} "
            f"{job.get('outcome')} with {job.get('lines_acked')} lines acknowledged; plugged back"
        )

    def _queue_states(self, cell: str) -> Counter[str]:
        qdb = self.cells[cell].db.with_suffix(".labels.db")
        if not qdb.exists():
            return Counter()
        with contextlib.closing(sqlite3.connect(f"file:{qdb}?mode=ro", uri=True)) as conn:
            return Counter(dict(conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")))

    def out_of_media(self, seconds: float) -> str:
        """The busiest printer runs out mid-batch; its jobs wait and print once refilled."""
        cell = max(self.printers, key=lambda c: self.printers[c].pages_printed)
        printer = self.printers[cell]
        roll = printer.roll
        printer.load(None)
        # Out of labels until the cell wants to print, and a while longer.
        wait_for(lambda: self._queue_states(cell)["waiting"] > 0, 90, 0.2)
        time.sleep(seconds)  # the fault itself: nobody refills the printer for a while
        waiting = self._queue_states(cell)["waiting"]
        pages = printer.pages_printed
        printer.load(roll)
        drained = wait_for(lambda: self._queue_states(cell)["waiting"] == 0, 30, 0.2)
        if not waiting or not drained:
            self.missed.append("no job waited for labels, or waiting jobs never printed")
        return (
            f"{cell}'s printer out of labels until {waiting} jobs waited ({seconds:.0f} s more); "
            f"refilled: {printer.pages_printed - pages} pages printed"
            + ("" if drained else ", but jobs still wait 30 s later")
        )

    def fill_disk(self, full: bool) -> None:
        assert self.disk is not None
        filler = self.disk / "filler"
        if not full:
            filler.unlink(missing_ok=True)
            return
        # Unbuffered: a buffered file keeps the part of a block that did not fit and
        # fails again with ENOSPC when it is closed.
        with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
            block = b"\0" * (1 << 16)
            while True:
                f.write(block)

    def disk_full(self, seconds: float) -> str:
        if self.disk is None:
            self.missed.append(self.disk_note)
            return f"skipped: {self.disk_note}"
        before = self._log_mentions(DISK_CELL, "disk is full")
        # SQLite would first fill the room its WAL file already has (minutes, at a
        # cell's pace): empty the WAL into the database, then fill the disk.
        with contextlib.closing(sqlite3.connect(self.cells[DISK_CELL].db, timeout=30)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.fill_disk(True)
        hit = wait_for(lambda: self._log_mentions(DISK_CELL, "disk is full") > before, 60, 0.2)
        acked = len(self.cells[DISK_CELL].acked)
        time.sleep(seconds)  # the fault itself: the disk stays full this long
        during = len(self.cells[DISK_CELL].acked) - acked
        refused = self._log_mentions(DISK_CELL, "disk is full") - before
        self.fill_disk(False)
        if not hit:
            self.missed.append("the full disk never refused a write")
            return f"{DISK_CELL}'s disk filled, but the cell was never refused a write"
        return (
            f"{DISK_CELL}'s disk full for {seconds:.0f} s: {refused} actions refused with "
            f"'disk is full', {during} confirmed; space freed"
        )

    def _log_mentions(self, cell: str, text: str) -> int:
        return (self.logdir / f"{cell}.stderr").read_text().count(text)

    def clock_jump(self, seconds: float, cell: str = CLOCK_CELL) -> str:
        self.cells[cell].send(f"clock {seconds}")
        return f"{cell}'s wall clock stepped {seconds:+.0f} s"

    # -- invariants -------------------------------------------------------------------

    def check(self, fault: str, detail: str, settle_timeout: float = 60.0) -> Check:
        t0 = _now()
        result = Check(fault, detail)
        scratch = Path(tempfile.mkdtemp(dir=self.workdir))
        serials: Counter[str] = Counter()
        pending = set(self.cells)
        last_copy: dict[str, StationStore] = {}
        acked: dict[str, set[str]] = {}
        deadline = _now() + settle_timeout
        try:
            while True:
                for cell in list(pending):
                    settled, copy, acked[cell] = self._settled(cell, scratch)
                    if cell in last_copy:
                        last_copy[cell].close()
                    last_copy[cell] = copy
                    if settled is not None:
                        result.events_duplicated += settled
                        pending.discard(cell)
                if not pending or _now() > deadline:
                    break
                time.sleep(0.1)
            for cell, copy in last_copy.items():
                events = copy.events()
                result.events_lost += len(acked[cell] - {e.id for e in events})
                for e in events:
                    if e.type == "serials_allocated":
                        serials.update(e.payload["serials"])
                result.store_problems += [f"{cell}: {p}" for p in copy.check()]
                twice = self._labels_twice(cell)
                result.labels_twice += twice
                if twice:
                    result.note = f"{result.note} {cell} printed {twice} page(s) twice".strip()
            result.historian_missing = self._missing_at_historian(last_copy, deadline)
            if pending:
                missing = self._missing_at_scheduler(pending, last_copy)
                result.events_lost += missing
                result.note = (
                    f"not settled in {settle_timeout:.0f} s: {', '.join(sorted(pending))}; "
                    f"{missing} events not at the scheduler"
                )
            result.serials_reused = sum(n - 1 for n in serials.values() if n > 1)
            result.conservation = self.conservation_problems()
        finally:
            for copy in last_copy.values():
                copy.close()
            shutil.rmtree(scratch, ignore_errors=True)
        result.settle_s = _now() - t0
        return result

    def conservation_problems(self) -> list[str]:
        """Every run whose step counts break conservation, per the scheduler's store."""
        with contextlib.closing(SchedulerStore(self.sched_db)) as store:
            return [str(v) for v in store.conservation_violations()]

    def _scheduler_view(self, cell: str) -> tuple[set[str], dict[tuple[str, int], tuple[int, int]]]:
        with contextlib.closing(
            sqlite3.connect(f"file:{self.sched_db}?mode=ro", uri=True, isolation_level=None)
        ) as conn:
            conn.execute("BEGIN")  # one snapshot for both reads
            applied = {
                r[0] for r in conn.execute("SELECT event_id FROM applied WHERE cell = ?", (cell,))
            }
            totals = {
                (r, s): (g, sc)
                for r, s, g, sc in conn.execute(
                    "SELECT run_id, step, good, scrap FROM counts WHERE cell = ?", (cell,)
                )
                if g or sc
            }
            conn.execute("COMMIT")
        return applied, totals

    def _settled(self, cell: str, scratch: Path) -> tuple[int | None, StationStore, set[str]]:
        """At a moment when the scheduler has applied exactly the cell's events, how
        many units does it count beyond the cell's own totals? None: no such moment.
        Also returns a copy of the cell's store and the events confirmed before it."""
        applied, sched_totals = self._scheduler_view(cell)
        acked = self.cells[cell].acked_ids()  # before the copy: each must be in it
        dst = scratch / f"{cell}-{time.monotonic_ns()}.db"
        _snapshot(self.cells[cell].db, dst)
        copy = StationStore(dst, cell)
        ids = {e.id for e in copy.events()}
        if applied != ids:
            return None, copy, acked
        rows = copy.read_tables()["step_counts"]
        own = {(r, s): (g, sc) for r, s, g, sc in rows if g or sc}
        extra = 0
        for key in set(own) | set(sched_totals):
            g1, s1 = own.get(key, (0, 0))
            g2, s2 = sched_totals.get(key, (0, 0))
            extra += max(0, g2 - g1) + max(0, s2 - s1)
        return extra, copy, acked

    def _missing_at_historian(self, copies: dict[str, StationStore], deadline: float) -> int:
        """Events of the cells' stores the historian lacks or holds twice, once it has had
        until `deadline` to catch up (it holds at least what the copies hold by then)."""
        while True:
            off = 0
            for cell, copy in copies.items():
                ids = {e.id for e in copy.events()}
                held = self._historian_ids(cell)
                if held is None:
                    off += len(ids)
                    continue
                off += len(ids - set(held)) + (len(held) - len(set(held)))
            if off == 0 or _now() > deadline:
                return off
            time.sleep(0.2)

    def _missing_at_scheduler(self, cells: set[str], copies: dict[str, StationStore]) -> int:
        missing = 0
        for cell in cells:
            applied, _ = self._scheduler_view(cell)
            missing += len({e.id for e in copies[cell].events()} - applied)
        return missing

    def _labels_twice(self, cell: str) -> int:
        """Pages the printer made beyond what the queue sent (printed, or in doubt)."""
        qdb = self.cells[cell].db.with_suffix(".labels.db")
        if not qdb.exists():
            return 0
        with contextlib.closing(sqlite3.connect(f"file:{qdb}?mode=ro", uri=True)) as conn:
            sent = conn.execute(
                "SELECT COALESCE(SUM(pages), 0) FROM jobs "
                "WHERE state IN ('printed', 'sending', 'uncertain')"
            ).fetchone()[0]
        return max(0, self.printers[cell].pages_printed - sent)


@dataclass
class Plan:
    station_kills: int = 20
    scheduler_kills: int = 5
    broker_kills: int = 5
    historian_kills: int = 5
    db_restarts: int = 3
    outage_s: float = 60.0
    cable_s: float = 3.0
    media_s: float = 8.0
    disk_s: float = 6.0
    gap_s: tuple[float, float] = (2.0, 6.0)

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            3, 1, 1, 1, 1, outage_s=8.0, cable_s=2.0, media_s=4.0, disk_s=3.0, gap_s=(1.0, 2.5)
        )


def run_suite(
    plan: Plan, seed: int, workdir: Path, log: Callable[[str], None] = print
) -> list[Check]:
    rng = random.Random(seed)
    shift = Shift(workdir, seed)
    faults: list[tuple[str, Callable[[], str]]] = []
    cells = list(CELLS)
    for cell in (rng.choice(cells) for _ in range(plan.station_kills)):
        faults.append(("station SIGKILL", lambda c=cell: shift.kill_station(c)))
    faults += [("scheduler SIGKILL", shift.kill_scheduler)] * plan.scheduler_kills
    faults += [("mosquitto SIGKILL", shift.kill_broker)] * plan.broker_kills
    faults += [("historian SIGKILL", shift.kill_historian)] * plan.historian_kills
    faults += [("historian database restart", shift.restart_historian_db)] * plan.db_restarts
    rng.shuffle(faults)
    faults += [
        ("broker unreachable", lambda: shift.broker_outage(plan.outage_s)),
        ("serial cable pulled", lambda: shift.pull_cable("cut-01", plan.cable_s)),
        ("printer out of media", lambda: shift.out_of_media(plan.media_s)),
        ("disk full", lambda: shift.disk_full(plan.disk_s)),
        ("clock jumps backwards", lambda: shift.clock_jump(-3 * 3600)),
        ("clock jumps forwards", lambda: shift.clock_jump(+5 * 3600)),
    ]
    checks: list[Check] = []
    try:
        shift.start()
        log(f"shift started in {workdir}: {', '.join(CELLS)}, scheduler, {shift.broker.url}")
        for name, inject in faults:
            time.sleep(rng.uniform(*plan.gap_s))  # a random moment in the shift
            shift.missed.clear()
            detail = inject()
            time.sleep(rng.uniform(*plan.gap_s))  # work goes on after the fault
            check = shift.check(name, detail)
            if shift.missed:
                check.took_effect = False
                check.note = "; ".join([check.note, *shift.missed]).strip("; ")
            checks.append(check)
            log(
                f"{'ok  ' if check.ok else 'FAIL'} {name}: {detail}; lost {check.events_lost}, "
                f"dup {check.events_duplicated}, serials reused {check.serials_reused}, "
                f"historian off by {check.historian_missing}, "
                f"settled in {check.settle_s:.1f} s {check.note}"
            )
            for p in check.store_problems:
                log(f"     store: {p}")
            for p in check.conservation:
                log(f"     conservation: {p}")
    finally:
        shift.stop()
    tracebacks = sum(
        (shift.logdir / f).read_text().count("Traceback") for f in os.listdir(shift.logdir)
    )
    confirmed = sum(len(c.acked) for c in shift.cells.values())
    pages = sum(p.pages_printed for p in shift.printers.values())
    with contextlib.closing(SchedulerStore(shift.sched_db)) as store:
        done = sum(r["status"] == "done" for r in store.runs())
    checks.append(
        Check(
            "end of shift",
            f"{confirmed} events confirmed by the cells, {done} runs done, {pages} label "
            f"pages printed, {tracebacks} tracebacks in the processes' logs",
        )
    )
    return checks


COLUMNS = (
    "fault", "times", "passed", "events lost", "events duplicated", "serials reused",
    "store problems", "labels twice", "historian off by", "slowest settle",
)  # fmt: skip


def write_markdown(checks: list[Check], path: Path, command: str) -> None:
    by_fault: dict[str, list[Check]] = {}
    for c in checks:
        by_fault.setdefault(c.fault, []).append(c)
    lines = [
        "# Reliability: the chaos suite's last run",
        "",
        f"Generated by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; do not edit by hand.",
        "",
        "Four cells (cut-01 on the GRBL simulator, print-01 on Marlin, finish-01 on the line",
        "protocol, qa-01), each the real station in its own process with a simulated person,",
        "the scheduler in its own process and a real Mosquitto. After every fault: every",
        "event a cell confirmed is in its store and, once the broker is back, applied by the",
        "scheduler exactly once (applied ids equal the store's, totals equal the cell's); no",
        "serial issued twice; read tables equal a rebuild of the log; no label printed twice;",
        "the site historian (on PostgreSQL where a server can start) holds every event once.",
        "Each cell runs from a folder of its own holding only its own files.",
        "Each check counts the whole shift up to then, so a column shows its worst check.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|---|" + "---:|" * (len(COLUMNS) - 1),
    ]
    for fault, cs in by_fault.items():
        lines.append(
            f"| {fault} | {len(cs)} | {sum(c.ok for c in cs)} | {max(c.events_lost for c in cs)} "
            f"| {max(c.events_duplicated for c in cs)} | {max(c.serials_reused for c in cs)} "
            f"| {max(len(c.store_problems) for c in cs)} | {max(c.labels_twice for c in cs)} "
            f"| {max(c.historian_missing for c in cs)} | {max(c.settle_s for c in cs):.1f} s |"
        )
    lines += ["", "## Each fault", ""]
    lines += [f"- {'ok' if c.ok else 'FAILED'}: {c.detail} {c.note}".rstrip() for c in checks]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--quick", action="store_true", help="the fast cases only (as the tests run)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--markdown", default=str(ROOT / "RELIABILITY.md"), help="the table to write")
    p.add_argument("--keep", action="store_true", help="keep the shift's folder for a look")
    args = p.parse_args()
    plan = Plan.quick() if args.quick else Plan()
    workdir = Path(tempfile.mkdtemp(prefix="cellctl-chaos-"))
    t0 = _now()
    try:
        checks = run_suite(plan, args.seed, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    command = "python -m bench.chaos" + (" --quick" if args.quick else "")
    if not args.quick or args.markdown != str(ROOT / "RELIABILITY.md"):
        write_markdown(checks, Path(args.markdown), command)
    faults = [c for c in checks if c.fault != "end of shift"]
    report = Report()
    report.add("faults_injected", len(faults), "faults")
    report.add("faults_passed", sum(c.ok for c in faults), "faults")
    # Each check counts the whole shift so far: the worst check is the shift's figure.
    report.add("events_lost", max(c.events_lost for c in faults), "events")
    report.add("events_duplicated", max(c.events_duplicated for c in faults), "events")
    report.add("serials_reused", max(c.serials_reused for c in faults), "serials")
    report.add("store_problems", max(len(c.store_problems) for c in faults), "problems")
    report.add("conservation_problems", max(len(c.conservation) for c in faults), "runs")
    report.add("labels_printed_twice", max(c.labels_twice for c in faults), "pages")
    report.add("historian_off_by", max(c.historian_missing for c in faults), "events")
    report.add("duration_s", round(_now() - t0, 1), "s")
    failed = len(faults) - sum(c.ok for c in faults)
    report.emit(("faults_failed", failed, "faults"), args.json)


if __name__ == "__main__":
    main()
