"""Properties of the metrics over generated event streams (hypothesis): every ratio is in
[0, 1] or flagged, run time never exceeds planned time, nothing is counted after now, and
the counts by cell add up to the counts by run and by step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellctl.domain.events import Event
from cellctl.domain.metrics import Counts, ShiftSpec, counts_by, oee
from cellctl.domain.report import build_report

MONDAY = datetime(2026, 11, 16, tzinfo=UTC)
CELLS = ("cut-01", "print-01", "qa-01")
STATES = ("idle", "setup", "running", "paused", "blocked", "down", "offline")
SHIFTS = [
    [ShiftSpec("day", "06:00", "14:00", ("mon", "tue", "wed", "thu", "fri"), breaks_min=30)],
    [ShiftSpec("early", "06:00", "14:00", breaks_min=20),
     ShiftSpec("late", "14:00", "22:00", breaks_min=20)],
    [ShiftSpec("night", "22:00", "06:00", ("sun", "mon", "tue"), breaks_min=45)],
    [ShiftSpec("all day", "00:00", "00:00", ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))],
]  # fmt: skip

action = st.one_of(
    st.tuples(st.just("state"), st.sampled_from(STATES)),
    st.tuples(st.just("down"), st.sampled_from(["JAM", "PM", "MATERIAL"])),
    st.tuples(st.just("up")),
    st.tuples(
        st.just("count"),
        st.sampled_from(["R1", "R2", "R3"]),
        st.integers(0, 2),
        st.integers(0, 40),
        st.integers(0, 5),
        st.integers(0, 40),
    ),
    st.tuples(st.just("undo")),
)
step = st.tuples(st.sampled_from(CELLS), st.integers(0, 240), action)


def stream(steps: list[tuple]) -> list[Event]:
    """A consistent stream from generated actions: states follow on from the last one,
    downtimes open and close in turn, an undo takes back the cell's last count."""
    events: list[Event] = []
    at = MONDAY
    state = dict.fromkeys(CELLS, "offline")
    down: dict[str, bool] = dict.fromkeys(CELLS, False)
    last_count: dict[str, Event | None] = dict.fromkeys(CELLS, None)
    seq = dict.fromkeys(CELLS, 0)

    def emit(cell: str, etype: str, **payload) -> Event:
        seq[cell] += 1
        time = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        e = Event(etype, cell, payload, time=time, seq=seq[cell])
        events.append(e)
        return e

    for cell, gap_min, act in steps:
        at += timedelta(minutes=gap_min)
        kind = act[0]
        if kind == "state" and act[1] != state[cell]:
            emit(cell, "state_changed", **{"from": state[cell], "to": act[1]})
            state[cell] = act[1]
        elif kind == "down" and not down[cell]:
            emit(cell, "downtime_started", reason=act[1], planned=act[1] == "PM")
            down[cell] = True
        elif kind == "up" and down[cell]:
            emit(cell, "downtime_ended")
            down[cell] = False
        elif kind == "count":
            _, run, step_no, good, scrap, reworked = act
            last_count[cell] = emit(cell, "units_counted", run_id=run, step=step_no, good=good,
                                    scrap=scrap, reworked=min(reworked, good))  # fmt: skip
        elif kind == "undo" and last_count[cell] is not None:
            c = last_count[cell]
            emit(cell, "count_undone", undoes=c.id, **{k: c.payload[k] for k in
                 ("run_id", "step", "good", "scrap", "reworked")})  # fmt: skip
            last_count[cell] = None
    return events


def _sum(counts: dict) -> Counts:
    return sum(counts.values(), Counts())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(step, max_size=60),
    shifts=st.sampled_from(SHIFTS),
    start_min=st.integers(0, 3 * 24 * 60),
    length_min=st.integers(1, 3 * 24 * 60),
    now_min=st.integers(0, 4 * 24 * 60),
    ideal=st.sampled_from([0.5, 20.0, 60.0, 600.0]),
)
def test_oee_ratios_stay_in_range_or_are_flagged(
    steps, shifts, start_min, length_min, now_min, ideal
) -> None:
    events = stream(steps)
    start = MONDAY + timedelta(minutes=start_min)
    end = start + timedelta(minutes=length_min)
    now = MONDAY + timedelta(minutes=now_min)
    elapsed = max(timedelta(0), min(end, now) - start).total_seconds()
    for cell in CELLS:
        o = oee(events, cell, shifts=shifts, period_start=start, period_end=end,
                ideal_cycle_s=ideal, planned_reasons={"PM"}, now=now)  # fmt: skip
        eps = 1e-6
        assert 0 <= o.run_s <= o.planned_s + eps
        assert o.planned_s <= elapsed + eps  # planned time never reaches past now
        assert 0 <= o.unplanned_downtime_s <= elapsed + eps
        assert o.delay_s >= 0 and o.good >= 0 and o.total >= 0
        for ratio in (o.availability, o.performance, o.quality, o.oee):
            assert ratio is None or 0 <= ratio <= 1 + eps
        raw = o.performance_ratio
        if raw is not None and raw > 1 + 1e-9:
            assert o.problem is not None and cell in o.problem and o.oee is None
        else:
            assert o.problem is None
        if o.oee is not None:
            assert o.oee <= min(o.availability, o.performance, o.quality) + eps


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(step, max_size=60))
def test_counts_by_cell_add_up_to_counts_by_run_and_step(steps) -> None:
    events = stream(steps)
    by_cell, by_run, by_step = (counts_by(events, k) for k in ("cell", "run", "step"))
    assert _sum(by_cell) == _sum(by_run) == _sum(by_step)
    for run in by_run:
        assert sum((c for (r, _), c in by_step.items() if r == run), Counts()) == by_run[run]
    report = build_report(events, start=MONDAY, end=MONDAY + timedelta(days=30),
                          shifts=SHIFTS[3], ideal_cycle_s={"*": 60.0})  # fmt: skip
    run_good = sum(r["good"] for r in report["runs"])
    run_scrap = sum(r["scrap"] for r in report["runs"])
    assert (run_good, run_scrap) == (
        sum(r["good"] for r in report["counts"]),
        sum(r["scrap"] for r in report["counts"]),
    )
    assert (run_good, run_good + run_scrap) == (
        sum(r["good"] for r in report["oee"]),
        sum(r["total"] for r in report["oee"]),
    )
