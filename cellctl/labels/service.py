"""What the station controller and the kiosk call: print, reprint and void labels.

    svc = LabelService(store, station.printer, signing_key=key, site_name="Demo")
    outcome = svc.print_units(run, count=3, operator="OP-ADA")
    svc.reprint(outcome.serials[0], operator="OP-QUINN")
    svc.void(outcome.serials[1], "smudged", operator="OP-QUINN")
    svc.printer_state().message

Serials come from the station store (never reused); `label_printed`,
`label_reprinted` and `label_voided` go into its event log. A job that cannot
print now (no labels, cover open) waits in the queue; call `retry()` from time to
time (the kiosk does every few seconds) and it prints once when the printer is back.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cellctl.config.models import PrinterConfig
from cellctl.domain.codes import (
    BatchCode,
    CodeError,
    RunTicket,
    UnitClaims,
    UnitCode,
    check_base_url,
    decode,
    encode,
    encode_unit,
    encode_unit_url,
    signature_fingerprint,
)
from cellctl.domain.events import Event
from cellctl.domain.ids import new_id
from cellctl.domain.serials import (
    DEFAULT_FORMAT,
    SerialFormatError,
    check_format,
    edition_text,
    format_serial,
)
from cellctl.labels import keys
from cellctl.labels.backends import Backend, FolderBackend, PrinterUnreachable, open_backend
from cellctl.labels.errors import LabelError
from cellctl.labels.media import check_model, check_pair, media
from cellctl.labels.queue import PrintQueue
from cellctl.labels.raster import Cut, build_job
from cellctl.labels.render import Rendered, render
from cellctl.labels.status import PrinterStatus
from cellctl.labels.template import Template, find_template
from cellctl.store.db import StoreError
from cellctl.store.station_store import StationStore

DEFAULT_TEMPLATES = {
    "unit": "unit_serial_62",
    "batch": "batch_traveller",
    "hold": "qc_hold_tag",
    "certificate": "collector_certificate",
}
_UNIT_BY_MEDIA = {"29": "unit_serial", "62": "unit_serial_62"}


class RunLike(Protocol):
    """What a label needs of a run (cellctl.domain.model.Run has it all)."""

    id: str
    sku: str
    title: str
    quantity: int
    due: datetime
    edition_size: int | None
    batch: str | None


@dataclass(frozen=True, slots=True)
class PrintOutcome:
    job_id: str
    state: str
    """printed, waiting (for the printer) or uncertain (a person must check)."""
    message: str
    serials: tuple[str, ...] = ()

    @property
    def printed(self) -> bool:
        return self.state == "printed"


@dataclass(frozen=True, slots=True)
class PrinterState:
    ok: bool
    message: str
    waiting_jobs: int
    uncertain_jobs: int
    status: PrinterStatus | None = None


def _locked(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


def resolve_template(
    printer: PrinterConfig, role: str, templates_dir: Path | None = None
) -> Template:
    """The template a printer uses for a role, checked against the loaded media."""
    name = printer.templates.get(role)
    if name is None:
        name = _UNIT_BY_MEDIA.get(printer.media) if role == "unit" else None
        name = name or DEFAULT_TEMPLATES[role]
    t = find_template(name, templates_dir)
    if t.media != printer.media:
        raise LabelError(
            f"template {t.name} is for {t.media_spec.description} labels but the printer "
            f"has {media(printer.media).description} (printer.media in the station "
            f"file); set printer.templates.{role} to a template for that media"
        )
    return t


def check_printer(printer: PrinterConfig) -> list[str]:
    """Every problem with a station's printer section: model, media, templates."""
    problems = []
    # Model and media apart first, so both are reported in one run.
    for what, check in (("model", lambda: check_model(printer.model)),
                        ("media", lambda: media(printer.media))):  # fmt: skip
        try:
            check()
        except LabelError as exc:
            problems.append(f"printer.{what}: {exc}")
    if not problems:
        try:
            check_pair(printer.model, printer.media)
        except LabelError as exc:
            problems.append(f"printer: {exc}")
    for role in sorted(printer.templates):
        try:
            resolve_template(printer, role)
        except (LabelError, KeyError) as exc:
            problems.append(f"printer.templates.{role}: {exc}")
    return problems


