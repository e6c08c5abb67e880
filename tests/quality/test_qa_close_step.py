"""Issue 16, item 3: QA closes a lot's step only with its outcome, every unit counted.

A rejected lot's step is never a silent 0 good / 0 scrap "done": it waits for the
non-conformance's sign-off, then ends as reworked (released after re-inspection), used
as is, or scrapped, with the units of the step accounted for.
"""

from __future__ import annotations

import pytest

from cellctl.station.controller import Refused
from tests.quality.conftest import Site, passing


def _qa_step(site: Site, batch: str, quantity: int):  # noqa: ANN202
    qa = site.controller("qa-01")
    qa.sign_in_badge("OP-QUINN")
    qa.offer_assignment(
        {"run_id": "R1", "step": 2, "kind": "qa", "sku": "PIN-BADGE", "title": "pins",
         "quantity": quantity, "due": "2026-12-03T12:00:00Z", "batch": batch,
         "step_quantity": quantity, "upstream_good": quantity, "upstream_kind": "finish"}
    )  # fmt: skip
    qa.accept_assignment()
    qa.start_step()
    return qa


def _reject(site: Site, flow, batch: str) -> None:  # noqa: ANN001
    flow.scan(f"CB:{batch}")
    flow.scan(site.unit_code(flow.view().sample[0]))
    flow.record_fail(["BURN"], note="scorched edge")


def _completed(qa):  # noqa: ANN001, ANN202
    return [e for e in qa.store.events() if e.type == "run_step_completed"]


def test_a_rejected_lot_closes_reworked_after_re_inspection(site: Site) -> None:
    site.make_batch("B8", "PIN-BADGE", 30)
    qa = _qa_step(site, "B8", 30)
    flow = site.qa_flow()
    with pytest.raises(Refused, match="B8 is not inspected yet"):
        flow.close_step()
    _reject(site, flow, "B8")
    # The old way: C completed the step at 0/0 and the run became done.
    with pytest.raises(Refused, match=r"B8 was rejected \(NCR-B8-1\): sign off"):
        flow.close_step()
    with pytest.raises(Refused, match="0 of 30 good or scrapped"):
        qa.complete_step()
    flow.close_ncr("NCR-B8-1", "rework", "sand the edges, re-inspect")
    with pytest.raises(Refused, match="reworked .NCR-B8-1.: re-inspect it"):
        flow.close_step()
    flow.scan("CB:B8")
    for serial in flow.view().sample:
        flow.scan(site.unit_code(serial))
        flow.record_pass(passing(flow))
    outcome = flow.close_step()
    assert outcome == "reworked (NCR-B8-1): 30 released after re-inspection"
    (done,) = _completed(qa)
    assert (done.payload["good"], done.payload["scrap"]) == (30, 0)
    assert done.payload["outcome"] == outcome
    assert qa.assignment is None


def test_a_scrapped_lot_closes_with_its_units_scrapped(site: Site) -> None:
    site.make_batch("B9", "PIN-BADGE", 20)
    qa = _qa_step(site, "B9", 20)
    flow = site.qa_flow()
    _reject(site, flow, "B9")
    flow.close_ncr("NCR-B9-1", "scrap", "burnt through, not recoverable")
    outcome = flow.close_step()
    assert outcome == "rejected, scrapped (NCR-B9-1): 20 scrapped"
    (done,) = _completed(qa)
    assert (done.payload["good"], done.payload["scrap"]) == (0, 20)


def test_an_accepted_lot_closes_with_its_units_good(site: Site) -> None:
    site.make_batch("B10", "PIN-BADGE", 8)
    qa = _qa_step(site, "B10", 8)
    flow = site.qa_flow()
    flow.scan("CB:B10")
    for serial in flow.view().sample:
        flow.scan(site.unit_code(serial))
        flow.record_pass(passing(flow))
    assert flow.close_step() == "accepted: 8 released"
    (done,) = _completed(qa)
    assert (done.payload["good"], done.payload["scrap"]) == (8, 0)
