"""Yield, FPY, OEE on a hand-computed shift, defect Pareto, SKU lead time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cellctl.domain.metrics import (
    RunRef,
    ShiftSpec,
    cell_yields,
    defect_pareto,
    lead_times,
    oee,
    run_yields,
    shift_windows,
    sku_lead_times,
    step_yields,
)

MON = "2026-11-16"  # a Monday
DAY = ShiftSpec("day", "06:00", "14:00", ("mon", "tue", "wed", "thu", "fri"), breaks_min=30)


def t(hhmm: str, day: str = MON) -> str:
    return f"{day}T{hhmm}:00.000Z"


def test_oee_on_a_hand_computed_shift(ev) -> None:
    events = [
        ev("downtime_started", "cut1", t("08:00"), reason="jam"),
        ev("downtime_ended", "cut1", t("08:45")),
        ev("units_counted", "cut1", t("10:00"), run_id="R1", step=0, good=300, scrap=20),
        ev("count_undone", "cut1", t("10:05"), undoes="x", run_id="R1", step=0, good=10, scrap=0),
        ev("downtime_started", "cut1", t("12:00"), reason="maint"),
        ev("downtime_ended", "cut1", t("12:15")),
        ev("downtime_started", "cut1", t("13:50"), reason="jam"),  # runs past the shift end
        ev("downtime_ended", "cut1", t("14:30")),
        ev("units_counted", "cut2", t("10:00"), run_id="R2", step=0, good=999, scrap=0),
    ]
    result = oee(
        events,
        "cut1",
        shifts=[DAY],
        period_start=datetime(2026, 11, 16, tzinfo=UTC),
        period_end=datetime(2026, 11, 17, tzinfo=UTC),
        ideal_cycle_s=60.0,
        planned_reasons={"maint"},
    )
    # 8 h shift - 30 min breaks = 450 min; planned maintenance 15 min -> planned 435 min.
    assert result.planned_s == 435 * 60
    assert result.planned_downtime_s == 15 * 60
    # unplanned: 45 min + the 10 min of 13:50-14:30 inside the shift -> run 380 min
    assert result.unplanned_downtime_s == 55 * 60
    assert result.run_s == 380 * 60
    assert (result.good, result.total) == (290, 310)
    assert result.availability == pytest.approx(380 / 435)
    assert result.performance == pytest.approx(60 * 310 / (380 * 60))
    assert result.quality == pytest.approx(290 / 310)
    # A x P x Q = ideal cycle x good / planned time = 60 * 290 / 26100
    assert result.oee == pytest.approx(2 / 3)


def test_oee_without_a_shift_or_counts_is_undefined(ev) -> None:
    sunday = datetime(2026, 11, 22, tzinfo=UTC)
    result = oee(
        [], "cut1", shifts=[DAY], period_start=sunday,
        period_end=sunday + timedelta(days=1), ideal_cycle_s=30,
    )  # fmt: skip
    assert result.planned_s == 0 and result.oee is None
    with pytest.raises(ValueError, match="ideal cycle"):
        oee([], "c", shifts=[DAY], period_start=sunday, period_end=sunday, ideal_cycle_s=0)


def test_overnight_shift_in_the_site_time_zone() -> None:
    night = ShiftSpec("night", "22:00", "06:00", ("mon",), breaks_min=48)
    berlin = ZoneInfo("Europe/Berlin")  # UTC+1 in November
    tue = datetime(2026, 11, 17, tzinfo=UTC)
    windows = shift_windows([night], tue, tue + timedelta(days=1), berlin)
    assert len(windows) == 1
    (w,) = windows
    assert w.start == tue and w.end == datetime(2026, 11, 17, 5, tzinfo=UTC)
    assert w.breaks == timedelta(minutes=30)  # 5 of the 8 hours are inside the period
    whole = shift_windows([night], tue - timedelta(days=1), tue + timedelta(days=1), berlin)
    assert [(x.start.hour, x.length) for x in whole] == [(21, timedelta(hours=8))]


def test_a_shift_across_the_daylight_saving_change_lasts_its_elapsed_time() -> None:
    # Europe/Berlin leaves summer time on Sunday 2026-10-25 at 03:00 -> 02:00
    night = ShiftSpec("night", "22:00", "06:00", ("sat",))
    berlin = ZoneInfo("Europe/Berlin")
    sat = datetime(2026, 10, 24, tzinfo=UTC)
    (w,) = shift_windows([night], sat, sat + timedelta(days=2), berlin)
    assert w.start == datetime(2026, 10, 24, 20, tzinfo=UTC)
    assert w.length == timedelta(hours=9)


def test_yield_and_first_pass_yield_per_step_run_and_cell(ev) -> None:
    events = [
        ev("units_counted", "cut1", t("08:00"), run_id="R1", step=0, good=95, scrap=5, reworked=10),
        ev("units_counted", "print1", t("09:00"), run_id="R1", step=1, good=60, scrap=5),
        ev("units_counted", "print1", t("09:30"), run_id="R1", step=1, good=30, scrap=0),
        ev("count_undone", "print1", t("09:31"), undoes="x", run_id="R1", step=1, good=0, scrap=0),
        ev("units_counted", "cut1", t("10:00"), run_id="R2", step=0, good=50, scrap=0),
    ]
    steps = step_yields(events)
    assert steps[("R1", 0)].yield_ == pytest.approx(0.95)
    assert steps[("R1", 0)].first_pass_yield == pytest.approx(0.85)
    assert steps[("R1", 1)].yield_ == pytest.approx(90 / 95)
    runs = run_yields(events)
    assert runs["R1"].yield_ == pytest.approx(0.95 * 90 / 95)
    assert runs["R1"].first_pass_yield == pytest.approx(0.85 * 90 / 95)
    assert runs["R2"].yield_ == 1.0
    cells = cell_yields(events)
    assert cells["cut1"].yield_ == pytest.approx(145 / 150)
    assert cells["cut1"].first_pass_yield == pytest.approx(135 / 150)


def test_defect_pareto(ev) -> None:
    events = [
        ev("defect_recorded", "qa1", t("08:00"), run_id="R1", code="SCRATCH", severity="minor"),
        ev("defect_recorded", "qa1", t("08:01"), run_id="R1", code="DENT", severity="major"),
        ev("defect_recorded", "qa1", t("08:02"), run_id="R1", code="SCRATCH", severity="minor",
           count=3),
        ev("defect_recorded", "qa1", t("08:03"), run_id="R1", code="SMEAR", severity="minor"),
        ev("defect_recorded", "qa1", t("08:04"), run_id="R1", code="DENT", severity="major"),
        ev("units_counted", "qa1", t("08:05"), run_id="R1", step=0, good=1, scrap=0),
    ]  # fmt: skip
    rows = defect_pareto(events)
    assert [(r.code, r.count) for r in rows] == [("SCRATCH", 4), ("DENT", 2), ("SMEAR", 1)]
    assert rows[0].share == pytest.approx(4 / 7)
    assert [round(r.cumulative, 4) for r in rows] == [round(4 / 7, 4), round(6 / 7, 4), 1.0]
    assert defect_pareto([]) == []


def test_sku_lead_time_from_first_step_to_qa_acceptance(ev) -> None:
    events = [
        ev("run_step_started", "print1", t("09:00"), run_id="R1", step=1),
        ev("run_step_started", "cut1", t("08:00"), run_id="R1", step=0),
        ev("lot_judged", "qa1", t("11:00"), batch="B1", accepted=False),
        ev("lot_judged", "qa1", t("12:30"), batch="B1", accepted=True),
        ev("run_step_started", "cut1", t("08:00", "2026-11-17"), run_id="R2", step=0),
        ev("lot_judged", "qa1", t("10:00", "2026-11-17"), batch="B2", accepted=True),
        ev("run_step_started", "cut1", t("09:00"), run_id="R3", step=0),  # never accepted
        ev("run_step_started", "cut1", t("09:00"), run_id="R4", step=0),
        ev("lot_judged", "qa1", t("11:00"), batch="X", run_id="R4", accepted=True),
    ]
    runs = [
        RunRef("R1", "MUG", "B1"),
        RunRef("R2", "MUG", "B2"),
        RunRef("R3", "MUG", "B3"),
        RunRef("R4", "CAP", None),
    ]
    times = {lt.run_id: lt.seconds for lt in lead_times(events, runs)}
    assert times == {"R1": 4.5 * 3600, "R2": 2 * 3600, "R4": 2 * 3600}
    stats = sku_lead_times(events, runs)
    assert stats["MUG"].count == 2
    assert stats["MUG"].mean_s == pytest.approx(3.25 * 3600)
    assert stats["MUG"].max_s == 4.5 * 3600
    assert stats["CAP"].median_s == 2 * 3600
