"""Everything around a station controller that talks to the outside world.

The runtime owns the broker link, the label printer and the machine bridge of
one cell, and feeds what they report into the controller. The kiosk and the
headless station both run one; the controller itself never does I/O beyond its
store, so it stays testable without any of these parts.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from cellctl.bus.tasks import cancel_and_wait
from cellctl.config.load import load_station
from cellctl.config.models import MqttConfig
from cellctl.domain.assignment import Assignment
from cellctl.errors import CliError, ConfigError
from cellctl.station.controller import Refused, StationController
from cellctl.store.db import StoreError
from cellctl.store.station_store import StationStore
from stations.kinds import spec

if TYPE_CHECKING:  # imported where they are made: a cell loads only what it has
    from cellctl.bus.cell_link import CellLink
    from cellctl.labels.service import LabelService
    from cellctl.scan.hub import ScanHub
    from cellctl.station.batch_cache import BatchLookup
    from cellctl.station.qa_flow import QAFlow
    from firmware_bridge.machine import Machine

log = logging.getLogger(__name__)


def scanner_words(state: str, detail: str) -> str:
    """A scanner's state for the status line, the state said once: "live (generated)",
    not "live: generated live"."""
    detail = re.sub(rf"[\s;:,]*\b{re.escape(state)}$", "", detail.strip())
    return f"{state} ({detail})" if detail else state


def open_station(path: str | Path, *, db: str | Path | None = None) -> StationController:
    """Load a station file and its store; errors become a CliError to print."""
    try:
        loaded = load_station(path)
    except ConfigError as exc:
        raise CliError(exc.describe()) from None
    try:
        spec(loaded.config.station.kind)
    except KeyError as exc:
        raise CliError(f"{path}: station.kind: {exc.args[0]}") from None
    try:
        store = StationStore(db or loaded.store_path(), loaded.id)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    return StationController(loaded, store)


@dataclass(frozen=True)
class _RunForLabels:
    id: str
    sku: str
    title: str
    quantity: int
    due: datetime
    edition_size: int | None
    batch: str | None

    @classmethod
    def of(cls, a: Assignment) -> _RunForLabels:
        try:
            due = datetime.fromisoformat(a.due.replace("Z", "+00:00"))
        except ValueError:
            due = datetime.now(UTC)
        return cls(a.run_id, a.sku, a.title, a.quantity, due, a.edition_size, a.batch)


class StationRuntime:
    def __init__(
        self,
        controller: StationController,
        *,
        broker_url: str | None = None,
        connect_broker: bool = True,
        poll_s: float = 0.5,
    ) -> None:
        self.controller = controller
        self.loaded = controller.loaded
        self.connect_broker = connect_broker
        self.poll_s = poll_s
        mqtt = self.loaded.site.mqtt
        if broker_url:
            mqtt = MqttConfig(**{**mqtt.model_dump(), "url": broker_url})
        self.mqtt = mqtt
        self.link: CellLink | None = None
        self.labels: LabelService | None = None
        self.machine: Machine | None = None
        self.scans: ScanHub | None = None
        self.qa: QAFlow | None = None
        self.batch_lookup: BatchLookup | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._app: Any = None
        self._started = False
        self._wound_down = False
        self._open_labels()
        if spec(controller.kind).inspects:
            self._open_qa()

    # -- parts -----------------------------------------------------------------------

    def _open_labels(self) -> None:
        from cellctl.labels.errors import KeyTooOpenError, LabelError
        from cellctl.labels.keys import check_owner_only

        site = self.loaded.site
        key = None
        if site.signing_key is not None:
            key = site.signing_key
            if not key.is_absolute():
                key = self.loaded.site_path.parent / key
            try:  # a key others can read could forge unit codes: never run with one
                check_owner_only(key)
            except KeyTooOpenError as exc:
                raise CliError(f"{self.controller.cell} will not start: {exc}") from None
            except FileNotFoundError:
                pass  # said on the printer's status line below
        printer = self.loaded.config.printer
        if printer is None:
            return
        from cellctl.labels.service import LabelService

        try:
            self.labels = LabelService(
                self.controller.store,
                printer,
                signing_key=key,
                base_dir=self.loaded.path.parent,
                serial_format=self.loaded.config.serial_format,
                site_name=site.site.name,
                provenance_url=site.provenance.base_url if site.provenance else None,
                timezone=ZoneInfo(site.site.timezone),
            )
        except LabelError as exc:
            # The cell works without its printer; the status line says why.
            self.controller.note_devices(printer=f"unusable: {exc}")
            log.warning("%s: label printer unusable: %s", self.controller.cell, exc)

    def _open_qa(self) -> None:
        from cellctl.config.inspection import TemplateBook, inspection_dir
        from cellctl.station.batch_cache import BatchCache, BatchLookup
        from cellctl.station.qa_flow import QAFlow, batches_from_store

        c = self.controller
        # A batch's serials come from the site historian and are kept here for the
        # network's absence (batch_cache.py); never from another cell's files.
        self.batch_lookup = BatchLookup(
            BatchCache(c.store.conn),
            batches_from_store(c),
            self._ask_batch,
            on_fetched=self._batch_arrived,
        )
        self.qa = QAFlow(
            c,
            TemplateBook(inspection_dir(self.loaded.site_path), self.loaded.site),
            self.batch_lookup,
            public_key=self._public_key(),
        )

    async def _ask_batch(self, batch: str) -> Any:
        from cellctl.bus.site_request import SiteUnanswered, ask_site

        if not self.connect_broker:
            raise SiteUnanswered("this cell runs without the broker, so it cannot ask the site")
        return await ask_site(self.mqtt, self.loaded.site.site.id, "batch", {"batch": batch})

    def _batch_arrived(self, lot: Any) -> None:
        c = self.controller
        if self.qa is not None and self.qa.lot is None:
            c.say(f"batch {lot.batch}: its {len(lot.serials)} serials are here; scan it")

    async def _fetch_batches(self, lookup: BatchLookup) -> None:
        """Ask the historian for the batches this QA cell was offered or shown, until
        it answers (the network may be gone for hours: the cell works on meanwhile)."""
        while True:
            if lookup.wanted and self.link is not None and self.link.connected:
                await lookup.fetch_wanted()
            await asyncio.sleep(2.0 if lookup.wanted else self.poll_s)

    @property
    def has_printer(self) -> bool:
        return self.labels is not None

    @property
    def machine_actions(self) -> Machine | None:
        return self.machine

    def handle_scan(self, text: str, origin: str) -> str:
        """One scan, from any scanner: a QA cell's flow sees it first."""
        if self.qa is not None:
            return self.qa.scan(text)
        return self.controller.handle_scan(text, origin)

    def attach_app(self, app: Any) -> None:
        self._app = app

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        c = self.controller
        if self.connect_broker:
            from cellctl.bus.cell_link import CellLink

            self.link = CellLink(
                c.store,
                site=c.site.site.id,
                kind=c.kind,
                mqtt=self.mqtt,
                on_assign=self._on_assign,
                on_holds=self._on_holds,
                status=c.status(),
            )
            c.subscribe(self._sync_link)
            await self.link.start()
        self._tasks.append(asyncio.create_task(self._poll(), name=f"{c.cell}-poll"))
        if self.batch_lookup is not None and self.connect_broker:
            self._tasks.append(
                asyncio.create_task(
                    self._fetch_batches(self.batch_lookup), name=f"{c.cell}-batches"
                )
            )
        from cellctl.station.housekeeping import prune_daily

        retention = self.loaded.site.history.retention_days
        self._tasks.append(
            asyncio.create_task(prune_daily(c.store.path, retention), name=f"{c.cell}-prune")
        )
        cfg = self.loaded.config
        if cfg.machine.driver != "none":
            self._tasks.append(asyncio.create_task(self._open_machine(), name=f"{c.cell}-machine"))
        if cfg.camera is not None or any(s.kind == "serial" for s in cfg.scanners):
            from cellctl.scan.hub import ScanHub

            scans = self.scans = ScanHub(self._public_key())
            scans.on_status(self._scanner_status)
            scans.attach_config(cfg)
            self._tasks.append(asyncio.create_task(self._read_scans(scans), name=f"{c.cell}-scans"))

    async def wind_down(self) -> None:
        """Stop all that records events (scanners, the machine, the poll) but keep the
        broker link up, so what they record on the way down (a machine job aborted, a
        last cycle counted) still leaves the outbox. From here the cell takes no new
        assignment nor withdrawal: the scheduler's retained message waits at the broker
        for the cell's next start, as it would for a cell switched off."""
        if not self._started or self._wound_down:
            return
        self._wound_down = True
        if self.link is not None:
            self.link.on_assign = None
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks.clear()
        if self.scans is not None:
            self.scans.close()
        if self.machine is not None:
            await self.machine.close()

    async def stop(self) -> None:
        if not self._started:
            return
        await self.wind_down()
        self._started = False
        self._wound_down = False
        if self.link is not None:
            await self.link.stop()
        if self.labels is not None:
            self.labels.close()

    async def run_headless(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    # -- scanners --------------------------------------------------------------------

    def _public_key(self) -> Any:
        site = self.loaded.site
        if site.public_key is None:
            return None
        from cellctl.labels import keys

        path = site.public_key
        if not path.is_absolute():
            path = self.loaded.site_path.parent / path
        try:
            return keys.load_public(path)
        except Exception as exc:  # a missing key only means signatures go unchecked
            log.warning("%s: public key unusable (%s); unit signatures not checked", path, exc)
            return None

    def snapshot(self) -> str | None:
        """The camera's newest frame saved as a JPEG for a defect record; None if no camera."""
        if self.scans is None or not self.scans.cameras:
            return None
        import cv2

        frame = self.scans.cameras[0].grabber.latest(timeout=0.5)
        if frame is None:
            return None
        folder = self.loaded.path.parent / "var" / "photos" / self.controller.cell
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}.jpg"
        if not cv2.imwrite(str(path), frame.image):
            return None
        return str(path)

    def _scanner_status(self, origin: str, state: str, detail: str) -> None:
        c = self.controller
        if c.note_devices(scanner=scanner_words(state, detail)[:40]):
            c.changed()

    async def _read_scans(self, scans: ScanHub) -> None:
        c = self.controller
        async for scan in scans:
            try:
                result = self.handle_scan(scan.text, scan.origin)
            except Refused as exc:
                c.say(str(exc))
            else:
                c.say(f"{result} ({scan.origin})")

    # -- broker ----------------------------------------------------------------------

    def _sync_link(self) -> None:
        if self.link is not None:
            self.link.update_status(**self.controller.status())
            self.link.notify()

    def _instructions_for(self, a: Assignment) -> Assignment:
        base = self.loaded.path.parent
        if not a.instructions:
            md = base / "instructions" / f"{a.sku}-{a.kind}.md"
            if md.is_file():
                a = Assignment.from_dict({**a.to_dict(), "instructions": md.read_text()})
        driver = self.loaded.config.machine.driver
        if not a.job and spec(self.controller.kind).wants_job_file(driver):
            for ext in ("gcode", "nc", "txt"):
                job = base / "jobs" / f"{a.sku}-{a.kind}.{ext}"
                if job.is_file():
                    a = Assignment.from_dict({**a.to_dict(), "job": str(job)})
                    break
        return a

    def _on_holds(self, holds: dict[str, tuple[bool, str]]) -> None:
        c = self.controller
        for batch, (held, reason) in holds.items():
            if held != (batch in c.held_batches) or (held and c.held_batches[batch] != reason):
                c.note_hold(batch, held, reason)

    async def _on_assign(self, data: dict[str, Any] | None) -> None:
        c = self.controller
        try:
            if data is None:
                c.withdraw_assignment("the scheduler moved this step elsewhere")
            elif data.get("withdrawn"):
                a = c.assignment
                if a is None or data.get("run_id") in (None, a.run_id):
                    c.withdraw_assignment(str(data.get("reason") or "the scheduler moved it"))
            else:
                a = Assignment.from_dict(data)
                if self.batch_lookup is not None and a.batch:
                    self.batch_lookup.offer(a.batch)  # fetched now, kept for offline work
                c.offer_assignment(self._instructions_for(a))
        except (Refused, ValueError) as exc:
            c.say(f"assignment not taken: {exc}")

    async def _poll(self) -> None:
        c = self.controller
        while True:
            link = "connected" if self.link is not None and self.link.connected else "offline"
            changed = c.note_devices(link=link)
            if self.labels is not None:
                try:
                    await asyncio.to_thread(self.labels.retry)
                    # In a thread: it waits while a job is being sent (the lock).
                    state = await asyncio.to_thread(self.labels.printer_state)
                    text = "ready" if state.ok else state.message
                    if state.waiting_jobs:
                        text += f" ({state.waiting_jobs} waiting)"
                    changed = c.note_devices(printer=text) or changed
                except Exception as exc:  # a printer fault must not stop the cell
                    changed = c.note_devices(printer=f"error: {exc}") or changed
            if changed:
                c.changed()
            await asyncio.sleep(self.poll_s)

    # -- what the kiosk asks for -------------------------------------------------------

    async def start_step(self) -> None:
        """Start (or resume) the step; at a machine cell, also stream its job."""
        c = self.controller
        resuming = c.state.value == "paused"
        c.start_step()
        a = c.assignment
        if self.machine is None or a is None:
            return
        start = spec(c.kind).machine_start(self.loaded.config.machine.driver, bool(a.job))
        if start != "job":
            if start == "cycles" and not resuming:
                await self.machine_action("start_cycles")
            return
        job = self.machine.job
        if resuming and job is not None and job.active:
            await self.machine_action("resume")
        elif job is None or not job.active:
            await self.machine_action("start_job")

    # -- the machine -----------------------------------------------------------------

    def _interlock(self) -> str | None:
        a = self.controller.assignment
        if a is not None and a.batch and a.batch in self.controller.held_batches:
            return f"batch {a.batch} is on QC hold: {self.controller.held_batches[a.batch]}"
        return None

    async def _open_machine(self) -> None:
        from firmware_bridge import LinkError, make_machine

        m = self.loaded.config.machine
        c = self.controller
        try:
            port = m.port
            if port.startswith("sim://") or "://" in port or port.startswith("/"):
                pass
            else:
                port = str((self.loaded.path.parent / port).resolve())
            self.machine = make_machine(m.driver, port, m.baud, interlock=self._interlock)
        except (LinkError, ValueError, OSError) as exc:
            c.set_machine_info(link=f"unusable: {exc}", state="none")
            return
        self.machine.subscribe(self._on_machine_event)
        c.set_machine_info(link="connecting", state="unknown")
        try:
            await self.machine.connect(timeout=10.0)
        except LinkError as exc:
            # The link keeps retrying by itself; the panel shows why it is down.
            c.set_machine_info(link=f"down: {exc}")

    def _on_machine_event(self, ev: Any) -> None:
        c = self.controller
        d = ev.data
        if ev.kind == "link_up":
            c.set_machine_info(link="up")
        elif ev.kind == "link_down":
            c.set_machine_info(link=f"down: {d.get('reason', '')}"[:40], state="offline")
        elif ev.kind == "connected":
            c.set_machine_info(link="up", greeting=ev.message)
        elif ev.kind == "state":
            c.set_machine_info(state=str(d.get("status", "")).lower() or "unknown")
        elif ev.kind == "alarm":
            c.set_machine_info(alarm=ev.message)
            self._guard(lambda: c.machine_alarm(str(d.get("code", "")), ev.message))
        elif ev.kind == "reset":
            if not d.get("expected"):
                c.set_machine_info(alarm=ev.message)
        elif ev.kind == "progress":
            c.set_machine_info(
                job=d.get("job"), progress=d.get("fraction") or 0.0, eta_s=d.get("eta_s")
            )
        elif ev.kind in ("job_finished", "job_aborted"):
            outcome = d.get("outcome", ev.kind)
            c.set_machine_info(job=None, last_job=f"{d.get('job')}: {outcome}")
            self._guard(
                lambda: c.record_machine_job(
                    str(d.get("job")),
                    str(outcome),
                    lines_acked=int(d.get("lines_acked") or 0),
                    reason=ev.message,
                )
            )
        elif ev.kind == "cycle_complete":
            # A line-protocol machine counts its own cycles: each is one good unit.
            delta = int(d.get("delta") or 1)
            if c.state.value == "running" and c.assignment_accepted and delta > 0:
                self._guard(lambda: c.count_good(delta, by_machine=True))
        elif ev.kind == "error":
            c.set_machine_info(last_error=ev.message)

    def _guard(self, fn: Any) -> None:
        try:
            fn()
        except Refused as exc:
            self.controller.say(str(exc))

    async def machine_action(self, what: str) -> None:
        from firmware_bridge import JobError, JobRefused, LinkError

        c = self.controller
        m = self.machine
        if m is None:
            raise Refused("this cell has no machine bridge")
        try:
            if what == "start_job":
                a = c.need_assignment()
                if not a.job:
                    raise Refused("this step has no machine job file")
                job = await m.start_job(a.job, name=Path(a.job).name)
                c.record_machine_job_started(job.name, len(job.lines))
            elif what == "start_cycles":
                done, quantity = c.shortfall()
                if quantity - done < 1:
                    raise Refused("every unit of this step is already counted")
                await m.start_cycles(quantity - done)
                c.say(f"Machine started: {quantity - done} cycles")
            elif what == "hold":
                await m.hold()
            elif what == "resume":
                await m.resume()
            elif what == "stop":
                await m.stop()
            elif what == "unlock":
                c.need_role("unlock_machine", "Unlocking the machine")
                await m.unlock()
                c.set_machine_info(alarm=None)
            elif what in ("home", "zero"):
                c.need_operator()
                await (m.home() if what == "home" else m.set_zero())
                if m.state.alarm is None and not m.state.position_lost:
                    c.set_machine_info(alarm=None)
            else:
                raise Refused(f"unknown machine action {what!r}")
        except (JobRefused, JobError, LinkError) as exc:
            raise Refused(f"machine: {exc}") from None

    async def print_labels(self, what: str, serial: str | None = None) -> None:
        from cellctl.labels.errors import LabelError

        c = self.controller
        if self.labels is None:
            raise Refused("this cell has no usable label printer")
        op = c.need_operator()
        try:
            if what == "units":
                a = c.need_assignment()
                good, _ = c.counts()
                labelled = c.store.conn.execute(
                    "SELECT COUNT(*) FROM units WHERE run_id = ? AND status != 'void'",
                    (a.run_id,),
                ).fetchone()[0]
                count = good - labelled
                if count < 1:
                    raise Refused(f"all {good} good units already have labels")
                out = await asyncio.to_thread(
                    self.labels.print_units,
                    _RunForLabels.of(a),
                    count,
                    op.badge,
                    batch=a.batch,
                    step=a.step,
                )
            elif what == "batch":
                a = c.need_assignment()
                if not a.batch:
                    raise Refused("this step has no batch")
                out = await asyncio.to_thread(
                    self.labels.print_batch, _RunForLabels.of(a), a.batch, op.badge, step=a.step
                )
            elif what == "reprint":
                c.need_role("reprint", "Reprinting a label")
                out = await asyncio.to_thread(self.labels.reprint, serial or "", op.badge)
            elif what == "void":
                c.need_role("void_label", "Voiding a label")
                await asyncio.to_thread(self.labels.void, serial or "", "spoiled", op.badge)
                c.say(f"label {serial} recorded as void")
                return
            else:
                raise Refused(f"unknown label action {what!r}")
        except LabelError as exc:
            raise Refused(str(exc)) from None
        c.say(out.message)
