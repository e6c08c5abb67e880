"""The persistent print queue: one SQLite file per printer, jobs printed at most once.

A job is `waiting` until the printer can take it, `sending` while it is handed
over, then `printed`. The `sending` mark is committed before the first byte goes
out, so after a crash a job is never sent again blindly: the backend is asked
whether it arrived (a folder can tell); if it cannot tell, the job is `uncertain`
until a person looks at the printer and retries or cancels it.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from cellctl.domain.events import utc_now_iso
from cellctl.domain.ids import new_id
from cellctl.labels.backends import Backend, PrinterFailed, PrinterUnreachable
from cellctl.labels.errors import LabelError
from cellctl.labels.media import media
from cellctl.store.db import connect, transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    printer TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('waiting','sending','printed','uncertain','cancelled')),
    model TEXT NOT NULL,
    media TEXT NOT NULL,
    template TEXT NOT NULL,
    pages INTEGER NOT NULL,
    raster BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    message TEXT,
    event TEXT,
    recorded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (printer, state, seq);
CREATE INDEX IF NOT EXISTS jobs_unrecorded ON jobs (printer, seq)
    WHERE state = 'printed' AND recorded = 0;
CREATE TABLE IF NOT EXISTS job_pages (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    n INTEGER NOT NULL,
    png BLOB NOT NULL,
    PRIMARY KEY (job_id, n)
);
CREATE TABLE IF NOT EXISTS unit_labels (
    serial TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    fields TEXT NOT NULL,
    job_id TEXT NOT NULL
);
"""

OPEN_STATES = ("waiting", "sending", "uncertain")


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    state: str
    model: str
    media: str
    template: str
    pages: int
    attempts: int
    message: str | None
    event: dict[str, Any] | None
    recorded: bool
    created: str


@dataclass(frozen=True, slots=True)
class DrainResult:
    printed: list[str]
    blocked: str | None
    """Why the queue stopped (an operator message), or None when it is empty."""


_JOB_COLS = "id, state, model, media, template, pages, attempts, message, event, recorded, created"


def _job(row: Sequence[Any]) -> Job:
    jid, state, model, med, tmpl, pages, attempts, message, event, recorded, created = row
    return Job(
        jid,
        state,
        model,
        med,
        tmpl,
        pages,
        attempts,
        message,
        json.loads(event) if event else None,
        bool(recorded),
        created,
    )


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()


