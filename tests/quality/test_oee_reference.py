"""OEE after ISO 22400-2 on a shift worked out by hand, and the plain configuration message
that replaces a performance above 100 %."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cellctl.domain.metrics import ShiftSpec, cell_yields, oee
from cellctl.domain.report import build_report

MON = "2026-11-16"  # a Monday
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
EARLY = ShiftSpec("early", "06:00", "14:00", WEEKDAYS, breaks_min=30)
LATE = ShiftSpec("late", "14:00", "22:00", WEEKDAYS, breaks_min=30)
NOW = datetime(2026, 11, 16, 18, 0, tzinfo=UTC)  # the late shift is half worked


def t(hhmm: str) -> str:
    return f"{MON}T{hhmm}:00.000Z"


@pytest.fixture
def shift(ev) -> list:
    def state(hhmm: str, old: str, new: str):
        return ev("state_changed", "cut-01", t(hhmm), **{"from": old, "to": new})

    return [
        state("05:50", "offline", "idle"),
        state("06:10", "idle", "setup"),
        state("06:25", "setup", "running"),
        # planned maintenance, a reason the site calls planned
        state("08:00", "running", "down"),
        ev("downtime_started", "cut-01", t("08:00"), reason="PM"),
        ev("downtime_ended", "cut-01", t("08:30")),
        state("08:30", "down", "idle"),
        state("08:35", "idle", "running"),
        ev("units_counted", "cut-01", t("10:00"), run_id="R1", step=0, good=300, scrap=10),
        state("10:00", "running", "paused"),  # the early shift's break
        state("10:30", "paused", "running"),
        ev("units_counted", "cut-01", t("12:00"), run_id="R1", step=0, good=200, scrap=5,
           reworked=20),
        # an unplanned stop across the shift change
        state("13:30", "running", "down"),
        ev("downtime_started", "cut-01", t("13:30"), reason="JAM"),
        ev("downtime_ended", "cut-01", t("14:40")),
        state("14:40", "down", "running"),
        state("16:00", "running", "paused"),  # the late shift's break, so far
        state("16:15", "paused", "running"),
        ev("units_counted", "cut-01", t("17:00"), run_id="R2", step=0, good=120, scrap=0),
        ev("count_undone", "cut-01", t("17:05"), run_id="R2", step=0, good=5, scrap=0),
        state("17:30", "running", "idle"),
        # left down, still down now: downtime until now, not until the end of the shift
        state("17:40", "idle", "down"),
        ev("downtime_started", "cut-01", t("17:40"), reason="MATERIAL"),
        # another cell's events count for nothing here
        ev("units_counted", "print-01", t("12:00"), run_id="R1", step=1, good=999, scrap=0),
        ev("state_changed", "print-01", t("06:00"), **{"from": "idle", "to": "running"}),
    ]  # fmt: skip


def test_a_hand_worked_shift(shift) -> None:
    """cut-01 on Monday 2026-11-16, shifts early 06:00-14:00 and late 14:00-22:00 (UTC),
    30 min of breaks each; ideal cycle time 40 s; the report asked at 18:00 for the whole
    day (00:00 to 24:00).

    Planned busy time (PBT):
      early 06:00-14:00 = 480 min - 30 min breaks                       = 450 min
      late 14:00-18:00 (cut at now) = 240 min - 30 x 240/480 = 15 min   = 225 min
      scheduled                                                         = 675 min
      planned maintenance PM 08:00-08:30 (PDOT)                         =  30 min
      PBT = 675 - 30                                                    = 645 min
    Unplanned downtime (ADOT):
      JAM 13:30-14:40, across the shift change: 30 min + 40 min         =  70 min
      MATERIAL 17:40-now 18:00 (not to 22:00, not to midnight)          =  20 min
      ADOT                                                              =  90 min
    Actual production time (APT), the running state:
      06:25-08:00 95 + 08:35-10:00 85 + 10:30-13:30 180
      + 14:40-16:00 80 + 16:15-17:30 75                                 = 515 min
      (at most PBT - ADOT = 555 min: kept at 515)
    Delay = 555 - 515 = 40 min: idle 10 + setup 15 + idle 5 + paused 30 + paused 15
      + idle 10 = 85 min of not running, less the 45 min of breaks taken in it.
    Counts: good 300 + 200 + 120 - 5 (undone) = 615; scrap 10 + 5 = 15;
      produced 630; reworked 20 (made good by rework, in the 615).

    availability = APT / PBT = 515 / 645                   = 103/129 = 0.798450
    performance  = 40 s x 630 / (515 x 60 s) = 25200/30900 =  84/103 = 0.815534
    quality      = 615 / 630                               =   41/42 = 0.976190
    OEE          = A x P x Q = 40 s x 615 / (645 x 60 s)   =  82/129 = 0.635659
    first-pass yield = (615 - 20) / 630                    =   17/18 = 0.944444
    """
    day = datetime(2026, 11, 16, tzinfo=UTC)
    o = oee(shift, "cut-01", shifts=[EARLY, LATE], period_start=day,
            period_end=day + timedelta(days=1), ideal_cycle_s=40.0, planned_reasons={"PM"},
            now=NOW)  # fmt: skip
    assert o.planned_downtime_s == 30 * 60
    assert o.planned_s == 645 * 60
    assert o.unplanned_downtime_s == 90 * 60
    assert o.run_s == 515 * 60
    assert o.delay_s == 40 * 60
    assert (o.good, o.total, o.reworked) == (615, 630, 20)
    assert o.availability == pytest.approx(103 / 129)
    assert o.performance == pytest.approx(84 / 103)
    assert o.quality == pytest.approx(41 / 42)
    assert o.oee == pytest.approx(82 / 129)
    assert o.problem is None and o.states_known
    assert cell_yields(shift)["cut-01"].first_pass_yield == pytest.approx(17 / 18)

    # The same figures for the whole week asked at the same moment: the days still to
    # come are neither planned time nor downtime.
    week = oee(shift, "cut-01", shifts=[EARLY, LATE], period_start=day,
               period_end=day + timedelta(days=7), ideal_cycle_s=40.0,
               planned_reasons={"PM"}, now=NOW)  # fmt: skip
    assert week == o

    # The report shows the same row, and its downtime table stops at now.
    report = build_report(shift, start=day, end=day + timedelta(days=1), shifts=[EARLY, LATE],
                          ideal_cycle_s={"cut-01": 40.0}, planned_reasons={"PM"},
                          now=NOW)  # fmt: skip
    [row] = [r for r in report["oee"] if r["cell"] == "cut-01"]
    assert (row["planned_s"], row["run_s"], row["delay_s"]) == (38700.0, 30900.0, 2400.0)
    assert (row["availability"], row["performance"], row["quality"], row["oee"]) == (
        0.7984, 0.8155, 0.9762, 0.6357)  # fmt: skip
    assert row["problem"] == ""
    assert [(d["reason"], d["end"], d["duration_s"]) for d in report["downtime"]] == [
        ("PM", "2026-11-16T08:30:00Z", 1800.0),
        ("JAM", "2026-11-16T14:40:00Z", 4200.0),
        ("MATERIAL", "2026-11-16T18:00:00Z", 1200.0),
    ]


def test_a_period_wholly_in_the_future_has_no_planned_time_and_no_downtime(shift) -> None:
    tuesday = datetime(2026, 11, 17, tzinfo=UTC)
    o = oee(shift, "cut-01", shifts=[EARLY, LATE], period_start=tuesday,
            period_end=tuesday + timedelta(days=1), ideal_cycle_s=40.0, now=NOW)  # fmt: skip
    assert (o.planned_s, o.run_s, o.unplanned_downtime_s) == (0, 0, 0)
    assert o.availability is None and o.oee is None


def test_a_performance_above_100_percent_is_a_configuration_problem(ev) -> None:
    """100 parts in 60 s of running at an ideal cycle time of 30 s: performance would be
    30 x 100 / 60 = 5,000 %; it is reported as the setting to check instead."""
    events = [
        ev("state_changed", "cut-01", t("08:00"), **{"from": "idle", "to": "running"}),
        ev("units_counted", "cut-01", t("08:00"), run_id="R1", step=0, good=100, scrap=0),
        ev("state_changed", "cut-01", t("08:01"), **{"from": "running", "to": "idle"}),
    ]
    start = datetime(2026, 11, 16, 8, tzinfo=UTC)
    no_breaks = ShiftSpec("day", "06:00", "14:00", WEEKDAYS)
    o = oee(events, "cut-01", shifts=[no_breaks], period_start=start,
            period_end=start + timedelta(minutes=2), ideal_cycle_s=30.0)  # fmt: skip
    assert o.performance_ratio == pytest.approx(50.0)
    assert o.performance is None and o.oee is None
    assert o.availability == pytest.approx(0.5) and o.quality == 1.0
    assert o.problem == (
        "ideal cycle time of cut-01 is 30 s but it made parts every 0.6 s: check `ideal_cycle_s`"
    )
    report = build_report(events, start=start, end=start + timedelta(minutes=2),
                          shifts=[no_breaks], ideal_cycle_s={"cut-01": 30.0})  # fmt: skip
    [row] = report["oee"]
    assert row["performance"] is None and row["oee"] is None
    assert row["problem"] == o.problem
