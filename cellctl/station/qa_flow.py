"""The QA cell's flow, headless: batch -> plan -> sample -> units -> checklist -> verdict.

    flow = QAFlow(controller, TemplateBook(folder, site), batches=provider, public_key=key)
    flow.scan("CB:B7")                     # plan from the SKU's template, sample drawn
    flow.scan("CU:MUG-B7-0003:...")        # a unit of the sample; signature checked
    flow.record_pass({"enamel": True, "height": 80.1, ...})
    flow.record_fail(["SCRATCH"], note="chip on the rim", photo="/var/snap/1.jpg")
    # after the last unit (or as soon as Re is reached) the lot is judged:
    # accepted -> batch_released; rejected -> batch_held + nonconformance_opened
    flow.close_ncr(ncr_id, "rework", note="re-glaze and re-inspect")

Every step is one transaction of the station's store (through the controller), and the
flow rebuilds itself from that store, so a restart in the middle of a sample resumes it.
A refused input raises `Refused` (from the station controller) with the reason to show.
"""

from __future__ import annotations

__all__ = [
    "RELEASES",
    "BatchLot",
    "BatchProvider",
    "Disposition",
    "ItemResult",
    "OpenLot",
    "QAFlow",
    "QAStage",
    "QAView",
    "TemplateSource",
    "batches_from_store",
]

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cellctl.config.inspection import TemplateBook
from cellctl.domain import codes
from cellctl.domain.events import Event
from cellctl.domain.sampling import (
    LotJudgement,
    SamplingError,
    SamplingPlan,
    Verdict,
    draw_sample,
    judge_lot,
    lot_judged_payload,
    plan_for,
)
from cellctl.domain.switching import (
    KeyBy,
    SwitchingBook,
    SwitchingError,
    lot_outcome_from_payload,
)
from cellctl.errors import ConfigError
from cellctl.station.controller import Refused, StationController
from cellctl.station.qa_lot import (
    RELEASES,
    BatchLot,
    BatchProvider,
    Disposition,
    ItemResult,
    OpenLot,
    QAStage,
    QAView,
    TemplateSource,
)
from cellctl.station.qa_typed import typed_at_qa
from cellctl.store.qa_projections import load_book


