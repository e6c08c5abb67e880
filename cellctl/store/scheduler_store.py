"""The scheduler's own SQLite: runs and their steps, per-cell counts, applied event
ids, per-cell sequence high-water marks, batch holds and the command log.

Events are applied idempotently by id inside one transaction per batch, so a
crash between batches loses nothing and a re-delivered event changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from cellctl.domain import conservation
from cellctl.domain.dispatch import Candidate, Job
from cellctl.domain.events import Event, utc_now_iso
from cellctl.domain.run_spec import RunSpec
from cellctl.store.db import StoreError, connect, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    ord INTEGER NOT NULL,
    sku TEXT NOT NULL,
    title TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_margin REAL NOT NULL,
    due TEXT NOT NULL,
    due_s REAL NOT NULL,
    sla TEXT NOT NULL,
    weight REAL NOT NULL,
    cycle_s REAL NOT NULL,
    manual_priority INTEGER NOT NULL,
    batch TEXT,
    status TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    source TEXT NOT NULL,
    edition_size INTEGER
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL REFERENCES runs(id),
    idx INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    cell TEXT,
    assign_id TEXT,
    assigned_at TEXT,
    quantity INTEGER,
    done_at TEXT,
    closed_short TEXT,
    outcome TEXT,
    delivered INTEGER,
    PRIMARY KEY (run_id, idx)
);
CREATE INDEX IF NOT EXISTS steps_cell ON steps(cell, status);
CREATE TABLE IF NOT EXISTS counts (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    cell TEXT NOT NULL,
    good INTEGER NOT NULL,
    scrap INTEGER NOT NULL,
    PRIMARY KEY (run_id, step, cell)
);
CREATE TABLE IF NOT EXISTS applied (
    event_id TEXT PRIMARY KEY,
    cell TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS applied_cell_seq ON applied(cell, seq);
CREATE TABLE IF NOT EXISTS cell_seq (
    cell TEXT PRIMARY KEY,
    hwm INTEGER NOT NULL,
    max_seen INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS declines (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    cell TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (run_id, step, cell)
);
CREATE TABLE IF NOT EXISTS holds (
    batch TEXT PRIMARY KEY,
    held INTEGER NOT NULL,
    reason TEXT NOT NULL,
    since TEXT NOT NULL,
    by TEXT
);
CREATE TABLE IF NOT EXISTS withdrawals (
    cell TEXT PRIMARY KEY,
    queued_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS conservation_alerts (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    rule TEXT NOT NULL,
    time TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (run_id, step, rule)
);
CREATE TABLE IF NOT EXISTS command_log (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    action TEXT NOT NULL,
    badge TEXT,
    accepted INTEGER NOT NULL,
    detail TEXT NOT NULL
)
"""

ACTIVE_STEP = ("assigned", "running")


@dataclass
class ApplyResult:
    """What a batch of events changed that the service must act on."""

    applied: list[Event] = field(default_factory=list)
    duplicates: int = 0
    withdraw: set[str] = field(default_factory=set)
    queue_changed: bool = False
    cells: set[str] = field(default_factory=set)