class PrintQueue:
    """One file may hold the queues of several printers of a station; each
    PrintQueue sees and sends only its own printer's jobs."""

    def __init__(self, path: str | Path, printer: str = "default") -> None:
        self.path = Path(path)
        self.printer = printer
        self.conn: sqlite3.Connection = connect(self.path).conn
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    # -- adding ---------------------------------------------------------------

    def submit(
        self,
        raster: bytes,
        *,
        model: str,
        media_id: str,
        template: str,
        pages: Sequence[Image.Image],
        event: dict[str, Any] | None = None,
        unit_fields: dict[str, dict[str, Any]] | None = None,
        keep_previews: bool = False,
        job_id: str | None = None,
    ) -> str:
        """Queue a job; `event` is recorded once the job has printed."""
        jid = job_id or new_id()
        now = utc_now_iso()
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO jobs (id, printer, created, updated, state, model, media, template, "
                "pages, raster, event) VALUES (?, ?, ?, ?, 'waiting', ?, ?, ?, ?, ?, ?)",
                (
                    jid,
                    self.printer,
                    now,
                    now,
                    model,
                    media_id,
                    template,
                    len(pages),
                    raster,
                    json.dumps(event) if event is not None else None,
                ),
            )
            if keep_previews:
                self.conn.executemany(
                    "INSERT INTO job_pages (job_id, n, png) VALUES (?, ?, ?)",
                    [(jid, n, _png(p)) for n, p in enumerate(pages, 1)],
                )
            for serial, fields in (unit_fields or {}).items():
                self.conn.execute(
                    "INSERT INTO unit_labels (serial, template, fields, job_id) "
                    "VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(serial) DO UPDATE SET template = excluded.template, "
                    "fields = excluded.fields, job_id = excluded.job_id",
                    (serial, template, json.dumps(fields, default=str), jid),
                )
        return jid

    # -- reading --------------------------------------------------------------

    def job(self, job_id: str) -> Job:
        row = self.conn.execute(f"SELECT {_JOB_COLS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise LabelError(f"no print job {job_id}")
        return _job(row)

    def jobs(self, *states: str) -> list[Job]:
        sql = f"SELECT {_JOB_COLS} FROM jobs WHERE printer = ?"
        if states:
            sql += f" AND state IN ({', '.join('?' * len(states))})"
        return [_job(r) for r in self.conn.execute(sql + " ORDER BY seq", (self.printer, *states))]

    def unrecorded(self) -> list[Job]:
        """Printed jobs whose event the station's log does not hold yet (few; read at
        start-up, so never the whole print history)."""
        rows = self.conn.execute(
            f"SELECT {_JOB_COLS} FROM jobs WHERE printer = ? AND state = 'printed' "  # noqa: S608
            "AND recorded = 0 ORDER BY seq",
            (self.printer,),
        )
        return [_job(r) for r in rows]

    def raster(self, job_id: str) -> bytes:
        return self.conn.execute("SELECT raster FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]

    def previews(self, job_id: str) -> list[Image.Image]:
        rows = self.conn.execute(
            "SELECT png FROM job_pages WHERE job_id = ? ORDER BY n", (job_id,)
        ).fetchall()
        return [Image.open(io.BytesIO(r[0])) for r in rows]

    def unit_fields(self, serial: str) -> tuple[str, dict[str, Any]] | None:
        row = self.conn.execute(
            "SELECT template, fields FROM unit_labels WHERE serial = ?", (serial,)
        ).fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def counts(self) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT state, COUNT(*) FROM jobs WHERE printer = ? GROUP BY state", (self.printer,)
        )
        return dict(rows.fetchall())

    # -- state changes ----------------------------------------------------------

    def _set(self, job_id: str, state: str, message: str | None, *, attempt: bool = False) -> None:
        with transaction(self.conn):
            self.conn.execute(
                "UPDATE jobs SET state = ?, message = ?, updated = ?, "
                "attempts = attempts + ? WHERE id = ?",
                (state, message, utc_now_iso(), int(attempt), job_id),
            )

    def _note(self, job_id: str, message: str) -> None:
        with transaction(self.conn):
            self.conn.execute(
                "UPDATE jobs SET message = ?, updated = ? WHERE id = ?",
                (message, utc_now_iso(), job_id),
            )

    def recover(self, backend: Backend) -> list[str]:
        """After a restart: settle jobs that were being sent when the process stopped."""
        notes = []
        for job in self.jobs("sending"):
            arrived = backend.delivered(job.id)
            if arrived is True:
                self._set(job.id, "printed", "printed before the restart")
            elif arrived is False:
                self._set(job.id, "waiting", "not printed before the restart; printing again")
            else:
                msg = (
                    f"job {job.id} was being sent when the station stopped: check whether its "
                    f"{job.pages} label(s) came out, then retry or cancel it"
                )
                self._set(job.id, "uncertain", msg)
                notes.append(msg)
        return notes

    def retry(self, job_id: str) -> None:
        job = self.job(job_id)
        if job.state != "uncertain":
            raise LabelError(f"job {job_id} is {job.state}; only an uncertain job is retried")
        self._set(job_id, "waiting", "retry asked by the operator")

    def cancel(self, job_id: str, reason: str = "cancelled by the operator") -> None:
        job = self.job(job_id)
        if job.state not in ("waiting", "uncertain"):
            raise LabelError(f"job {job_id} is {job.state}; it cannot be cancelled")
        self._set(job_id, "cancelled", reason)

    def mark_recorded(self, job_id: str) -> None:
        with transaction(self.conn):
            self.conn.execute("UPDATE jobs SET recorded = 1 WHERE id = ?", (job_id,))

    # -- printing -------------------------------------------------------------

    def drain(self, backend: Backend, *, status_timeout: float = 1.0) -> DrainResult:
        """Send waiting jobs in order until one cannot print; never sends a job twice."""
        printed: list[str] = []
        for job in self.jobs("waiting"):
            need = media(job.media)
            if backend.reads_status:
                try:
                    status = backend.status(timeout=status_timeout)
                except PrinterUnreachable as exc:
                    self._note(job.id, str(exc))
                    return DrainResult(printed, str(exc))
                problems = status.problems(need) if status is not None else []
                if problems:
                    msg = " ".join(problems)
                    self._note(job.id, msg)
                    return DrainResult(printed, msg)
            self._set(job.id, "sending", None, attempt=True)
            try:
                result = backend.send(
                    job.id, self.raster(job.id), self.previews(job.id), page_count=job.pages
                )
            except PrinterUnreachable as exc:
                self._set(job.id, "waiting", str(exc))
                return DrainResult(printed, str(exc))
            except PrinterFailed as exc:
                detail = " ".join(exc.status.problems(need)) if exc.status else str(exc)
                msg = (
                    f"{detail} The printer stopped during job {job.id}: check which labels came "
                    "out, then retry or cancel the job."
                )
                self._set(job.id, "uncertain", msg)
                return DrainResult(printed, msg)
            self._set(job.id, "printed", result.detail)
            printed.append(job.id)
        return DrainResult(printed, None)
