"""`cellctl trace --store ...`: the genealogy of a unit after a reprint and a rework, from
the real stores of several cells of a site on disk (forensics on one machine; asking the
site historian over the bus is tested in tests/historian/test_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cellctl.cli import main
from cellctl.domain.assignment import Assignment
from cellctl.domain.events import Event
from cellctl.domain.trace import TraceError, batch_units, normalise_query, trace
from cellctl.site.trace import describe_site
from tests.quality.conftest import Site, passing


def stores(site: Site) -> list[str]:
    """`--store FILE` for every station store the site file names."""
    out: list[str] = []
    for path in describe_site(site.site_path).stores.values():
        out += ["--store", str(path)]
    return out


def _produce(site: Site) -> list[str]:
    """Cut 5 mugs of batch B1 on run R1, label them, reprint one, then QA: reject,
    rework by NCR, re-inspect and accept."""
    cut = site.controller("cut-01")
    cut.sign_in_badge("OP-ADA")
    cut.offer_assignment(
        Assignment("R1", 0, "cut", "MUG-ENAMEL", "Mugs", 5, "2026-11-23T12:00:00Z", batch="B1")
    )
    cut.accept_assignment()
    cut.handle_scan("CM:STEEL-LOT-7")
    cut.start_step()
    cut.store.append(Event("machine_job_started", "cut-01", {"job": "mug.nc"}, "OP-ADA"))
    cut.count_good(5)
    cut.count_scrap("BURN")
    cut.record_defect("BURN", note="edge scorched on the scrapped blank")
    serials = cut.store.allocate_serials(
        5, scope="R1", sku="MUG-ENAMEL", batch="B1", run_id="R1", operator="OP-ADA"
    ).serials
    cut.store.append(
        Event(
            "label_printed",
            "cut-01",
            {"template": "unit_serial", "job_id": "J1", "copies": 5, "serials": serials},
            "OP-ADA",
        ),
        Event("machine_job_finished", "cut-01", {"job": "mug.nc", "outcome": "ok"}, "OP-ADA"),
    )
    cut.complete_step()
    finish = site.controller("finish-01")
    finish.store.append(
        Event(
            "label_reprinted",
            "finish-01",
            {"template": "unit_serial", "job_id": "J2", "serial": serials[2], "reason": "torn"},
            "OP-QUINN",
        ),
        Event("label_voided", "finish-01", {"serial": serials[4], "reason": "misprint"}, "OP-SAM"),
    )

    qa = site.controller("qa-01")
    qa.sign_in_badge("OP-QUINN")
    flow = site.qa_flow()
    flow.scan("CB:B1")
    assert flow.view().sample == serials  # n = 13 >= 5: every unit
    flow.scan(site.unit_code(serials[0]))
    flow.record_pass(passing(flow))
    flow.scan(site.unit_code(serials[2]))
    flow.record_fail(["SCRATCH"], note="chip on the rim", results={"enamel": False})
    qa.sign_in_badge("OP-SAM")
    flow.close_ncr("NCR-B1-1", "rework", "re-enamel and re-inspect")
    qa.sign_in_badge("OP-QUINN")
    flow.scan("CB:B1")
    for serial in serials:
        flow.scan(site.unit_code(serial))
        flow.record_pass(passing(flow))
    return serials


def test_trace_of_a_unit_after_reprint_and_rework(site: Site, capsys) -> None:
    serials = _produce(site)
    unit = serials[2]
    assert main(["trace", unit, "--site", str(site.site_path), *stores(site), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["kind"], r["serial"], r["batch"], r["sku"]) == ("unit", unit, "B1", "MUG-ENAMEL")
    assert r["runs"] == ["R1"]
    (step,) = r["steps"]
    assert (step["cell"], step["kind"], step["machine"]) == ("cut-01", "cut", "grbl sim://grbl")
    assert (step["good"], step["scrap"], step["materials"]) == (5, 1, ["STEEL-LOT-7"])
    assert step["started"] and step["completed"] and step["started"] <= step["completed"]
    assert step["operators"] == ["Ada Machinist (OP-ADA)"]
    assert [m["type"] for m in r["machine"]] == ["machine_job_started", "machine_job_finished"]
    assert [m["lot"] for m in r["materials"]] == ["STEEL-LOT-7"]
    # Labels: the batch print and this unit's reprint; not the other unit's void.
    assert [(lb["kind"], lb["cell"]) for lb in r["labels"]] == [
        ("printed", "cut-01"),
        ("reprinted", "finish-01"),
    ]
    assert r["labels"][1]["reason"] == "torn"
    # Inspections of this unit only: failed first, passed after the rework.
    assert [(i["serial"], i["passed"]) for i in r["inspections"]] == [(unit, False), (unit, True)]
    assert r["inspections"][0]["note"] == "chip on the rim"
    assert [d["code"] for d in r["defects"]] == ["BURN", "SCRATCH"]
    assert [(lot["accepted"], lot["resubmitted"]) for lot in r["lots"]] == [
        (False, False),
        (True, True),
    ]
    assert [h["held"] for h in r["holds"]] == [True, False, False]
    assert "rework" in r["holds"][1]["reason"] and "accepted" in r["holds"][2]["reason"]
    assert r["on_hold"] is None
    (ncr,) = r["ncrs"]
    assert (ncr["ncr_id"], ncr["status"], ncr["disposition"]) == ("NCR-B1-1", "closed", "rework")
    assert ncr["closed"]["operator"] == "Sam Supervisor (OP-SAM)"
    assert ncr["nonconforming_serials"] == [unit]
    assert [s["unit_in_sample"] for s in r["samples"]] == [True, True]
    assert set(r["operators"]) == {"OP-ADA", "OP-QUINN", "OP-SAM"}
    assert sorted(r["stores_read"]) == ["cut-01", "finish-01", "qa-01"]
    times = [e["time"] for e in r["timeline"]]
    assert times == sorted(times)

    assert main(["trace", site.unit_code(unit), "--site", str(site.site_path), *stores(site)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"unit {unit}  sku MUG-ENAMEL  batch B1")
    for needle in ("reprinted", "NCR-B1-1: closed", "rework", "STEEL-LOT-7", "REJECTED", "HELD"):
        assert needle in text


def test_trace_of_the_batch_lists_every_unit_and_the_void(site: Site, capsys) -> None:
    serials = _produce(site)
    assert main(["trace", "CB:B1", "--site", str(site.site_path), *stores(site), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["kind"] == "batch" and r["units"] == serials
    assert [lb["kind"] for lb in r["labels"]] == ["printed", "reprinted", "voided"]
    assert len(r["inspections"]) == 2 + len(serials)


def test_unknown_serial_is_a_clear_error(site: Site, capsys) -> None:
    _produce(site)
    assert main(["trace", "MUG-B1-9999", "--site", str(site.site_path), *stores(site)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cellctl trace: 'MUG-B1-9999' is neither a serial nor a batch")
    assert "Traceback" not in err
    assert main(["trace", "X", "--site", str(site.root / "missing.toml")]) == 1
    assert "file not found" in capsys.readouterr().err


def test_trace_reads_stores_that_do_not_exist_yet(site: Site, capsys) -> None:
    site.make_batch("B2", "TOTE-BAG", 3)
    assert main(["trace", "B2", "--site", str(site.site_path), *stores(site), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["units"] == ["TOTE-BAG-B2-0001", "TOTE-BAG-B2-0002", "TOTE-BAG-B2-0003"]
    # Only the cut cell has made a store; the others have none yet.
    missing = sorted(Path(m.split(":")[0]).stem for m in r["stores_missing"])
    assert missing == ["finish-01", "print-01", "print-02", "qa-01"]


def test_pure_trace_helpers(ev) -> None:
    alloc = ev(
        "serials_allocated",
        "cut-01",
        "2026-11-22T08:00:00Z",
        scope="R",
        first=1,
        count=2,
        serials=["S-1", "S-2"],
        batch="B",
        sku="PIN",
        run_id="R",
    )
    assert batch_units([alloc], "B").serials == ["S-1", "S-2"]
    assert batch_units([alloc], "C") is None
    assert normalise_query(" CB:B ") == "B" and normalise_query("CU:S-1:SIG") == "S-1"
    with pytest.raises(TraceError, match="'S-9' is neither"):
        trace([alloc], "S-9")


def test_a_unit_trace_leaves_out_the_other_batches_of_its_run(ev) -> None:
    t = "2026-11-22T08:00:0{}Z"
    events = [
        ev(
            "serials_allocated",
            "cut-01",
            t.format(0),
            scope="R",
            first=1,
            count=1,
            serials=["S-1"],
            batch="B1",
            sku="PIN",
            run_id="R",
        ),
        ev(
            "serials_allocated",
            "cut-01",
            t.format(1),
            scope="R2",
            first=1,
            count=1,
            serials=["S-2"],
            batch="B2",
            sku="PIN",
            run_id="R",
        ),
        ev("units_counted", "cut-01", t.format(2), run_id="R", step=0, good=2, scrap=0),
        ev("batch_held", "qa-01", t.format(3), batch="B2", reason="rejected"),
        ev(
            "defect_recorded",
            "qa-01",
            t.format(4),
            run_id="R",
            code="BURN",
            severity="major",
            batch="B2",
            serial="S-2",
        ),
        ev(
            "defect_recorded",
            "cut-01",
            t.format(5),
            run_id="R",
            code="WARP",
            severity="major",
            batch=None,
        ),
    ]
    r = trace(events, "S-1")
    assert r["holds"] == [] and r["on_hold"] is None
    assert [d["code"] for d in r["defects"]] == ["WARP"]
    assert r["steps"][0]["good"] == 2
    assert trace(events, "B2")["on_hold"] == "rejected"


def test_a_step_closed_short_and_a_qa_outcome_are_said_as_such(ev) -> None:  # noqa: ANN001
    t = "2026-11-23T10:00:0{}Z"
    events = [
        ev("serials_allocated", "cut-01", t.format(1), scope="R", first=1, count=1,
           serials=["S-1"], batch="B1", sku="PIN", run_id="R"),
        ev("units_counted", "cut-01", t.format(2), run_id="R", step=0, good=11, scrap=0),
        ev("run_step_completed", "cut-01", t.format(3), run_id="R", step=0, good=11, scrap=0,
           quantity=16, closed_short="stock out (OP-SAM)"),
        ev("run_step_completed", "qa-01", t.format(4), run_id="R", step=1, good=11, scrap=0,
           outcome="accepted: 11 released"),
        ev("count_refused", "qa-01", t.format(5), run_id="R", step=1, good=1, scrap=0,
           reason="qa-01 would have 12 good, but only 11 came from cut"),
    ]  # fmt: skip
    r = trace(events, "B1")
    cut, qa = r["steps"]
    assert (cut["closed_short"], cut["outcome"]) == ("stock out (OP-SAM)", None)
    assert qa["outcome"] == "accepted: 11 released"
    said = [x["summary"] for x in r["timeline"]]
    assert "R step 0 closed short at 11 good of 16: stock out (OP-SAM)" in said
    assert "R step 1: accepted: 11 released" in said
    assert "count refused: qa-01 would have 12 good, but only 11 came from cut" in said