class LabelService:
    """Thread-safe: calls are serialised, so the kiosk and the controller may share one."""

    def __init__(
        self,
        store: StationStore,
        printer: PrinterConfig,
        templates_dir: str | Path | None = None,
        signing_key: Ed25519PrivateKey | str | Path | None = None,
        *,
        queue_path: str | Path | None = None,
        base_dir: str | Path | None = None,
        serial_format: str = DEFAULT_FORMAT,
        site_name: str = "",
        cut: Cut = "end",
        status_timeout: float = 1.0,
        backend: Backend | None = None,
        provenance_url: str | None = None,
        timezone: tzinfo = UTC,
    ) -> None:
        self._lock = threading.RLock()
        # Unit QRs become URLs a phone opens (codes.encode_unit_url) when the site has a
        # provenance page; their date is the day the label was made, in the site's zone.
        try:
            self.provenance_url = check_base_url(provenance_url) if provenance_url else None
        except CodeError as exc:
            raise LabelError(str(exc)) from None
        self.timezone = timezone
        self.store = store
        self.printer = printer
        self.templates_dir = Path(templates_dir) if templates_dir else None
        if isinstance(signing_key, (str, Path)):
            signing_key = keys.load_private(signing_key)
        self.signing_key = signing_key
        try:
            check_format(serial_format)
        except SerialFormatError as exc:
            raise LabelError(str(exc)) from None
        self.serial_format = serial_format
        self.site_name = site_name
        self.cut: Cut = cut
        self.status_timeout = status_timeout
        check_pair(printer.model, printer.media)
        self.backend = backend or open_backend(printer.backend, base_dir)
        qpath = Path(queue_path) if queue_path else store.path.with_suffix(".labels.db")
        self.queue = PrintQueue(qpath, printer.backend)
        self.recovery_notes = self.queue.recover(self.backend)
        self._record_printed()

    def close(self) -> None:
        self.queue.close()

    # -- templates ---------------------------------------------------------------

    def template(self, role: str) -> Template:
        return resolve_template(self.printer, role, self.templates_dir)

    def _base_values(self, operator: str | None) -> dict[str, Any]:
        return {
            "operator": operator or "",
            "cell": self.store.cell,
            "site_name": self.site_name,
            "now": datetime.now(UTC),
            "key_id": keys.key_id(self.signing_key.public_key()) if self.signing_key else "",
        }

    def _run_values(self, run: RunLike, batch: str | None) -> dict[str, Any]:
        batch = batch or run.batch
        return {
            "run": run.id,
            "sku": run.sku,
            "title": run.title,
            "quantity": run.quantity,
            "due": run.due,
            "edition_size": run.edition_size,
            "batch": batch,
            "batch_code": _code(BatchCode(batch)) if batch else None,
        }

    def _unit_code(self, serial: str, values: dict[str, Any]) -> str:
        if self.signing_key is None:
            raise LabelError(
                "no signing key for unit codes: set signing_key in site.toml "
                "(make one with `cellctl label keygen`)"
            )
        try:
            if self.provenance_url is None:
                return encode_unit(serial, self.signing_key)
            # Kept with the label's fields, so a reprint signs the same claims again.
            made = values.setdefault(
                "made", values["now"].astimezone(self.timezone).date().isoformat()
            )
            claims = UnitClaims(
                serial, str(values["sku"]), date.fromisoformat(made),
                values.get("n") if values.get("edition_size") else None,
                values.get("edition_size"),
            )  # fmt: skip
            return encode_unit_url(self.provenance_url, claims, self.signing_key)
        except CodeError as exc:
            raise LabelError(f"serial {serial!r} cannot go into a unit code: {exc}") from None

    # -- printing -----------------------------------------------------------------

    @_locked
    def print_units(
        self,
        run: RunLike,
        count: int,
        operator: str | None,
        *,
        batch: str | None = None,
        step: int | None = None,
    ) -> PrintOutcome:
        """Allocate `count` serials for the run and print their labels as one job."""
        if count < 1:
            raise LabelError("print at least one label")
        t = self.template("unit")
        base = {**self._base_values(operator), **self._run_values(run, batch), "step": step}
        # Catch a missing key, a serial unfit for a unit code or a template problem
        # before serials are spent on labels that cannot print.
        probe = format_serial(self.serial_format, 1, sku=run.sku, batch=base["batch"], run=run.id)
        probe_values = {**base, **_unit_values(probe, 1, run.edition_size)}
        if "unit_code" in t.fields():
            probe_values["unit_code"] = self._unit_code(probe, probe_values)
        self._render(t, probe_values)
        try:
            alloc = self.store.allocate_serials(
                count,
                scope=f"run:{run.id}",
                fmt=self.serial_format,
                sku=run.sku,
                batch=base["batch"],
                run_id=run.id,
                edition_size=run.edition_size,
                operator=operator,
            )
        except StoreError as exc:
            raise LabelError(str(exc)) from None
        fields: dict[str, dict[str, Any]] = {}
        rendered: list[Rendered] = []
        for i, serial in enumerate(alloc.serials):
            values = {**base, **_unit_values(serial, alloc.first + i, run.edition_size)}
            values["unit_code"] = self._unit_code(serial, values)
            rendered.append(self._render(t, values))
            fields[serial] = _storable(values)
        payload = {
            "template": t.name,
            "copies": count,
            "serials": alloc.serials,
            "run_id": run.id,
            "batch": base["batch"],
        }
        return self._submit(t, rendered, "label_printed", payload, operator, fields)

    @_locked
    def print_batch(
        self,
        run: RunLike,
        batch: str,
        operator: str | None,
        *,
        step: int | None = None,
        copies: int = 1,
    ) -> PrintOutcome:
        """The batch traveller, with the batch barcode and the run-ticket QR."""
        t = self.template("batch")
        values = {**self._base_values(operator), **self._run_values(run, batch), "step": step}
        values["run_code"] = _code(RunTicket(run.id, step))
        values["step"] = "" if step is None else step
        r = self._render(t, values)
        payload = {"template": t.name, "copies": copies, "batch": batch, "run_id": run.id}
        return self._submit(t, [r] * copies, "label_printed", payload, operator)

    @_locked
    def print_hold_tag(
        self, batch: str, reason: str, operator: str | None, *, copies: int = 1
    ) -> PrintOutcome:
        t = self.template("hold")
        values = {
            **self._base_values(operator),
            "batch": batch,
            "batch_code": _code(BatchCode(batch)),
            "reason": reason,
        }
        r = self._render(t, values)
        payload = {"template": t.name, "copies": copies, "batch": batch, "reason": reason}
        return self._submit(t, [r] * copies, "label_printed", payload, operator)

    @_locked
    def print_certificate(self, serial: str, operator: str | None) -> PrintOutcome:
        """A collector certificate for a unit already labelled (uses its first label's data)."""
        self._unit_row(serial, for_what="certificate")
        t = self.template("certificate")
        values = {**self._stored_fields(serial)[1], **self._base_values(operator)}
        values["unit_code"] = self._unit_code(serial, values)
        values["sig_fingerprint"] = signature_fingerprint(_signature(values["unit_code"]))
        r = self._render(t, values)
        payload = {"template": t.name, "copies": 1, "certificate_for": serial}
        return self._submit(t, [r], "label_printed", payload, operator)

    @_locked
    def reprint(self, serial: str, operator: str | None, reason: str = "") -> PrintOutcome:
        """The same label again (same serial, same signed code), recorded as a reprint."""
        self._unit_row(serial, for_what="reprint")
        name, values = self._stored_fields(serial)
        t = find_template(name, self.templates_dir)
        values = {**values, **self._base_values(operator), "serial": serial}
        values["unit_code"] = self._unit_code(serial, values)
        r = self._render(t, values)
        payload = {"template": t.name, "serial": serial, "reason": reason}
        return self._submit(t, [r], "label_reprinted", payload, operator)

    @_locked
    def void(self, serial: str, reason: str, operator: str | None) -> Event:
        """Record a spoiled label: the serial is void and is never printed again."""
        if not reason.strip():
            raise LabelError("say why the label is void")
        row = self.store.conn.execute(
            "SELECT status FROM units WHERE serial = ?", (serial,)
        ).fetchone()
        if row is None:
            raise LabelError(f"serial {serial} was never allocated at {self.store.cell}")
        if row[0] == "void":
            raise LabelError(f"serial {serial} is already void")
        for job in self.queue.jobs("waiting", "uncertain"):
            if job.event and serial in (job.event["payload"].get("serials") or []):
                raise LabelError(
                    f"job {job.id} with serial {serial} has not printed yet: cancel it first"
                )
        event = Event(
            type="label_voided",
            cell=self.store.cell,
            operator=operator,
            payload={"serial": serial, "reason": reason},
        )
        (stored,) = self.store.append(event)
        return stored

    @_locked
    def retry(self) -> PrintOutcome | None:
        """Print what waits, if the printer can; returns the state of the oldest open job."""
        result = self.queue.drain(self.backend, status_timeout=self.status_timeout)
        self._record_printed()
        open_jobs = self.queue.jobs("waiting", "uncertain")
        if open_jobs:
            j = open_jobs[0]
            return PrintOutcome(j.id, j.state, j.message or result.blocked or "")
        return None

    @_locked
    def retry_job(self, job_id: str) -> None:
        self.queue.retry(job_id)

    @_locked
    def cancel_job(self, job_id: str, reason: str = "cancelled by the operator") -> None:
        self.queue.cancel(job_id, reason)

    @_locked
    def printer_state(self) -> PrinterState:
        counts = self.queue.counts()
        waiting, uncertain = counts.get("waiting", 0), counts.get("uncertain", 0)
        status = None
        need = media(self.printer.media)
        try:
            status = self.backend.status(timeout=self.status_timeout)
        except PrinterUnreachable as exc:
            return PrinterState(False, str(exc), waiting, uncertain)
        problems = status.problems(need) if status is not None else []
        open_jobs = self.queue.jobs("uncertain") + self.queue.jobs("waiting")
        if not problems and open_jobs and open_jobs[0].message:
            problems = [open_jobs[0].message]
        if problems:
            return PrinterState(False, " ".join(problems), waiting, uncertain, status)
        if isinstance(self.backend, FolderBackend):
            msg = f"Ready: labels go to {self.backend.folder}"
        elif status is None:
            msg = f"Ready (the printer at {self.backend.url} reports no status)"
        else:
            msg = f"Ready: {status.model} with {status.loaded_text}"
        if waiting:
            msg += f"; {waiting} job(s) waiting"
        return PrinterState(True, msg, waiting, uncertain, status)

    # -- internals -------------------------------------------------------------------

    def _render(self, t: Template, values: Mapping[str, Any]) -> Rendered:
        return render(t, values)

    def _unit_row(self, serial: str, *, for_what: str) -> None:
        row = self.store.conn.execute(
            "SELECT status, prints FROM units WHERE serial = ?", (serial,)
        ).fetchone()
        if row is None:
            raise LabelError(f"serial {serial} was never allocated at {self.store.cell}")
        if row[0] == "void":
            raise LabelError(f"serial {serial} is void, so it gets no {for_what}")
        if not row[1]:
            raise LabelError(f"serial {serial} has not been printed yet, so it gets no {for_what}")

    def _stored_fields(self, serial: str) -> tuple[str, dict[str, Any]]:
        found = self.queue.unit_fields(serial)
        if found is None:
            raise LabelError(f"no label data kept for serial {serial} in {self.queue.path}")
        name, values = found
        if values.get("due"):
            values["due"] = datetime.fromisoformat(values["due"])
        return name, values

    def _submit(
        self,
        t: Template,
        rendered: Sequence[Rendered],
        event_type: str,
        payload: dict[str, Any],
        operator: str | None,
        unit_fields: dict[str, dict[str, Any]] | None = None,
    ) -> PrintOutcome:
        images = [r.image for r in rendered]
        raster = build_job(
            images,
            self.printer.model,
            t.media,
            landscape=t.orientation == "landscape",
            cut=self.cut,
        )
        job_id = new_id()
        event = Event(
            type=event_type,
            cell=self.store.cell,
            operator=operator,
            payload={**payload, "job_id": job_id, "printer": self.printer.backend},
        )
        self.queue.submit(
            raster,
            model=self.printer.model,
            media_id=t.media,
            template=t.name,
            pages=images,
            event=event.to_dict(),
            unit_fields=unit_fields,
            keep_previews=isinstance(self.backend, FolderBackend),
            job_id=job_id,
        )
        self.retry()
        job = self.queue.job(job_id)
        serials = tuple(
            payload.get("serials") or ([payload["serial"]] if "serial" in payload else [])
        )
        return PrintOutcome(job_id, job.state, job.message or "", serials)

    def _record_printed(self) -> None:
        """Append the event of every printed job not yet in the station's log, once."""
        for job in self.queue.unrecorded():
            if job.event is None:
                continue
            d = job.event
            exists = self.store.conn.execute(
                "SELECT 1 FROM events WHERE id = ?", (d["id"],)
            ).fetchone()
            if not exists:
                self.store.append(
                    Event(
                        type=d["type"],
                        cell=d["cell"],
                        payload=d["payload"],
                        operator=d["operator"],
                        id=d["id"],
                    )
                )
            self.queue.mark_recorded(job.id)


def _unit_values(serial: str, n: int, edition_size: int | None) -> dict[str, Any]:
    return {"serial": serial, "n": n, "edition": edition_text(n, edition_size) or ""}


def _code(code: BatchCode | RunTicket) -> str:
    try:
        return encode(code)
    except CodeError as exc:
        raise LabelError(str(exc)) from None


def _signature(unit_code: str) -> bytes:
    code = decode(unit_code)
    assert isinstance(code, UnitCode)  # made by _unit_code just before
    return code.signature


def _storable(values: Mapping[str, Any]) -> dict[str, Any]:
    keep = {k: v for k, v in values.items() if k not in ("unit_code", "now", "operator", "key_id")}
    json.dumps(keep, default=str)
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in keep.items()}
