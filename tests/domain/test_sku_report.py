"""SKU analytics from events, checked against figures worked out by hand."""

from __future__ import annotations

import pytest

from cellctl.domain.events import Event
from cellctl.domain.sku_report import percentile, sku_report
from tests.domain.sku_events import sku_accept, sku_event, sku_run


def test_percentile_is_linear_between_order_statistics() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 90) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0, 20.0, 30.0, 40.0, 50.0], 90) == pytest.approx(46.0)


def test_lead_time_yield_fpy_and_pareto_per_sku() -> None:
    events = (
        sku_run("R1", "MUG", "2026-12-01", 4, good=(10, 9), scrap=(0, 1), reworked=2)
        + sku_run("R2", "MUG", "2026-12-02", 8, good=(8, 8), scrap=(2, 0))
        + sku_run("R3", "PIN", "2026-12-02", 5, good=(4, 4), scrap=(0, 0))
        + [
            sku_event("defect_recorded", "qa-01", "2026-12-01T09:00:00.000Z", run_id="R1",
                code="CHIP", severity="minor"),
            sku_event("defect_recorded", "cut-01", "2026-12-02T08:00:00.000Z", run_id="R2",
                code="BURR", severity="minor", count=2),
            # An undone count is taken off (R3's cut: 4 good, then 1 more undone).
            sku_event("units_counted", "cut-01", "2026-12-02T08:01:00.000Z", run_id="R3", step=0,
                good=1, scrap=0),
            sku_event("count_undone", "cut-01", "2026-12-02T08:02:00.000Z", run_id="R3", step=0,
                undoes="x", good=1, scrap=0),
            # An unfinished run: counted in runs, not in lead time.
            sku_accept("cut-01", "R4", 0, "cut", "qa", "PIN", "2026-12-03T06:00:00.000Z"),
        ]
    )  # fmt: skip
    report = sku_report(events)
    mug, pin = report["sku"]
    assert (mug["sku"], mug["runs"], mug["runs_done"]) == ("MUG", 2, 2)
    # Lead 4 h and 8 h: p50 6 h, p90 4 + 0.9 × 4 = 7.6 h. Wait 1 h each; make 3 h and 7 h.
    assert (mug["lead_p50_s"], mug["lead_p90_s"]) == (6 * 3600.0, 7.6 * 3600)
    assert (mug["wait_p50_s"], mug["make_p50_s"]) == (3600.0, 5 * 3600.0)
    # Cut: 18 good of 20; QA: 17 good of 18, 2 of them reworked. Rolled over the steps.
    assert mug["yield"] == pytest.approx(round(18 / 20 * 17 / 18, 4))
    assert mug["fpy"] == pytest.approx(round(18 / 20 * 15 / 18, 4))
    assert (mug["good"], mug["scrap"]) == (17, 3)
    assert (pin["runs"], pin["runs_done"], pin["lead_p90_s"]) == (2, 1, 5 * 3600.0)
    steps = {(r["sku"], r["step"]): r for r in report["sku_steps"]}
    assert steps[("MUG", 1)]["kind"] == "qa" and steps[("MUG", 1)]["reworked"] == 2
    assert steps[("PIN", 0)]["good"] == 4
    assert report["sku_scrap"] == [
        {"sku": "MUG", "code": "BURR", "count": 2, "share": 0.6667, "cumulative": 0.6667},
        {"sku": "MUG", "code": "CHIP", "count": 1, "share": 0.3333, "cumulative": 1.0},
    ]


def test_no_submitted_time_falls_back_to_the_first_assignment() -> None:
    events = sku_run("R1", "MUG", "2026-12-01", 4, good=(1, 1), scrap=(0, 0))
    first = events[0]
    a = dict(first.payload["assignment"], submitted_at=None)
    events[0] = Event(first.type, first.cell, {**first.payload, "assignment": a}, time=first.time)
    assert sku_report(events)["sku"][0]["lead_p50_s"] == 4 * 3600.0
