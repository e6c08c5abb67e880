"""The QA cell's flow, headless, on real station stores: accept, reject, NCR, restart."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cellctl.domain import codes
from cellctl.domain.sampling import draw_sample, plan_for
from cellctl.station.controller import Refused
from cellctl.station.qa_flow import QAStage
from tests.quality.conftest import Site, passing


def _types(site: Site, cell: str = "qa-01") -> list[str]:
    return [e.type for e in site.controller(cell).store.events()]


def _last(site: Site, etype: str, cell: str = "qa-01"):
    return [e for e in site.controller(cell).store.events() if e.type == etype][-1]


def test_lot_accepted_with_nonconforming_up_to_ac_releases_batch(site: Site) -> None:
    serials = site.make_batch("B1", "POSTER-A3", 200)
    qa = site.controller("qa-01")
    qa.sign_in_badge("OP-QUINN")
    flow = site.qa_flow(seed="s-accept")
    assert flow.scan("CB:B1") == "batch B1: inspect 32"
    # Table plan for 200 at level II, AQL 2.5 normal: G, n 32, Ac 2, Re 3.
    drawn = _last(site, "sample_drawn")
    assert drawn.payload["seed"] == "s-accept"
    assert (drawn.payload["n"], drawn.payload["ac"], drawn.payload["re"]) == (32, 2, 3)
    # The recorded seed reproduces the sample from the batch's serials.
    assert drawn.payload["serials"] == draw_sample(serials, 32, "s-accept")
    sample = drawn.payload["serials"]

    for i, serial in enumerate(sample):
        assert flow.view().stage is QAStage.AWAIT_UNIT
        flow.scan(site.unit_code(serial))
        assert flow.view().stage is QAStage.CHECKLIST
        if i < 2:
            flow.record_fail(["PRINT-SMUDGE"], note=f"smudge {i}", results={"print": False})
        else:
            flow.record_pass(passing(flow))

    judged = _last(site, "lot_judged")
    assert judged.payload["accepted"] is True
    assert (judged.payload["inspected"], judged.payload["nonconforming"]) == (32, 2)
    released = _last(site, "batch_released")
    assert released.payload["batch"] == "B1" and "accepted" in released.payload["reason"]
    assert "nonconformance_opened" not in _types(site)
    assert flow.view().stage is QAStage.AWAIT_BATCH
    assert flow.view().last_verdict["accepted"] is True
    tables = qa.store.read_tables()
    assert len(tables["inspections"]) == 32
    assert sum(1 for r in tables["inspections"] if r[4] == 0) == 2
    # Each failed unit's defect also lands in the defects table, with its serial.
    assert sorted(r[5] for r in tables["defects"]) == sorted(sample[:2])
    assert qa.store.check() == []
    with pytest.raises(Refused, match="already accepted"):
        flow.scan("CB:B1")


def test_lot_rejected_at_re_holds_batch_and_opens_ncr(site: Site, tmp_path) -> None:
    site.make_batch("B2", "MUG-ENAMEL", 50)
    qa = site.controller("qa-01")
    qa.sign_in_badge("OP-QUINN")
    flow = site.qa_flow()
    plan = flow.open_batch("B2")
    assert (plan.code_letter, plan.plan_letter, plan.n, plan.ac, plan.re) == ("D", "E", 13, 0, 1)
    sample = flow.view().sample
    flow.scan(site.unit_code(sample[0]))
    flow.record_pass(passing(flow))
    flow.scan(site.unit_code(sample[1]))
    photo = tmp_path / "snap.jpg"
    photo.write_bytes(b"\xff\xd8\xff")
    answers = {**passing(flow), "height": 81.2}
    judgement = flow.record_fail([], note="too tall", photo=str(photo), results=answers)

    # Re = 1 reached on the second unit: rejected without inspecting the other 11.
    assert judgement.verdict == "rejected" and judgement.curtailed
    judged = _last(site, "lot_judged")
    assert judged.payload["accepted"] is False and judged.payload["curtailed"] is True
    inspected = _last(site, "inspection_recorded")
    # The out-of-tolerance measure brought its item's defect code.
    assert inspected.payload["defects"] == ["DIM"]
    assert {"id": "height", "ok": False, "value": 81.2} in inspected.payload["results"]
    assert inspected.payload["photo"] == str(photo)
    held = _last(site, "batch_held")
    assert held.payload["batch"] == "B2" and "NCR-B2-1" in held.payload["reason"]
    ncr = _last(site, "nonconformance_opened")
    assert ncr.payload["ncr_id"] == "NCR-B2-1"
    assert ncr.payload["nonconforming_serials"] == [sample[1]]
    assert "B2" in qa.held_batches and "rejected" in qa.held_batches["B2"]
    assert [n["ncr_id"] for n in flow.view().open_ncrs] == ["NCR-B2-1"]
    assert qa.store.read_tables()["ncrs"][0][3] == "open"
    # Re-inspection waits for the NCR's disposition; a plain release is refused too.
    with pytest.raises(Refused, match="open non-conformance"):
        flow.open_batch("B2")
    with pytest.raises(Refused, match="open non-conformance"):
        flow.release("B2", "looks fine")


def test_refusals_say_why_and_change_nothing(site: Site) -> None:
    serials = site.make_batch("B3", "POSTER-A3", 20)
    qa = site.controller("qa-01")
    flow = site.qa_flow()
    with pytest.raises(Refused, match="sign in"):
        flow.scan("CB:B3")
    qa.sign_in_badge("OP-ADA")
    with pytest.raises(Refused, match="needs QA or a supervisor; Ada Machinist is a machinist"):
        flow.scan("CB:B3")
    qa.sign_in_badge("OP-QUINN")
    with pytest.raises(Refused, match="batch NOPE is unknown"):
        flow.scan("CB:NOPE")
    flow.scan("CB:B3")
    sample = flow.view().sample
    outside = next(s for s in serials if s not in sample)
    before = qa.store.event_count()
    with pytest.raises(Refused, match=f"{outside} is not in the sample of batch B3"):
        flow.scan(site.unit_code(outside))
    other_key = Ed25519PrivateKey.generate()
    with pytest.raises(Refused, match="does not carry a valid signature"):
        flow.scan(codes.encode_unit(sample[0], other_key))
    flow.scan(site.unit_code(sample[0]))
    with pytest.raises(Refused, match=f"finish the checklist of {sample[0]}"):
        flow.scan(site.unit_code(sample[1]))
    with pytest.raises(Refused, match="answer every check"):
        flow.record_pass({"print": True})
    with pytest.raises(Refused, match="cannot pass: Trimmed width 299 mm outside 297"):
        flow.record_pass({**passing(flow), "width": 299.0})
    with pytest.raises(Refused, match="unknown defect code 'NOPE'"):
        flow.record_fail(["NOPE"])
    with pytest.raises(Refused, match="at least one defect code"):
        flow.record_fail([])
    with pytest.raises(Refused, match="photo .* does not exist"):
        flow.record_fail(["PRINT-SMUDGE"], photo="/no/such/snap.jpg")
    with pytest.raises(Refused, match="'colour' is not on the POSTER-A3 checklist"):
        flow.record_pass({**passing(flow), "colour": True})
    # None of the refused inputs wrote anything.
    assert qa.store.events(after_seq=before) == []
    assert flow.view().inspected == {}
    assert flow.view().current == sample[0]


def test_restart_resumes_the_open_sample(site: Site) -> None:
    site.make_batch("B4", "POSTER-A3", 20)
    site.controller("qa-01").sign_in_badge("OP-QUINN")
    flow = site.qa_flow(seed="s-restart")
    flow.scan("CB:B4")
    sample = flow.view().sample
    for serial in sample[:2]:
        flow.scan(site.unit_code(serial))
        flow.record_pass(passing(flow))

    site.reopen("qa-01")
    again = site.qa_flow(seed="never-used")
    v = again.view()
    assert v.stage is QAStage.AWAIT_UNIT and v.batch == "B4"
    assert v.sample == sample and list(v.inspected) == sample[:2]
    assert "Resumed batch B4" in again.message
    for serial in sample[2:]:
        again.scan(site.unit_code(serial))
        again.record_pass(passing(again))
    assert _last(site, "lot_judged").payload["inspected"] == len(sample)
    assert sum(1 for t in _types(site) if t == "sample_drawn") == 1


def test_two_rejections_switch_the_sku_to_tightened(site: Site) -> None:
    site.controller("qa-01").sign_in_badge("OP-QUINN")
    flow = site.qa_flow()
    for batch in ("B5", "B6"):
        site.make_batch(batch, "POSTER-A3", 20, run_id=f"R-{batch}")
        flow.scan(f"CB:{batch}")
        flow.scan(site.unit_code(flow.view().sample[0]))
        flow.record_fail(["PRINT-SMUDGE"])
    switched = _last(site, "inspection_switched")
    assert (switched.payload["key"], switched.payload["from"], switched.payload["to"]) == (
        "POSTER-A3",
        "normal",
        "tightened",
    )
    site.make_batch("B7", "POSTER-A3", 20, run_id="R-B7")
    plan = flow.open_batch("B7")
    assert plan == plan_for(20, "II", "2.5", "tightened")
    assert plan.n == 8
    # Per-SKU book: another SKU is still on normal inspection; a restart keeps both.
    flow.abandon("test over")
    site.reopen("qa-01")
    again = site.qa_flow()
    assert str(again.book.severity("POSTER-A3")) == "tightened"
    assert str(again.book.severity("MUG-ENAMEL")) == "normal"


def test_switching_per_cell_is_configurable(site: Site) -> None:
    site.controller("qa-01").sign_in_badge("OP-QUINN")
    flow = site.qa_flow(key_by="cell")
    site.make_batch("C1", "TOTE-BAG", 20)
    flow.open_batch("C1")
    assert flow.lot is not None and flow.lot.key == "qa-01"
    assert _last(site, "sample_drawn").payload["key"] == "qa-01"


def test_ncr_signoff_refused_for_a_machinist_then_rework_by_supervisor(site: Site) -> None:
    site.make_batch("B8", "PIN-BADGE", 30)
    qa = site.controller("qa-01")
    qa.sign_in_badge("OP-QUINN")
    flow = site.qa_flow()
    flow.scan("CB:B8")
    flow.scan(site.unit_code(flow.view().sample[0]))
    flow.record_fail(["BURN"], note="scorched edge")
    assert "B8" in qa.held_batches

    qa.sign_in_badge("OP-ADA")
    before = qa.store.event_count()
    with pytest.raises(Refused, match="Signing off a non-conformance needs QA or a supervisor"):
        flow.close_ncr("NCR-B8-1", "use_as_is", "ship it")
    new = qa.store.events(after_seq=before)
    assert [(e.type, e.payload["action"], e.operator) for e in new] == [
        ("access_refused", "ncr_signoff", "OP-ADA")
    ]
    assert qa.store.read_tables()["ncrs"][0][3] == "open"
    assert "B8" in qa.held_batches

    qa.sign_in_badge("OP-SAM")
    with pytest.raises(Refused, match="unknown disposition 'bin'"):
        flow.close_ncr("NCR-B8-1", "bin", "x")
    with pytest.raises(Refused, match="needs a note"):
        flow.close_ncr("NCR-B8-1", "rework", "  ")
    flow.close_ncr("NCR-B8-1", "rework", "sand the edges, re-inspect")
    closed = _last(site, "nonconformance_closed")
    assert closed.payload["disposition"] == "rework" and closed.operator == "OP-SAM"
    row = qa.store.read_tables()["ncrs"][0]
    assert (row[0], row[3], row[7], row[10]) == ("NCR-B8-1", "closed", "rework", "OP-SAM")
    assert "B8" not in qa.held_batches
    assert "rework" in _last(site, "batch_released").payload["reason"]
    with pytest.raises(Refused, match="already closed"):
        flow.close_ncr("NCR-B8-1", "scrap", "changed my mind")
    # After rework the lot is resubmitted: judged again, ignored by the switching rules.
    qa.sign_in_badge("OP-QUINN")
    flow.scan("CB:B8")
    for serial in flow.view().sample:
        flow.scan(site.unit_code(serial))
        flow.record_pass(passing(flow))
    judged = _last(site, "lot_judged")
    assert judged.payload["accepted"] is True and judged.payload["resubmitted"] is True
    assert flow.book.state("PIN-BADGE").lots == 1
    assert qa.store.check() == []


@pytest.mark.parametrize(
    ("disposition", "still_held"),
    [("scrap", True), ("return_to_supplier", True), ("use_as_is", False)],
)
def test_dispositions_keep_or_release_the_hold(
    site: Site, disposition: str, still_held: bool
) -> None:
    qa = site.controller("qa-01")
    qa.sign_in_badge("OP-QUINN")
    flow = site.qa_flow()
    ncr_id = flow.open_ncr("B9", "supplier blanks out of spec", sku="PIN-BADGE")
    assert qa.held_batches["B9"].endswith(f"({ncr_id})")
    flow.close_ncr(ncr_id, disposition, "decided at the MRB")
    assert ("B9" in qa.held_batches) is still_held
    holds = {r[0]: r for r in qa.store.read_tables()["holds"]}
    assert holds["B9"][1] == int(still_held)
    assert disposition.replace("_", " ") in holds["B9"][2]


def test_a_scrapped_batch_is_not_inspected_again(site: Site) -> None:
    site.make_batch("B10", "TOTE-BAG", 20)
    qa = site.controller("qa-01")
    qa.sign_in_badge("OP-QUINN")
    flow = site.qa_flow()
    flow.scan("CB:B10")
    flow.scan(site.unit_code(flow.view().sample[0]))
    flow.record_fail(["PRINT-SMUDGE"])
    flow.close_ncr("NCR-B10-1", "scrap", "print unrecoverable")
    assert "scrap" in qa.held_batches["B10"]
    with pytest.raises(Refused, match=r"B10 was dispositioned scrap \(NCR-B10-1\)"):
        flow.scan("CB:B10")


def test_an_unreadable_switching_history_does_not_stop_the_cell(site: Site) -> None:
    from cellctl.domain.events import Event

    qa = site.controller("qa-01")
    qa.store.append(Event("lot_judged", "qa-01", {"batch": "OLD", "accepted": False}))
    flow = site.qa_flow()
    assert "switching history unreadable" in flow.message
    site.make_batch("B11", "TOTE-BAG", 20)
    qa.sign_in_badge("OP-QUINN")
    assert str(flow.open_batch("B11").severity) == "normal"


def test_a_printed_serial_and_batch_can_be_typed_and_are_marked_unverified(site: Site) -> None:
    """QA says "next: scan <serial>"; a label's QR may be unreadable, so the person types
    the serial printed under it (or a 1D scanner reads it): accepted, marked unverified."""
    site.make_batch("B7", "POSTER-A3", 20)
    site.controller("qa-01").sign_in_badge("OP-QUINN")
    flow = site.qa_flow(seed="s-typed")
    assert flow.scan("B7").startswith("batch B7: inspect")  # the traveller's printed text
    first = flow.view().remaining[0]
    said = flow.scan(f" {first.lower()} ")  # typed, as a person would
    assert first in said and "unverified" in said
    assert flow.view().stage is QAStage.CHECKLIST and flow.view().current == first
    flow.record_pass(passing(flow))
    recorded = _last(site, "inspection_recorded")
    assert recorded.payload["serial"] == first
    assert recorded.payload["signature"] == "absent: serial typed"
    # A scanned, signed label is not marked.
    second = flow.view().remaining[0]
    flow.scan(site.unit_code(second))
    flow.record_pass(passing(flow))
    assert "signature" not in _last(site, "inspection_recorded").payload
    # A serial outside the sample is refused with the reason, not "unknown code".
    with pytest.raises(Refused, match="not in the sample"):
        flow.scan("B7-NOT-A-UNIT")


def test_the_provenance_url_on_a_label_is_scanned_like_its_cu_code(site: Site) -> None:
    from datetime import date

    serials = site.make_batch("B7", "POSTER-A3", 20)
    qa = site.controller("qa-01")
    flow = site.qa_flow()
    qa.sign_in_badge("OP-QUINN")
    flow.scan("CB:B7")
    first = flow.view().sample[0]
    assert first in serials
    claims = codes.UnitClaims(first, "POSTER-A3", date(2026, 12, 4), 3, 50)
    url = codes.encode_unit_url("https://maker.example/p/", claims, site.key)
    with pytest.raises(Refused, match="does not carry a valid signature"):
        flow.scan(url.replace("e=3/50", "e=4/50"))
    assert flow.scan(url) == f"inspect {first}"