class QAFlow:
    def __init__(
        self,
        controller: StationController,
        templates: TemplateSource,
        batches: BatchProvider,
        *,
        public_key: Ed25519PublicKey | None = None,
        key_by: KeyBy = "sku",
        seed_factory: Callable[[], str] = lambda: secrets.token_hex(8),
        reduced_approved: bool = False,
    ) -> None:
        if controller.kind != "qa":
            raise ValueError(f"the QA flow runs at a qa cell, not a {controller.kind} cell")
        self.c = controller
        self._templates = templates.get if isinstance(templates, TemplateBook) else templates
        self.batches = batches
        self.public_key = public_key
        self.key_by: KeyBy = key_by
        self.seed_factory = seed_factory
        self.reduced_approved = reduced_approved
        self.lot: OpenLot | None = None
        self.last_verdict: dict[str, Any] | None = None
        self.message = "Scan a batch traveller (CB:...) to inspect it"
        self._restore()

    # -- state rebuilt from the store -------------------------------------------------

    def _restore(self) -> None:
        # From the QA read tables (see cellctl.store.qa_projections), never the whole log,
        # so a QA cell with a year of inspections starts as fast as a new one.
        conn = self.c.store.conn
        self.book = self._stored_book()
        verdict = conn.execute(
            "SELECT payload FROM qa_last_verdict WHERE cell = ?", (self.c.cell,)
        ).fetchone()
        if verdict:
            self.last_verdict = json.loads(verdict[0])
        # Only one lot is open at a time; the latest draw is the one being inspected.
        draw = conn.execute(
            "SELECT batch, payload FROM qa_open_lot ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if draw is None:
            return
        results = {
            serial: n
            for serial, n in conn.execute(
                "SELECT serial, nonconformities FROM qa_open_results WHERE batch = ?", (draw[0],)
            )
        }
        p = json.loads(draw[1])
        try:
            template = self._templates(p["sku"])
            plan = plan_for(p["lot_size"], p["level"], p["aql"], p["severity"])
        except (ConfigError, SamplingError, KeyError) as exc:
            self.message = f"could not resume batch {p.get('batch')}: {exc}"
            return
        self.lot = OpenLot(
            batch=p["batch"],
            sku=p["sku"],
            run_id=p.get("run_id"),
            lot_size=p["lot_size"],
            template=template,
            plan=plan,
            seed=p["seed"],
            sample=list(p["serials"]),
            key=p["key"],
            resubmitted=bool(p.get("resubmitted")),
            results=results,
        )
        self.message = f"Resumed batch {p['batch']}: {len(self.lot.remaining)} unit(s) to inspect"

    def _stored_book(self) -> SwitchingBook:
        book, error = load_book(self.c.store.conn, self.key_by)
        if error is not None:
            # Keep the cell usable; the screen says the severity history was not rebuilt.
            self.message = f"switching history unreadable ({error}): normal inspection assumed"
        return book

    # -- helpers ------------------------------------------------------------------------

    def _commit(self, *events: Event, msg: str) -> list[Event]:
        stored = self.c.commit(*events, msg=msg)
        self.message = msg
        return stored

    def _need_lot(self) -> OpenLot:
        if self.lot is None:
            raise Refused("no batch is open: scan a batch traveller (CB:...) first")
        return self.lot

    @property
    def stage(self) -> QAStage:
        if self.lot is None:
            return QAStage.AWAIT_BATCH
        return QAStage.CHECKLIST if self.lot.current else QAStage.AWAIT_UNIT

    def _judged_before(self, batch: str) -> dict[str, Any] | None:
        row = self.c.store.conn.execute(
            "SELECT payload FROM events WHERE type = 'lot_judged' "
            "AND json_extract(payload, '$.batch') = ? ORDER BY seq DESC LIMIT 1",
            (batch,),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def _final_disposition(self, batch: str) -> tuple[str, str] | None:
        """The last closed NCR of the batch, when it ended the batch (scrap, return)."""
        row = self.c.store.conn.execute(
            "SELECT ncr_id, disposition FROM ncrs WHERE batch = ? AND status = 'closed' "
            "ORDER BY closed_at DESC LIMIT 1",
            (batch,),
        ).fetchone()
        if row and not RELEASES.get(Disposition(row[1]), False):
            return row[0], row[1]
        return None

    def open_ncrs(self, batch: str | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT ncr_id, batch, sku, reason, opened_at, opened_by FROM ncrs "
            "WHERE status = 'open'"
        )
        args: tuple[Any, ...] = ()
        if batch is not None:
            sql += " AND batch = ?"
            args = (batch,)
        cols = ("ncr_id", "batch", "sku", "reason", "opened_at", "opened_by")
        rows = self.c.store.conn.execute(sql + " ORDER BY opened_at", args)
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def _ncr(self, ncr_id: str) -> tuple[str, str, str | None] | None:
        row: tuple[str, str, str | None] | None = self.c.store.conn.execute(
            "SELECT batch, status, sku FROM ncrs WHERE ncr_id = ?", (ncr_id,)
        ).fetchone()
        return row

    # -- scans --------------------------------------------------------------------------

    def scan(self, text: str) -> str:
        """A scan at the QA cell: batches and units here, everything else to the controller."""
        text = text.strip()
        if codes.looks_like_ours(text) and codes.kind_of(text) in ("CB", "CU"):
            try:
                code = codes.decode(text)
            except codes.CodeError as exc:
                raise Refused(f"bad code: {exc}") from None
            if isinstance(code, codes.BatchCode):
                plan = self.open_batch(code.batch)
                return f"batch {code.batch}: inspect {plan.sample_size}"
            assert isinstance(code, codes.UnitCode)
            if self.public_key is not None and not codes.verify_unit(code, self.public_key):
                raise Refused(
                    f"the label of {code.serial} does not carry a valid signature: it is not "
                    "one of ours or it is damaged. Set the unit aside and tell a supervisor"
                )
            self.choose_unit(code.serial, how="scan")
            return f"inspect {code.serial}"
        if (typed := typed_at_qa(self, text)) is not None:
            return typed
        return self.c.handle_scan(text)

    # -- the lot -------------------------------------------------------------------------

    def open_batch(self, batch: str) -> SamplingPlan:
        """Plan the inspection of a batch and draw its sample (event `sample_drawn`)."""
        op = self.c.need_role("qa_inspect", "Inspecting a batch")
        if self.lot is not None:
            if self.lot.batch == batch:
                return self.lot.plan
            raise Refused(
                f"batch {self.lot.batch} is being inspected ({len(self.lot.remaining)} unit(s) "
                "left): finish it or abandon it first"
            )
        lot = self.batches(batch)
        if lot is None or not lot.serials:
            raise Refused(
                f"batch {batch} is unknown here: no units are recorded for it. Check the "
                "traveller; if it is right, this cell is asking the site historian for its "
                "serials: scan it again in a moment"
            )
        before = self._judged_before(batch)
        if before is not None and before.get("accepted"):
            raise Refused(f"batch {batch} was already accepted at QA: nothing to inspect")
        open_ncr = self.open_ncrs(batch)
        if open_ncr:
            raise Refused(
                f"batch {batch} has an open non-conformance ({open_ncr[0]['ncr_id']}): "
                "sign it off with a disposition before re-inspecting"
            )
        final = self._final_disposition(batch)
        if final is not None:
            raise Refused(
                f"batch {batch} was dispositioned {final[1].replace('_', ' ')} ({final[0]}): "
                "it is not inspected again"
            )
        try:
            template = self._templates(lot.sku)
        except ConfigError as exc:
            raise Refused(f"no usable inspection template for {lot.sku}: {exc}") from None
        key = self.book.key(sku=lot.sku, cell=self.c.cell)
        state = self.book.state(key)
        if state.discontinued:
            raise Refused(
                f"acceptance inspection of {key} is discontinued (5 lots not accepted on "
                "tightened inspection): a supervisor must resume it after corrective action"
            )
        info = template.inspection
        try:
            plan = plan_for(len(lot.serials), info.level, info.aql, state.severity)
            seed = self.seed_factory()
            sample = draw_sample(list(lot.serials), plan.sample_size, seed)
        except SamplingError as exc:
            raise Refused(f"cannot sample batch {batch}: {exc}") from None
        digest = hashlib.sha256("\n".join(sorted(lot.serials)).encode()).hexdigest()
        payload = {
            "batch": batch,
            "sku": lot.sku,
            "run_id": lot.run_id,
            "seed": seed,
            "n": plan.sample_size,
            "serials": sample,
            "lot_size": len(lot.serials),
            "lot_sha256": digest,
            "level": plan.level,
            "aql": plan.aql,
            "severity": str(plan.severity),
            "key": key,
            "code_letter": plan.code_letter,
            "plan_letter": plan.plan_letter,
            "ac": plan.ac,
            "re": plan.re,
            "count": info.count,
            "resubmitted": before is not None,
        }
        all_note = " (every unit)" if plan.inspect_all else ""
        self.lot = OpenLot(
            batch=batch,
            sku=lot.sku,
            run_id=lot.run_id,
            lot_size=len(lot.serials),
            template=template,
            plan=plan,
            seed=seed,
            sample=sample,
            key=key,
            resubmitted=before is not None,
        )
        try:
            self._commit(
                self.c.event("sample_drawn", payload, op.badge),
                msg=(
                    f"Batch {batch} ({lot.sku}, {len(lot.serials)} units, {plan.severity}): "
                    f"inspect {plan.sample_size}{all_note}, accept with at most {plan.ac} "
                    "nonconforming. Scan the first unit"
                ),
            )
        except Refused:
            self.lot = None
            raise
        return plan

    def abandon(self, reason: str) -> None:
        """Drop the open lot without a verdict (wrong batch scanned, batch recalled)."""
        lot = self._need_lot()
        op = self.c.need_role("qa_inspect", "Abandoning an inspection")
        if not reason.strip():
            raise Refused("say why the inspection is abandoned")
        self._commit(
            self.c.event("sample_abandoned", {"batch": lot.batch, "reason": reason}, op.badge),
            msg=f"Inspection of batch {lot.batch} abandoned: {reason}",
        )
        self.lot = None

    # -- units ---------------------------------------------------------------------------

    def choose_unit(self, serial: str, how: str = "keyboard") -> str:
        lot = self._need_lot()
        self.c.need_role("qa_inspect", "Inspecting a unit")
        if lot.current is not None and lot.current != serial:
            raise Refused(f"finish the checklist of {lot.current} first (pass or fail it)")
        if serial in lot.results:
            verdict = "passed" if lot.results[serial] == 0 else "failed"
            raise Refused(f"{serial} is already inspected ({verdict}): scan the next unit")
        if serial not in lot.sample:
            nxt = ", ".join(lot.remaining[:3])
            raise Refused(
                f"{serial} is not in the sample of batch {lot.batch}: inspect only the "
                f"drawn units ({len(lot.remaining)} left, e.g. {nxt})"
            )
        lot.current = serial
        self.message = f"Inspect {serial} ({how}): {len(lot.template.checklist)} checks"
        self.c.say(self.message)
        return serial

    def _check_results(self, results: Mapping[str, bool | float]) -> list[ItemResult]:
        lot = self._need_lot()
        out: list[ItemResult] = []
        for item_id, value in results.items():
            item = lot.template.item(item_id)
            if item is None:
                raise Refused(f"{item_id!r} is not on the {lot.sku} checklist")
            if item.kind == "pass_fail":
                if not isinstance(value, bool):
                    raise Refused(f"{item.text}: answer pass or fail")
                out.append(ItemResult(item.id, value))
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise Refused(
                        f"{item.text}: enter the measured value in {item.unit or 'units'}"
                    )
                v = float(value)
                out.append(ItemResult(item.id, item.in_tolerance(v), v))
        return out

    def record_pass(self, results: Mapping[str, bool | float]) -> LotJudgement:
        """The current unit conforms: every checklist item answered and within limits."""
        lot = self._need_lot()
        serial = self._need_current(lot)
        checked = self._check_results(results)
        missing = [i.id for i in lot.template.checklist if i.id not in results]
        if missing:
            raise Refused(f"answer every check before passing {serial}: {', '.join(missing)}")
        failed = [r for r in checked if not r.ok]
        if failed:
            items = [lot.template.item(r.item_id) for r in failed]
            what = "; ".join(
                f"{i.text} {r.value:g} {i.unit} outside {i.spec}".replace("  ", " ")
                if r.value is not None
                else f"{i.text} failed"
                for i, r in zip(items, failed, strict=True)
                if i is not None
            )
            raise Refused(f"{serial} cannot pass: {what}. Record it as failed")
        return self._record(lot, serial, True, [], checked, None, None)

    def record_fail(
        self,
        defects: Sequence[str],
        *,
        note: str | None = None,
        photo: str | None = None,
        results: Mapping[str, bool | float] | None = None,
    ) -> LotJudgement:
        """The current unit does not conform: defect codes from the site catalogue."""
        lot = self._need_lot()
        serial = self._need_current(lot)
        checked = self._check_results(results or {})
        codes_: list[str] = []
        for code in defects:
            if self.c.site.defect(code) is None:
                raise Refused(f"unknown defect code {code!r}: pick one from the catalogue")
            if code not in codes_:
                codes_.append(code)
        for r in checked:
            item = lot.template.item(r.item_id)
            if not r.ok and item is not None and item.defect and item.defect not in codes_:
                codes_.append(item.defect)
        if not codes_:
            raise Refused(f"a failed unit needs at least one defect code: why did {serial} fail?")
        if photo is not None and not Path(photo).is_file():
            raise Refused(f"the photo {photo} does not exist: take the snapshot again")
        return self._record(lot, serial, False, codes_, checked, note, photo)

    def _need_current(self, lot: OpenLot) -> str:
        if lot.current is None:
            raise Refused("scan the unit to inspect first")
        return lot.current

    def _record(
        self,
        lot: OpenLot,
        serial: str,
        passed: bool,
        defects: list[str],
        checked: list[ItemResult],
        note: str | None,
        photo: str | None,
    ) -> LotJudgement:
        op = self.c.need_role("qa_inspect", "Recording an inspection")
        nonconformities = 0 if passed else len(defects)
        payload: dict[str, Any] = {
            "batch": lot.batch,
            "serial": serial,
            "passed": passed,
            "sku": lot.sku,
            "run_id": lot.run_id,
            "defects": defects,
            "nonconformities": nonconformities,
            "results": [r.to_dict() for r in checked],
        }
        if note:
            payload["note"] = note[:500]
        if photo:
            payload["photo"] = photo[:500]
        if serial in lot.unverified:
            payload["signature"] = "absent: serial typed"
        events = [self.c.event("inspection_recorded", payload, op.badge)]
        for code in defects:
            defect = self.c.site.defect(code)
            assert defect is not None
            d: dict[str, Any] = {
                "run_id": lot.run_id or "",
                "step": None,
                "code": code,
                "severity": defect.severity.value,
                "batch": lot.batch,
                "serial": serial,
                "source": "inspection",
            }
            if note:
                d["note"] = note[:500]
            if photo:
                d["photo"] = photo[:500]
            events.append(self.c.event("defect_recorded", d, op.badge))
        results = {**lot.results, serial: nonconformities}
        judgement = judge_lot(lot.plan, list(results.values()), lot.template.inspection.count)
        verdict_events: list[Event] = []
        held_reason: str | None = None
        if judgement.verdict is not Verdict.PENDING:
            verdict_events, held_reason = self._verdict_events(lot, judgement, results, op.badge)
        word = "passed" if passed else f"failed ({', '.join(defects)})"
        if judgement.verdict is Verdict.PENDING:
            msg = f"{serial} {word}. {judgement.reason}"
        elif judgement.verdict is Verdict.ACCEPTED:
            msg = f"{serial} {word}. Batch {lot.batch} ACCEPTED: {judgement.reason}; released"
        else:
            msg = f"{serial} {word}. Batch {lot.batch} REJECTED: {judgement.reason}; on hold"
        try:
            self._commit(*events, *verdict_events, msg=msg)
        except Refused:
            # The switching book already took the lot: rebuild it from what was stored.
            self.book = self._stored_book()
            raise
        lot.results[serial] = nonconformities
        lot.current = None
        if judgement.verdict is not Verdict.PENDING:
            if held_reason is None:
                self.c.held_batches.pop(lot.batch, None)
            else:
                self.c.held_batches[lot.batch] = held_reason
            self.lot = None
            self.c.changed()
        return judgement

    def _verdict_events(
        self, lot: OpenLot, judgement: LotJudgement, results: dict[str, int], badge: str
    ) -> tuple[list[Event], str | None]:
        payload = lot_judged_payload(
            lot.batch, lot.plan, judgement, sku=lot.sku, resubmitted=lot.resubmitted
        )
        payload.update(
            run_id=lot.run_id,
            key=lot.key,
            seed=lot.seed,
            reason=judgement.reason,
            reduced_approved=self.reduced_approved,
            production_steady=True,
        )
        events = [self.c.event("lot_judged", payload, badge)]
        before = self.book.severity(lot.key)
        try:
            switch = self.book.record(
                lot.key,
                lot_outcome_from_payload(payload),
                reduced_approved=self.reduced_approved,
            )
        except SwitchingError as exc:
            raise Refused(f"the switching rules refuse this lot: {exc}") from None
        if switch is not None:
            events.append(
                self.c.event(
                    "inspection_switched",
                    {
                        "key": switch.key,
                        "from": str(switch.from_severity),
                        "to": str(switch.to_severity),
                        "reason": switch.reason,
                        "discontinued": switch.discontinued,
                    },
                    badge,
                )
            )
        self.last_verdict = payload
        if judgement.verdict is Verdict.ACCEPTED:
            events.append(
                self.c.event(
                    "batch_released",
                    {
                        "batch": lot.batch,
                        "reason": f"lot accepted at QA ({judgement.reason})",
                        "source": "lot_judged",
                    },
                    badge,
                )
            )
            return events, None
        ncr_id = self._new_ncr_id(lot.batch)
        reason = f"lot rejected at QA: {judgement.reason} ({ncr_id})"
        failed = [s for s, n in results.items() if n]
        events.append(
            self.c.event(
                "batch_held",
                {"batch": lot.batch, "reason": reason, "ncr_id": ncr_id, "source": "lot_judged"},
                badge,
            )
        )
        events.append(
            self.c.event(
                "nonconformance_opened",
                {
                    "ncr_id": ncr_id,
                    "batch": lot.batch,
                    "sku": lot.sku,
                    "run_id": lot.run_id,
                    "reason": reason,
                    "nonconforming_serials": sorted(failed),
                    "severity": str(before),
                },
                badge,
            )
        )
        return events, reason

    def _new_ncr_id(self, batch: str) -> str:
        # One QA cell judges a batch, so a per-batch counter in this store is unique.
        (n,) = self.c.store.conn.execute(
            "SELECT COUNT(*) FROM ncrs WHERE batch = ?", (batch,)
        ).fetchone()
        return f"NCR-{batch}-{n + 1}"

    # -- holds and non-conformance -------------------------------------------------------

    def hold(self, batch: str, reason: str) -> None:
        if not reason.strip():
            raise Refused("a hold needs a reason")
        self.c.hold_batch(batch, reason)

    def release(self, batch: str, reason: str) -> None:
        """Release a hold by hand (QA or supervisor), with the reason on record."""
        if not reason.strip():
            raise Refused("a release needs a reason")
        open_ncr = self.open_ncrs(batch)
        if open_ncr:
            raise Refused(
                f"batch {batch} has an open non-conformance ({open_ncr[0]['ncr_id']}): "
                "sign it off with a disposition, which releases or keeps the hold"
            )
        self.c.release_batch(batch, reason)

    def open_ncr(self, batch: str, reason: str, *, sku: str | None = None) -> str:
        """Open a non-conformance by hand (found outside a sampled lot); holds the batch."""
        op = self.c.need_role("ncr_signoff", "Opening a non-conformance")
        if not reason.strip():
            raise Refused("a non-conformance needs a reason")
        ncr_id = self._new_ncr_id(batch)
        hold_reason = f"{reason} ({ncr_id})"
        self._commit(
            self.c.event(
                "batch_held", {"batch": batch, "reason": hold_reason, "ncr_id": ncr_id}, op.badge
            ),
            self.c.event(
                "nonconformance_opened",
                {"ncr_id": ncr_id, "batch": batch, "sku": sku, "reason": reason},
                op.badge,
            ),
            msg=f"{ncr_id} opened; batch {batch} on hold",
        )
        self.c.held_batches[batch] = hold_reason
        self.c.changed()
        return ncr_id

    def close_ncr(self, ncr_id: str, disposition: Disposition | str, note: str) -> None:
        """Sign off a non-conformance (QA or supervisor only; others are refused and logged).

        rework and use_as_is release the batch's hold; scrap and return_to_supplier keep
        it, with the disposition as the new reason."""
        op = self.c.need_role("ncr_signoff", "Signing off a non-conformance")
        try:
            disp = Disposition(str(disposition))
        except ValueError:
            known = ", ".join(d.value for d in Disposition)
            raise Refused(f"unknown disposition {disposition!r}: choose {known}") from None
        if not note.strip():
            raise Refused("sign-off needs a note: what was decided and why")
        row = self._ncr(ncr_id)
        if row is None:
            raise Refused(f"no non-conformance {ncr_id} at this cell")
        batch, status, _sku = row
        if status != "open":
            raise Refused(f"{ncr_id} is already closed")
        events = [
            self.c.event(
                "nonconformance_closed",
                {"ncr_id": ncr_id, "disposition": disp.value, "note": note, "batch": batch},
                op.badge,
            )
        ]
        release = RELEASES.get(disp, False)
        reason = f"{ncr_id} signed off: {disp.value.replace('_', ' ')} ({note})"
        if release:
            events.append(
                self.c.event(
                    "batch_released", {"batch": batch, "reason": reason, "ncr_id": ncr_id}, op.badge
                )
            )
        else:
            events.append(
                self.c.event(
                    "batch_held", {"batch": batch, "reason": reason, "ncr_id": ncr_id}, op.badge
                )
            )
        self._commit(*events, msg=reason)
        if release:
            self.c.held_batches.pop(batch, None)
        else:
            self.c.held_batches[batch] = reason
        self.c.changed()

    def resume_inspection(self, key: str) -> None:
        """Resume a discontinued scheme (supervisor's decision after corrective action)."""
        op = self.c.need_role("ncr_signoff", "Resuming acceptance inspection")
        try:
            switch = self.book.resume(key)
        except SwitchingError as exc:
            raise Refused(str(exc)) from None
        self._commit(
            self.c.event(
                "inspection_resumed", {"key": key, "to": str(switch.to_severity)}, op.badge
            ),
            msg=f"Acceptance inspection of {key} resumed on tightened inspection",
        )

    # -- closing the QA step ------------------------------------------------------------

    def _closed_ncrs(self, batch: str) -> list[tuple[str, str]]:
        rows = self.c.store.conn.execute(
            "SELECT ncr_id, disposition FROM ncrs WHERE batch = ? AND status = 'closed' "
            "ORDER BY closed_at",
            (batch,),
        )
        return [(r[0], r[1]) for r in rows]

    def close_step(self) -> str:
        """Complete the assigned QA step with the lot's outcome, every unit accounted for.

        Accepted: the units not yet counted are good. Rejected: only once the
        non-conformance is signed off; rework sends the batch back through inspection
        (its units count good once the re-inspection accepts them), use as is counts
        them good, scrap and return to supplier count them scrap. Never a silent 0/0."""
        c = self.c
        c.need_role("qa_inspect", "Closing a QA step")
        a = c.need_assignment()
        if not a.batch:
            c.complete_step()
            return "step completed"
        if self.lot is not None and self.lot.batch == a.batch:
            raise Refused(
                f"batch {a.batch} is being inspected ({len(self.lot.remaining)} unit(s) left): "
                "finish the sample first"
            )
        verdict = self._judged_before(a.batch)
        if verdict is None:
            raise Refused(
                f"batch {a.batch} is not inspected yet: scan its traveller (CB:...) and "
                "inspect the sample before closing the step"
            )
        still_open = self.open_ncrs(a.batch)
        if still_open:
            raise Refused(
                f"batch {a.batch} was rejected ({still_open[0]['ncr_id']}): sign off the "
                "non-conformance (rework, scrap, use as is, return) before closing the step"
            )
        done, quantity = c.shortfall()
        left = max(0, quantity - done)
        closed = self._closed_ncrs(a.batch)
        last = closed[-1] if closed else None
        if verdict.get("accepted"):
            reworked = [n for n, d in closed if d == Disposition.REWORK]
            if reworked:
                outcome = f"reworked ({reworked[-1]}): {left} released after re-inspection"
            else:
                outcome = f"accepted: {left} released"
            good, scrap = left, 0
        elif last is None:
            raise Refused(f"batch {a.batch} was rejected: open and sign off a non-conformance")
        elif last[1] == Disposition.REWORK:
            raise Refused(
                f"batch {a.batch} was reworked ({last[0]}): re-inspect it (scan its traveller) "
                "before closing the step"
            )
        elif last[1] == Disposition.USE_AS_IS:
            outcome = f"rejected, used as is ({last[0]}): {left} released by concession"
            good, scrap = left, 0
        else:
            word = "scrapped" if last[1] == Disposition.SCRAP else "returned to supplier"
            outcome = f"rejected, {word} ({last[0]}): {left} scrapped"
            good, scrap = 0, left
        if good or scrap:
            c.count_event(good, scrap, f"{last[0]}: {last[1]}" if scrap and last else None)
        c.complete_step(outcome=outcome)
        self.message = f"QA step of {a.run_id} closed: {outcome}"
        c.say(self.message)
        return outcome

    # -- the picture -------------------------------------------------------------------

    def view(self) -> QAView:
        lot = self.lot
        return QAView(
            stage=self.stage,
            batch=lot.batch if lot else None,
            sku=lot.sku if lot else None,
            plan=lot.plan if lot else None,
            sample=list(lot.sample) if lot else [],
            inspected=dict(lot.results) if lot else {},
            remaining=lot.remaining if lot else [],
            current=lot.current if lot else None,
            checklist=list(lot.template.checklist) if lot else [],
            judgement=lot.judgement() if lot else None,
            severity=str(lot.plan.severity) if lot else None,
            last_verdict=self.last_verdict,
            open_ncrs=self.open_ncrs(),
            message=self.message,
        )


def batches_from_store(controller: StationController) -> BatchProvider:
    """A provider reading the batch's serials from this station's own store."""
    from cellctl.domain.trace import batch_units

    def provide(batch: str) -> BatchLot | None:
        found = batch_units(controller.store.events(), batch)
        if found is None:
            return None
        return BatchLot(batch, found.sku or "", tuple(found.serials), found.run_id)

    return provide