class SchedulerStore:
    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.db = connect(self.path, synchronous=synchronous)
        self.conn: sqlite3.Connection = self.db.conn
        with transaction(self.conn):
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.conn.execute(statement)
            columns = {r[1] for r in self.conn.execute("PRAGMA table_info(runs)")}
            if "edition_size" not in columns:  # a file made before limited editions
                self.conn.execute("ALTER TABLE runs ADD COLUMN edition_size INTEGER")
            columns = {r[1] for r in self.conn.execute("PRAGMA table_info(steps)")}
            for column, kind in (("closed_short", "TEXT"), ("outcome", "TEXT"),
                                 ("delivered", "INTEGER")):  # fmt: skip
                if column not in columns:  # a file made before conservation (issue 16)
                    self.conn.execute(f"ALTER TABLE steps ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self.conn.close()

    def data_version(self) -> int:
        """Changes when another connection (the CLI) commits to this file."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    # -- runs -----------------------------------------------------------------------

    def add_run(self, spec: RunSpec, *, source: str = "cli") -> None:
        with transaction(self.conn):
            if self.conn.execute("SELECT 1 FROM runs WHERE id = ?", (spec.id,)).fetchone():
                raise StoreError(f"run {spec.id!r} exists already: choose another id")
            ord_ = self.conn.execute("SELECT COALESCE(MAX(ord), 0) + 1 FROM runs").fetchone()[0]
            self.conn.execute(
                "INSERT INTO runs (id, ord, sku, title, quantity, unit_margin, due, due_s, sla, "
                "weight, cycle_s, manual_priority, batch, status, submitted_at, source, "
                "edition_size) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                (
                    spec.id,
                    ord_,
                    spec.sku,
                    spec.title,
                    spec.quantity,
                    spec.unit_margin,
                    spec.due.astimezone(UTC).isoformat(),
                    spec.due.timestamp(),
                    str(spec.sla),
                    spec.weight,
                    spec.cycle_s,
                    spec.manual_priority,
                    spec.batch,
                    utc_now_iso(),
                    source,
                    spec.edition_size,
                ),
            )
            self.conn.executemany(
                "INSERT INTO steps (run_id, idx, kind, status) VALUES (?, ?, ?, 'pending')",
                [(spec.id, i, str(k)) for i, k in enumerate(spec.routing)],
            )

    def _require_run(self, run_id: str) -> sqlite3.Row | tuple[Any, ...]:
        row = self.conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"no run {run_id!r} (see `cellctl runs list`)")
        return row

    def set_priority(self, run_id: str, priority: int) -> None:
        with transaction(self.conn):
            self._require_run(run_id)
            self.conn.execute(
                "UPDATE runs SET manual_priority = ? WHERE id = ?", (priority, run_id)
            )

    def cancel(self, run_id: str) -> list[str]:
        """Cancel a run; returns the cells whose assignment must be withdrawn."""
        with transaction(self.conn):
            (status,) = self._require_run(run_id)
            if status in ("done", "cancelled"):
                raise StoreError(f"run {run_id!r} is {status} already")
            cells = [
                r[0]
                for r in self.conn.execute(
                    "SELECT cell FROM steps WHERE run_id = ? AND status IN ('assigned', 'running')",
                    (run_id,),
                )
            ]
            self.conn.execute("UPDATE runs SET status = 'cancelled' WHERE id = ?", (run_id,))
            self.conn.execute(
                "UPDATE steps SET status = 'cancelled', cell = NULL "
                "WHERE run_id = ? AND status != 'done'",
                (run_id,),
            )
            now = utc_now_iso()
            self.conn.executemany(
                "INSERT OR REPLACE INTO withdrawals (cell, queued_at) VALUES (?, ?)",
                [(c, now) for c in cells],
            )
        return cells

    def take_withdrawals(self) -> list[str]:
        with transaction(self.conn):
            cells = [r[0] for r in self.conn.execute("SELECT cell FROM withdrawals")]
            self.conn.execute("DELETE FROM withdrawals")
        return cells

    def runs(self, status: Iterable[str] | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM runs"
        args: tuple[Any, ...] = ()
        if status is not None:
            wanted = list(status)
            sql += f" WHERE status IN ({','.join('?' * len(wanted))})"
            args = tuple(wanted)
        cur = self.conn.execute(sql + " ORDER BY ord", args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]

    def steps_left(self) -> dict[str, int]:
        """run id -> steps not done yet, of the queued and active runs."""
        return dict(
            self.conn.execute(
                "SELECT s.run_id, COUNT(*) FROM steps s JOIN runs r ON r.id = s.run_id "
                "WHERE r.status IN ('queued', 'active') AND s.status NOT IN ('done', 'cancelled') "
                "GROUP BY s.run_id"
            ).fetchall()
        )

    def has_run(self, run_id: str) -> bool:
        return (
            self.conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None
        )

    def run(self, run_id: str) -> dict[str, Any]:
        self._require_run(run_id)
        cur = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,))
        names = [d[0] for d in cur.description]
        run = dict(zip(names, cur.fetchone(), strict=True))
        run["steps"] = self.steps(run_id)
        return run

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        out = []
        for (
            idx, kind, status, cell, assign_id, assigned_at, done_at, short, outcome
        ) in self.conn.execute(
            "SELECT idx, kind, status, cell, assign_id, assigned_at, done_at, closed_short, "
            "outcome FROM steps WHERE run_id = ? ORDER BY idx",
            (run_id,),
        ):  # fmt: skip
            counts = {
                c: {"good": g, "scrap": s}
                for c, g, s in self.conn.execute(
                    "SELECT cell, good, scrap FROM counts WHERE run_id = ? AND step = ?",
                    (run_id, idx),
                )
            }
            out.append(
                {
                    "step": idx,
                    "kind": kind,
                    "status": status,
                    "cell": cell,
                    "assign_id": assign_id,
                    "assigned_at": assigned_at,
                    "done_at": done_at,
                    "good": sum(v["good"] for v in counts.values()),
                    "scrap": sum(v["scrap"] for v in counts.values()),
                    "by_cell": counts,
                    "target": self.step_target(run_id, idx),
                    "closed_short": short,
                    "outcome": outcome,
                }
            )
        return out

    # -- dispatch ---------------------------------------------------------------------

    # The ready set, kept between calls: 10,000 queued runs take ~50 ms to read
    # whole, while a dispatch round follows a change to a handful of runs. TEMP
    # triggers (this connection only, nothing in the file) note which runs our own
    # writes touch; a commit by another connection (the CLI) changes data_version
    # and the next call reads everything again.
    _ready_cache: dict[str, tuple[Candidate, str | None]] | None = None
    _ready_version: int = -1

    _READY_SQL = (
        "SELECT r.id, r.ord, r.weight, r.quantity, r.cycle_s, r.due_s, r.manual_priority, "
        "r.batch, s.idx, s.kind, "
        "(SELECT COUNT(*) FROM steps t WHERE t.run_id = r.id AND t.idx >= s.idx) "
        "FROM runs r JOIN steps s ON s.run_id = r.id "
        "WHERE r.status IN ('queued', 'active') AND s.idx = "
        "(SELECT MIN(idx) FROM steps u WHERE u.run_id = r.id AND u.status != 'done') "
        "AND s.status = 'pending' "
        "AND (r.batch IS NULL OR r.batch NOT IN (SELECT batch FROM holds WHERE held = 1))"
    )

    _READY_WATCH = (
        "CREATE TEMP TABLE IF NOT EXISTS ready_dirty (run_id TEXT PRIMARY KEY)",
        "CREATE TEMP TABLE IF NOT EXISTS ready_reload (flag INTEGER PRIMARY KEY)",
        *(
            f"CREATE TEMP TRIGGER IF NOT EXISTS ready_{table}_{op} AFTER {op.upper()} "
            f"ON main.{table} BEGIN INSERT OR IGNORE INTO ready_dirty VALUES ({row}.{col}); END"
            for table, col in (("runs", "id"), ("steps", "run_id"))
            for op, row in (("insert", "new"), ("update", "new"), ("delete", "old"))
        ),
        # A run's id never changes; a hold changes the ready set of a whole batch.
        *(
            f"CREATE TEMP TRIGGER IF NOT EXISTS ready_holds_{op} AFTER {op.upper()} "
            "ON main.holds BEGIN INSERT OR IGNORE INTO ready_reload VALUES (1); END"
            for op in ("insert", "update", "delete")
        ),
    )

    def ready(self) -> list[tuple[Candidate, str | None]]:
        """The next step of every queued or active run that no cell holds, with its batch.

        Held batches are filtered here; declines are the caller's (they are per cell).
        """
        if self.conn.in_transaction:  # what we would cache might yet be rolled back
            return list(self._read_ready("").values())
        version = self.data_version()
        cache = self._ready_cache
        if cache is None:
            for statement in self._READY_WATCH:
                self.conn.execute(statement)
        dirty: list[str] = []
        if cache is not None and version == self._ready_version and not self._ready_must_reload():
            dirty = [r for (r,) in self.conn.execute("SELECT run_id FROM temp.ready_dirty")]
            # Beyond a few hundred runs one read of everything is as cheap.
            if len(dirty) <= 500:
                if dirty:
                    self._clear_ready_marks()
                    for run_id in dirty:
                        cache.pop(run_id, None)
                    marks = ",".join("?" * len(dirty))
                    cache.update(self._read_ready(f" AND r.id IN ({marks})", dirty))
                return list(cache.values())
        self._clear_ready_marks()
        self._ready_cache = self._read_ready("")
        self._ready_version = version
        return list(self._ready_cache.values())

    def _ready_must_reload(self) -> bool:
        return self.conn.execute("SELECT 1 FROM temp.ready_reload").fetchone() is not None

    def _clear_ready_marks(self) -> None:
        self.conn.execute("DELETE FROM temp.ready_dirty")
        self.conn.execute("DELETE FROM temp.ready_reload")

    def _read_ready(
        self, where: str, params: Iterable[Any] = ()
    ) -> dict[str, tuple[Candidate, str | None]]:
        out = {}
        for rid, ord_, weight, qty, cycle, due_s, prio, batch, idx, kind, left in self.conn.execute(
            self._READY_SQL + where, tuple(params)
        ):
            work = qty * cycle
            out[rid] = (
                Candidate(rid, idx, kind, weight, work, work * left, due_s, prio, ord_),
                batch,
            )
        return out

    def shop(self, now_s: float) -> tuple[list[Job], dict[str, tuple[str, float]]]:
        """Open runs as simulation jobs (remaining steps, a step in progress first) and
        the busy cells with the expected end of their step, for the plan."""
        holds = {b for b, h in self.holds().items() if h}
        jobs: list[Job] = []
        busy: dict[str, tuple[str, float]] = {}
        for run in self.runs(["queued", "active"]):
            if run["batch"] in holds:
                continue
            steps = self.conn.execute(
                "SELECT idx, kind, status, cell FROM steps WHERE run_id = ? AND status != 'done' "
                "ORDER BY idx",
                (run["id"],),
            ).fetchall()
            if not steps or steps[0][2] == "cancelled":
                continue
            work = run["quantity"] * run["cycle_s"]
            plan = [(kind, work) for _, kind, _, _ in steps]
            idx, kind, status, cell = steps[0]
            if status in ACTIVE_STEP and cell:
                left = self.remaining_quantity(run["id"], idx) * run["cycle_s"]
                plan[0] = (kind, left)
                busy[cell] = (run["id"], now_s + left)
            jobs.append(
                Job(run["id"], tuple(plan), run["weight"], run["due_s"], run["manual_priority"])
            )
        return jobs, busy

    def declined(self) -> set[tuple[str, int, str]]:
        return {tuple(r) for r in self.conn.execute("SELECT run_id, step, cell FROM declines")}

    def busy_cells(self) -> set[str]:
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT DISTINCT cell FROM steps WHERE status IN ('assigned', 'running') "
                "AND cell IS NOT NULL"
            )
        }

    def _step_totals(
        self, run_id: str, step: int, *, except_cell: str | None = None
    ) -> tuple[int, int]:
        good, scrap = self.conn.execute(
            "SELECT COALESCE(SUM(good), 0), COALESCE(SUM(scrap), 0) FROM counts "
            "WHERE run_id = ? AND step = ? AND cell IS NOT ?",
            (run_id, step, except_cell),
        ).fetchone()
        return good, scrap

    def step_target(self, run_id: str, step: int) -> int:
        """The units the step must account for (domain.conservation.target)."""
        if step == 0:
            qty = self.conn.execute("SELECT quantity FROM runs WHERE id = ?", (run_id,))
            return qty.fetchone()[0]
        return conservation.target(0, self._delivered(run_id, step - 1))

    def _delivered(self, run_id: str, step: int) -> int:
        """The good units a step delivered: as its cell said when it completed (some of
        its counts may still be on the way), or as counted, whichever is more."""
        row = self.conn.execute(
            "SELECT delivered FROM steps WHERE run_id = ? AND idx = ?", (run_id, step)
        ).fetchone()
        counted = self._step_totals(run_id, step)[0]
        return max(counted, row[0]) if row and row[0] is not None else counted

    def remaining_quantity(self, run_id: str, step: int) -> int:
        """What is left of a step: its target less what was done on it on any cell."""
        good, scrap = self._step_totals(run_id, step)
        left = conservation.remaining(self.step_target(run_id, step), good, scrap, first=step == 0)
        return max(1, left)

    def assign(self, run_id: str, step: int, cell: str, assign_id: str) -> dict[str, Any]:
        """Give a pending step to a cell; returns the assignment message body."""
        with transaction(self.conn):
            # The cell counts the step cumulatively in its own store: its quantity is
            # the target less what other cells did, so its own counts stay inside it.
            elsewhere = self._step_totals(run_id, step, except_cell=cell)
            quantity = max(
                1,
                conservation.assignment_quantity(
                    self.step_target(run_id, step), *elsewhere, first=step == 0
                ),
            )
            cur = self.conn.execute(
                "UPDATE steps SET status = 'assigned', cell = ?, assign_id = ?, assigned_at = ?, "
                "quantity = ? WHERE run_id = ? AND idx = ? AND status = 'pending'",
                (cell, assign_id, utc_now_iso(), quantity, run_id, step),
            )
            if cur.rowcount != 1:
                raise StoreError(f"step {step} of {run_id} is not pending")
            self.conn.execute(
                "UPDATE runs SET status = 'active' WHERE id = ? AND status = 'queued'", (run_id,)
            )
        return self.assignment(run_id, step)

    def assignment(self, run_id: str, step: int) -> dict[str, Any]:
        row = self.conn.execute(
            "SELECT s.assign_id, s.kind, s.quantity, s.assigned_at, r.sku, r.title, r.batch, "
            "r.due, s.cell, r.edition_size, r.quantity, r.submitted_at, "
            "(SELECT kind FROM steps n WHERE n.run_id = s.run_id AND n.idx = s.idx + 1) "
            "FROM steps s JOIN runs r ON r.id = s.run_id "
            "WHERE s.run_id = ? AND s.idx = ?",
            (run_id, step),
        ).fetchone()
        assign_id, kind, qty, at, sku, title, batch, due, cell, edition, run_qty, sub, nxt = row
        upstream = self.conn.execute(
            "SELECT kind FROM steps WHERE run_id = ? AND idx = ?", (run_id, step - 1)
        ).fetchone()
        return {
            "v": 1,
            "assign_id": assign_id,
            "run_id": run_id,
            "step": step,
            "kind": kind,
            "cell": cell,
            "quantity": qty,
            "sku": sku,
            "title": title,
            "batch": batch,
            "due": due,
            "assigned_at": at,
            "edition_size": edition,
            "run_quantity": run_qty,
            "next_kind": nxt,
            "step_quantity": self.step_target(run_id, step),
            "upstream_good": None if upstream is None else self._delivered(run_id, step - 1),
            "upstream_kind": None if upstream is None else upstream[0],
            "submitted_at": sub,
        }

    def active_assignments(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT run_id, idx FROM steps WHERE status IN ('assigned', 'running')"
        ).fetchall()
        return [self.assignment(r, i) for r, i in rows]

    def release_cell(self, cell: str) -> list[tuple[str, int]]:
        """The cell went offline or down: its steps go back to the queue."""
        with transaction(self.conn):
            rows = self.conn.execute(
                "SELECT run_id, idx FROM steps "
                "WHERE cell = ? AND status IN ('assigned', 'running')",
                (cell,),
            ).fetchall()
            self.conn.execute(
                "UPDATE steps SET status = 'pending', cell = NULL, assign_id = NULL "
                "WHERE cell = ? AND status IN ('assigned', 'running')",
                (cell,),
            )
        return [tuple(r) for r in rows]

    # -- holds and commands ------------------------------------------------------------

    def set_hold(self, batch: str, held: bool, reason: str, by: str | None) -> None:
        with transaction(self.conn):
            self._hold(batch, held, reason, utc_now_iso(), by)

    def _hold(self, batch: str, held: bool, reason: str, since: str, by: str | None) -> None:
        self.conn.execute(
            "INSERT INTO holds (batch, held, reason, since, by) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(batch) DO UPDATE SET held = excluded.held, reason = excluded.reason, "
            "since = excluded.since, by = excluded.by",
            (batch, int(held), reason, since, by),
        )

    def holds(self) -> dict[str, bool]:
        return {b: bool(h) for b, h in self.conn.execute("SELECT batch, held FROM holds")}

    def holds_snapshot(self, releases: int = 200) -> dict[str, dict[str, Any]]:
        """Every batch on hold and the latest releases, for the retained holds topic."""
        rows = self.conn.execute(
            "SELECT batch, held, reason, since, by FROM holds WHERE held = 1 UNION ALL "
            "SELECT * FROM (SELECT batch, held, reason, since, by FROM holds WHERE held = 0 "
            "ORDER BY since DESC LIMIT ?)",
            (releases,),
        )
        return {b: {"held": bool(h), "reason": r, "since": s, "by": by} for b, h, r, s, by in rows}

    def log_command(self, action: str, badge: str | None, accepted: bool, detail: str) -> None:
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO command_log (time, action, badge, accepted, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (utc_now_iso(), action, badge, int(accepted), detail),
            )

    def command_log(self) -> list[tuple[Any, ...]]:
        return self.conn.execute(
            "SELECT time, action, badge, accepted, detail FROM command_log ORDER BY id"
        ).fetchall()

    # -- events ---------------------------------------------------------------------------

    def apply_events(self, events: Iterable[Event]) -> ApplyResult:
        result = ApplyResult()
        with transaction(self.conn):
            for e in events:
                cur = self.conn.execute(
                    "INSERT OR IGNORE INTO applied (event_id, cell, seq, type, time) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (e.id, e.cell, e.seq, e.type, e.time),
                )
                if cur.rowcount == 0:
                    result.duplicates += 1
                    continue
                result.applied.append(e)
                result.cells.add(e.cell)
                self._apply(e, result)
            for cell in result.cells:
                self._advance_hwm(cell)
        return result

    def _advance_hwm(self, cell: str) -> None:
        row = self.conn.execute("SELECT hwm FROM cell_seq WHERE cell = ?", (cell,)).fetchone()
        hwm = row[0] if row else 0
        for (seq,) in self.conn.execute(
            "SELECT seq FROM applied WHERE cell = ? AND seq > ? ORDER BY seq", (cell, hwm)
        ).fetchall():
            if seq != hwm + 1:
                break
            hwm = seq
        max_seen = self.conn.execute(
            "SELECT MAX(seq) FROM applied WHERE cell = ?", (cell,)
        ).fetchone()[0]
        self.conn.execute(
            "INSERT INTO cell_seq (cell, hwm, max_seen) VALUES (?, ?, ?) "
            "ON CONFLICT(cell) DO UPDATE SET hwm = excluded.hwm, max_seen = excluded.max_seen",
            (cell, hwm, max_seen),
        )

    def seq_marks(self) -> dict[str, tuple[int, int]]:
        """cell -> (contiguous high-water mark, highest seq seen)."""
        return {c: (h, m) for c, h, m in self.conn.execute("SELECT * FROM cell_seq")}

    def _step(self, run_id: str, step: int) -> tuple[str, str | None, str | None] | None:
        return self.conn.execute(
            "SELECT status, cell, assign_id FROM steps WHERE run_id = ? AND idx = ?",
            (run_id, step),
        ).fetchone()

    def _apply(self, e: Event, result: ApplyResult) -> None:
        p = e.payload
        t = e.type
        _check_fields(e)
        if t in ("units_counted", "count_undone"):
            sign = -1 if t == "count_undone" else 1
            self.conn.execute(
                "INSERT INTO counts (run_id, step, cell, good, scrap) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(run_id, step, cell) DO UPDATE SET good = good + excluded.good, "
                "scrap = scrap + excluded.scrap",
                (str(p["run_id"]), int(p["step"]), e.cell, sign * int(p["good"]),
                 sign * int(p["scrap"])),
            )  # fmt: skip
            self._check_excess(str(p["run_id"]), int(p["step"]), e)
        elif t in ("batch_held", "batch_released"):
            self._hold(str(p["batch"]), t == "batch_held", str(p["reason"]), e.time, e.operator)
            result.queue_changed = True
        elif t in (
            "assignment_accepted",
            "assignment_declined",
            "run_step_started",
            "run_step_completed",
            "run_step_released",
        ):
            self._apply_step_event(e, result)

    def _apply_step_event(self, e: Event, result: ApplyResult) -> None:
        p = e.payload
        run_id, idx = str(p["run_id"]), int(p["step"])
        row = self._step(run_id, idx)
        if row is None:
            return
        status, cell, assign_id = row
        # A late event from a cell that no longer holds the step changes only counts.
        if cell != e.cell or status not in ACTIVE_STEP:
            return
        if p.get("assign_id") not in (None, assign_id):
            return
        t = e.type
        if t in ("assignment_accepted", "run_step_started"):
            self.conn.execute(
                "UPDATE steps SET status = 'running' WHERE run_id = ? AND idx = ?", (run_id, idx)
            )
            return
        if t == "run_step_completed" and not self._complete_step(e, run_id, idx):
            # Short and not closed short: the step stays open for the rest (any cell).
            self.conn.execute(
                "UPDATE steps SET status = 'pending', cell = NULL, assign_id = NULL "
                "WHERE run_id = ? AND idx = ?",
                (run_id, idx),
            )
        elif t == "run_step_completed":
            self._skip_empty_steps(run_id, idx, e.time)
            left = self.conn.execute(
                "SELECT COUNT(*) FROM steps WHERE run_id = ? AND status != 'done'", (run_id,)
            ).fetchone()[0]
            if left == 0:
                self.conn.execute("UPDATE runs SET status = 'done' WHERE id = ?", (run_id,))
        else:
            if t == "assignment_declined":
                self.conn.execute(
                    "INSERT OR REPLACE INTO declines (run_id, step, cell, reason) "
                    "VALUES (?, ?, ?, ?)",
                    (run_id, idx, e.cell, str(p.get("reason", ""))),
                )
            self.conn.execute(
                "UPDATE steps SET status = 'pending', cell = NULL, assign_id = NULL "
                "WHERE run_id = ? AND idx = ?",
                (run_id, idx),
            )
        result.withdraw.add(e.cell)
        result.queue_changed = True

    # -- conservation ------------------------------------------------------------------

    def _complete_step(self, e: Event, run_id: str, idx: int) -> bool:
        """Mark a step done if its counts account for its target or it was closed short;
        otherwise note why it stays open and return False."""
        p = e.payload
        good, scrap = self._step_totals(run_id, idx)
        if isinstance(p.get("good"), int) and isinstance(p.get("scrap"), int):
            # The cell's own totals as it completed: its counts may still be on the way
            # (a resend after a restart), and must not make the step look short.
            good, scrap = self._step_totals(run_id, idx, except_cell=e.cell)
            good, scrap = good + p["good"], scrap + p["scrap"]
        want = self.step_target(run_id, idx)
        done = conservation.accounted(good, scrap, first=idx == 0)
        short = p.get("closed_short")
        outcome = p.get("outcome")
        if done < want and not (isinstance(short, str) and short.strip()):
            self._alert(
                run_id,
                idx,
                "done_short",
                f"{e.cell} completed {run_id} step {idx} with {done} of {want}"
                f"{'' if idx == 0 else ' good + scrap'} and did not close it short: "
                f"it stays open for the remaining {want - done}",
                e.time,
            )
            return False
        self.conn.execute(
            "UPDATE steps SET status = 'done', done_at = ?, closed_short = ?, outcome = ?, "
            "delivered = ? WHERE run_id = ? AND idx = ?",
            (
                e.time,
                f"{short} ({e.operator or 'unknown'})" if done < want else None,
                str(outcome)[:200] if outcome else None,
                good,
                run_id,
                idx,
            ),
        )
        self.conn.execute(
            "DELETE FROM conservation_alerts WHERE run_id = ? AND step = ? AND rule = 'done_short'",
            (run_id, idx),
        )
        return True

    def _skip_empty_steps(self, run_id: str, idx: int, time: str) -> None:
        """Steps after one that delivered no good unit have nothing to do: done at once,
        saying so (a cell given "1 unit" of nothing could only count out of thin air)."""
        while True:
            idx += 1
            row = self.conn.execute(
                "SELECT status FROM steps WHERE run_id = ? AND idx = ?", (run_id, idx)
            ).fetchone()
            if row is None or row[0] != "pending" or self.step_target(run_id, idx) > 0:
                return
            self.conn.execute(
                "UPDATE steps SET status = 'done', done_at = ?, outcome = ? "
                "WHERE run_id = ? AND idx = ?",
                (time, "nothing came from the step before", run_id, idx),
            )

    def _check_excess(self, run_id: str, idx: int, e: Event) -> None:
        """A count beyond what came from upstream is kept and raises an alert."""
        if idx == 0:
            return
        up = self.conn.execute(
            "SELECT kind, status FROM steps WHERE run_id = ? AND idx = ?", (run_id, idx - 1)
        ).fetchone()
        if up is None or up[1] != "done":
            return  # upstream still counting: decided when it is done
        good, scrap = self._step_totals(run_id, idx)
        came = self._delivered(run_id, idx - 1)
        if good + scrap > came:
            self._alert(
                run_id,
                idx,
                "exceeds_upstream",
                f"{run_id} step {idx} has {good} good + {scrap} scrap (last from {e.cell}), "
                f"but only {came} came good from {up[0]}",
                e.time,
            )

    def _alert(self, run_id: str, step: int, rule: str, message: str, time: str) -> None:
        self.conn.execute(
            "INSERT INTO conservation_alerts (run_id, step, rule, time, message) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(run_id, step, rule) DO UPDATE SET "
            "time = excluded.time, message = excluded.message",
            (run_id, step, rule, time, message),
        )

    def conservation_alerts(self) -> list[dict[str, Any]]:
        """What the scheduler learned that breaks conservation (newest first)."""
        cols = ("run_id", "step", "rule", "time", "message")
        rows = self.conn.execute(
            "SELECT run_id, step, rule, time, message FROM conservation_alerts ORDER BY time DESC"
        )
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def conservation_violations(
        self, runs: Iterable[str] | None = None
    ) -> list[conservation.Violation]:
        """Check every run's step totals against the rules (domain.conservation)."""
        ids = list(runs) if runs is not None else [r["id"] for r in self.runs()]
        out: list[conservation.Violation] = []
        for run_id in ids:
            qty = self.conn.execute("SELECT quantity FROM runs WHERE id = ?", (run_id,))
            row = qty.fetchone()
            if row is None:
                continue
            steps = [
                conservation.StepCounts(
                    s["step"],
                    s["kind"],
                    s["good"],
                    s["scrap"],
                    s["status"] == "done",
                    s["closed_short"],
                )
                for s in self.steps(run_id)
            ]
            out += conservation.check_run(run_id, row[0], steps)
        return out

    # -- totals ---------------------------------------------------------------------------

    def totals_by_cell(self) -> dict[str, dict[tuple[str, int], tuple[int, int]]]:
        """cell -> (run, step) -> (good, scrap): compare with each cell's step_counts."""
        out: dict[str, dict[tuple[str, int], tuple[int, int]]] = {}
        for run_id, step, cell, good, scrap in self.conn.execute(
            "SELECT run_id, step, cell, good, scrap FROM counts"
        ):
            out.setdefault(cell, {})[(run_id, step)] = (good, scrap)
        return out

    def applied_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM applied").fetchone()[0]

    def summary(self) -> dict[str, Any]:
        by_status = dict(self.conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status"))
        return {
            "runs": by_status,
            "events_applied": self.applied_count(),
            # The board raises these as alerts (issue 16); the newest 50 are enough.
            "conservation": self.conservation_alerts()[:50],
        }


_INT_FIELDS = {"step", "good", "scrap"}
_TEXT_FIELDS = {"run_id", "batch", "closed_short", "outcome"}


_CHECKED_TYPES = {
    "units_counted", "count_undone", "assignment_accepted", "assignment_declined",
    "run_step_started", "run_step_completed", "run_step_released", "batch_held",
    "batch_released",
}  # fmt: skip


def _check_fields(e: Event) -> None:
    """The payload values this store uses must have the right types (StoreError if not).

    Only the event types the scheduler applies are checked: a defect recorded with
    no step, say, is the cell's business and must not leave a gap here.
    """
    if e.type not in _CHECKED_TYPES:
        return
    for key, value in e.payload.items():
        if key in _INT_FIELDS and (not isinstance(value, int) or isinstance(value, bool)):
            raise StoreError(f"{e.type} {key} must be an integer, got {value!r}")
        # A scrap override re-counts good units as scrap, so good may be negative.
        if key in _INT_FIELDS and key != "step" and not -1_000_000 <= value <= 1_000_000:
            raise StoreError(f"{e.type} {key} {value} is out of range")
        if key in _TEXT_FIELDS and value is not None and not isinstance(value, str):
            raise StoreError(f"{e.type} {key} must be a text, got {value!r}")
