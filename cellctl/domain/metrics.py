"""Production metrics as pure functions over domain events.

Definitions (what the board and `cellctl report` show):

Yield and first-pass yield, from `units_counted` (good, scrap, optional `reworked` = units
counted good only after rework) minus `count_undone`:
- per step and per cell: yield = good / (good + scrap);
  first-pass yield (FPY) = (good - reworked) / (good + scrap).
- per run: the product over the run's steps (rolled: the share of units that get through
  every step, respectively without any rework or scrap). A run with one step has the same
  figures as that step.

OEE per cell over a period, after ISO 22400-2 (the names in brackets are the standard's):
- the period is cut at now: the hours still to come are neither planned time nor downtime,
  and a downtime still open runs to now;
- planned busy time (PBT) = the cell's shift windows inside the period (shift calendar:
  start/end wall-clock times on given weekdays, overnight shifts allowed), minus the
  shift's breaks (prorated when the period cuts a window), minus planned downtime (PDOT:
  a downtime whose reason is planned, e.g. scheduled maintenance) inside the windows;
- actual production time (APT) = the time the cell was in the running state inside the
  windows and outside any downtime, at most PBT - unplanned downtime;
- availability = APT / PBT; waiting for work (nothing assigned, upstream not done) is,
  as in the standard, a loss of availability, not of performance;
- performance, the standard's effectiveness (E) = ideal cycle time (the station's
  `ideal_cycle_s`, the standard's planned run time per item PRI) x produced quantity / APT;
- quality ratio (QR) = good / produced quantity, produced = good + scrap counted in the
  period (by count time; an undo takes its units off at the time of the count it undoes);
- OEE index = availability x performance x quality.

Where this differs from the standard, and why:
- the shift calendar gives breaks as minutes per shift, not as clock times, so a break is
  taken out of PBT prorated and is assumed to fall while the cell is not producing; a cell
  that ran through its breaks is credited with at most PBT - unplanned downtime of APT;
- the standard counts setup (AUST) apart from delays (ADET); here both are the time the
  cell was not running and not down (`Oee.delay_s`): idle, setup, paused, blocked, offline;
- reworked units (ISO's RQ) are counted good once rework made them good (`reworked` of
  `units_counted`), so the quality ratio is a final yield; the first-pass yield (ISO's FPY)
  is reported apart;
- a stream with no `state_changed` for the cell (an old store, a synthetic test) cannot
  say when the cell was idle: APT is then PBT - unplanned downtime (the classic
  Nakajima definition, where waiting for work shows as a performance loss), and
  `Oee.states_known` is False;
- a performance above 100 % is not a figure but a configuration problem (`Oee.problem`
  names the cell and the numbers); performance and OEE are then None, never 5,000 %.

Defect Pareto: `defect_recorded` (optional `count`, default 1) grouped by code, most
frequent first, with each code's share and the cumulative share.

SKU lead time: from the first `run_step_started` of a run to the first `lot_judged` with
`accepted` true for the run's batch (or carrying its run_id).
"""

from __future__ import annotations

import bisect
import functools
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from cellctl.domain.events import Event

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@functools.lru_cache(maxsize=1 << 17)
def parse_time(text: str) -> datetime:
    """An event time (ISO 8601, 'Z' allowed) as an aware UTC datetime. Kept: a report
    reads each event's time in several passes (a month is half a million events)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# --- yield -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counts:
    good: int = 0
    scrap: int = 0
    reworked: int = 0

    @property
    def total(self) -> int:
        return self.good + self.scrap

    @property
    def yield_(self) -> float | None:
        return self.good / self.total if self.total else None

    @property
    def first_pass_yield(self) -> float | None:
        return (self.good - self.reworked) / self.total if self.total else None

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.good + other.good, self.scrap + other.scrap, self.reworked + other.reworked
        )


def count_delta(event: Event) -> Counts | None:
    """What a counting event adds (an undone count subtracts), or None for another event."""
    p = event.payload
    sign = {"units_counted": 1, "count_undone": -1}.get(event.type)
    if sign is None:
        return None
    return Counts(
        sign * int(p.get("good", 0)),
        sign * int(p.get("scrap", 0)),
        sign * int(p.get("reworked", 0)),
    )


GroupBy = Literal["run", "step", "cell"]


def counts_by(events: Iterable[Event], by: GroupBy) -> dict[Hashable, Counts]:
    """Good/scrap/reworked per run_id, per (run_id, step) or per cell."""
    key: Callable[[Event], Hashable] = {
        "run": lambda e: e.payload.get("run_id"),
        "step": lambda e: (e.payload.get("run_id"), e.payload.get("step")),
        "cell": lambda e: e.cell,
    }[by]
    out: dict[Hashable, Counts] = defaultdict(Counts)
    for event in events:
        delta = count_delta(event)
        if delta is not None:
            out[key(event)] += delta
    return dict(out)


@dataclass(frozen=True, slots=True)
class Yields:
    yield_: float | None
    first_pass_yield: float | None


def step_yields(events: Iterable[Event]) -> dict[tuple[str, int], Yields]:
    return {k: Yields(c.yield_, c.first_pass_yield) for k, c in counts_by(events, "step").items()}  # type: ignore[misc]  # keys are cell or (run, step)


def cell_yields(events: Iterable[Event]) -> dict[str, Yields]:
    return {k: Yields(c.yield_, c.first_pass_yield) for k, c in counts_by(events, "cell").items()}  # type: ignore[misc]  # keys are cell or (run, step)


def run_yields(events: Iterable[Event]) -> dict[str, Yields]:
    """Rolled over the run's steps: the product of the step figures."""
    return rolled_yields(counts_by(events, "step"))  # type: ignore[arg-type]  # keys are (run, step)


def rolled_yields(per_step: Mapping[tuple[Any, Any], Counts]) -> dict[Any, Yields]:
    """Per run, from (run_id, step) -> counts: the product of the step figures."""
    per_run: dict[Any, list[Counts]] = defaultdict(list)
    for (run_id, _step), counts in per_step.items():
        per_run[run_id].append(counts)
    out = {}
    for run_id, steps in per_run.items():
        ys = [c.yield_ for c in steps]
        fs = [c.first_pass_yield for c in steps]
        out[run_id] = Yields(
            None if None in ys else math.prod(ys),  # type: ignore[arg-type]  # no None: checked just before
            None if None in fs else math.prod(fs),  # type: ignore[arg-type]  # no None: checked just before
        )
    return out


# --- OEE ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShiftSpec:
    """A shift of the site calendar, as plain data (the config's `Shift` maps onto it)."""

    name: str
    start: str  # "HH:MM", local wall-clock time
    end: str  # "HH:MM"; at or before start means the shift ends the next day
    days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    breaks_min: int = 0

    def __post_init__(self) -> None:
        for day in self.days:
            if day not in WEEKDAYS:
                raise ValueError(f"shift {self.name!r}: unknown day {day!r}")
        _hhmm(self.start), _hhmm(self.end)


def _hhmm(text: str) -> time:
    hh, mm = text.split(":")
    return time(int(hh), int(mm))


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime
    breaks: timedelta = timedelta(0)

    @property
    def length(self) -> timedelta:
        return self.end - self.start


def shift_windows(
    shifts: Sequence[ShiftSpec], start: datetime, end: datetime, tz: tzinfo = UTC
) -> list[Window]:
    """Every shift occurrence overlapping [start, end), clipped to it, in UTC; each with
    its breaks prorated to the part kept. `tz` is the site's time zone (shift times are
    local wall-clock times)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("period bounds must be timezone-aware")
    windows: list[Window] = []
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    day = first
    while day <= last:
        for shift in shifts:
            if WEEKDAYS[day.weekday()] not in shift.days:
                continue
            w_start, w_end = _occurrence(shift, day, tz)
            lo, hi = max(w_start, start), min(w_end, end)
            if lo >= hi:
                continue
            full = w_end - w_start
            breaks = timedelta(minutes=shift.breaks_min) * ((hi - lo) / full)
            windows.append(Window(lo.astimezone(UTC), hi.astimezone(UTC), breaks))
        day += timedelta(days=1)
    windows.sort(key=lambda w: w.start)
    return windows


def _occurrence(shift: ShiftSpec, day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    s, e = _hhmm(shift.start), _hhmm(shift.end)
    w_start = datetime.combine(day, s, tzinfo=tz)
    w_end = datetime.combine(day + timedelta(days=1) if e <= s else day, e, tzinfo=tz)
    # in UTC, so that lengths are elapsed time across a daylight-saving change
    return w_start.astimezone(UTC), w_end.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Downtime:
    start: datetime
    end: datetime
    reason: str
    planned: bool


def downtimes(
    events: Iterable[Event], period_end: datetime, planned_reasons: Collection[str] = ()
) -> dict[str, list[Downtime]]:
    """Downtime intervals per cell from `downtime_started`/`downtime_ended`; one still
    open at the end of the period runs to `period_end` (callers pass `min(end, now)`: a
    cell left down is down until now, not until the end of a period still to come)."""
    open_: dict[str, tuple[datetime, str, bool]] = {}
    out: dict[str, list[Downtime]] = defaultdict(list)
    for event in sorted(events, key=lambda e: (parse_time(e.time), e.seq)):
        if event.type == "downtime_started" and event.cell not in open_:
            reason = str(event.payload.get("reason", ""))
            planned = bool(event.payload.get("planned", False)) or reason in planned_reasons
            open_[event.cell] = (parse_time(event.time), reason, planned)
        elif event.type == "downtime_ended" and event.cell in open_:
            start, reason, planned = open_.pop(event.cell)
            out[event.cell].append(Downtime(start, parse_time(event.time), reason, planned))
    for cell, (start, reason, planned) in open_.items():
        if start < period_end:
            out[cell].append(Downtime(start, period_end, reason, planned))
    return dict(out)


Span = tuple[datetime, datetime]


def _merge(spans: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for lo, hi in sorted(s for s in spans if s[0] < s[1]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _intersect(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    # One pass over both, merged and sorted: a month of a busy cell has thousands of
    # spans on each side (the report's OEE took seconds pairing every one with every one).
    xs, ys = _merge(a), _merge(b)
    out: list[Span] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        lo, hi = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if lo < hi:
            out.append((lo, hi))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return _merge(out)


def _minus(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    cuts = _merge(b)
    ends = [hi for _, hi in cuts]
    out: list[Span] = []
    for lo, hi in a:
        cur = lo
        # The first cut that ends after `cur` (cuts are disjoint and sorted).
        k = bisect.bisect_right(ends, cur)
        while k < len(cuts) and cuts[k][0] < hi:
            lo_b, hi_b = cuts[k]
            if lo_b > cur:
                out.append((cur, lo_b))
            cur = max(cur, hi_b)
            k += 1
        if cur < hi:
            out.append((cur, hi))
    return out


def _length(spans: Iterable[Span]) -> timedelta:
    return sum((hi - lo for lo, hi in spans), timedelta(0))


def _overlap(windows: Sequence[Window], start: datetime, end: datetime) -> timedelta:
    return _length(_intersect([(w.start, w.end) for w in windows], [(start, end)]))


PRODUCING = "running"


def producing_spans(events: Iterable[Event], cell: str, until: datetime) -> list[Span] | None:
    """When the cell was in the running state, from its `state_changed` events up to
    `until`; the first event's `from` says the state before it. None when the stream
    holds no state change of the cell (nothing says when it was producing)."""
    changes = sorted(
        (parse_time(e.time), e.seq, e)
        for e in events
        if e.cell == cell and e.type == "state_changed"
    )
    if not changes:
        return None
    spans: list[Span] = []
    state = str(changes[0][2].payload.get("from", ""))
    since = datetime.min.replace(tzinfo=UTC)
    for when, _seq, e in changes:
        at = min(when, until)
        if state == PRODUCING:
            spans.append((since, at))
        state, since = str(e.payload.get("to", "")), at
    if state == PRODUCING:
        spans.append((since, until))
    return _merge(spans)


def _seconds(value: float) -> str:
    """A cycle time as a person reads it: 30 s, 2.5 s, 0.6 s, 0.04 s."""
    if value >= 10:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.1f}".removesuffix(".0")
    return f"{value:.2g}"


def cut_at(period_start: datetime, period_end: datetime, now: datetime | None) -> datetime:
    """The end of a period cut at now: the hours still to come are not counted."""
    return period_end if now is None else max(period_start, min(period_end, now))


def produced(events: Iterable[Event], cell: str, start: datetime, end: datetime) -> Counts:
    """What a cell counted over [start, end), by count time: an undo takes its units off
    at the time of the count it undoes (when the stream holds that count), so a period
    boundary between a count and its undo cannot leave negative counts on one side."""
    mine = [e for e in events if e.cell == cell]
    counted_at = {e.id: e.time for e in mine if e.type == "units_counted" and e.id}
    counts = Counts()
    for e in mine:
        delta = count_delta(e)
        if delta is None:
            continue
        at = e.time
        if e.type == "count_undone":
            at = counted_at.get(str(e.payload.get("undoes")), at)
        if start <= parse_time(at) < end:
            counts += delta
    return counts


@dataclass(frozen=True, slots=True)
class Oee:
    """One cell's OEE over a period, with the ISO 22400-2 quantities it is made of.

    - `planned_s`: planned busy time PBT = the shift windows inside the period and before
      now, minus breaks, minus planned downtime (PDOT, `planned_downtime_s`);
    - `run_s`: actual production time APT = the time the cell was running (producing)
      inside PBT, outside any downtime;
    - `unplanned_downtime_s`: actual unit down time ADOT, inside the shift windows;
    - `delay_s`: the rest of PBT: idle, setup, paused, blocked, offline (ISO's delay and
      setup times), so PBT = APT + ADOT + delay;
    - `good` (GQ), `total` (produced quantity PQ = good + scrap), `reworked` (units in
      `good` that were made good by rework; ISO's RQ);
    - `ideal_cycle_s`: the planned run time per item PRI (the station's `ideal_cycle_s`).
    """

    cell: str
    planned_s: float
    run_s: float
    unplanned_downtime_s: float
    planned_downtime_s: float
    good: int
    total: int
    ideal_cycle_s: float
    delay_s: float = 0.0
    reworked: int = 0
    states_known: bool = True

    @property
    def availability(self) -> float | None:
        """APT / PBT."""
        return self.run_s / self.planned_s if self.planned_s > 0 else None

    @property
    def performance_ratio(self) -> float | None:
        """PRI x PQ / APT as computed, possibly above 1 (then the ideal time is wrong)."""
        return self.ideal_cycle_s * self.total / self.run_s if self.run_s > 0 else None

    @property
    def performance(self) -> float | None:
        """ISO's effectiveness E; None (see `problem`) when above 100 %, which no cell can
        reach: parts faster than the ideal cycle time mean the ideal time is set wrong."""
        value = self.performance_ratio
        return None if value is None or value > 1.0 + 1e-9 else value

    @property
    def problem(self) -> str | None:
        """A configuration problem that makes the figures meaningless, said plainly."""
        value = self.performance_ratio
        if value is None or value <= 1.0 + 1e-9:
            return None
        return (
            f"ideal cycle time of {self.cell} is {_seconds(self.ideal_cycle_s)} s but it made "
            f"parts every {_seconds(self.run_s / self.total)} s: check `ideal_cycle_s`"
        )

    @property
    def quality(self) -> float | None:
        """GQ / PQ."""
        return self.good / self.total if self.total else None

    @property
    def oee(self) -> float | None:
        """The OEE index A x E x QR; None while any factor is undefined or flagged."""
        parts = (self.availability, self.performance, self.quality)
        return None if None in parts else math.prod(parts)  # type: ignore[arg-type]  # no None: checked just before


def oee(
    events: Iterable[Event],
    cell: str,
    *,
    shifts: Sequence[ShiftSpec],
    period_start: datetime,
    period_end: datetime,
    ideal_cycle_s: float,
    tz: tzinfo = UTC,
    planned_reasons: Collection[str] = (),
    now: datetime | None = None,
    counts: Counts | None = None,
) -> Oee:
    """OEE of one cell over [period_start, period_end), cut at `now` when given: the
    hours still to come are neither planned time nor downtime (see the module docstring).
    `counts`: what the cell produced over the period cut at now (`produced`), when the
    caller keeps it added up; otherwise it is counted from `events`."""
    if ideal_cycle_s <= 0:
        raise ValueError("the ideal cycle time must be positive")
    end = cut_at(period_start, period_end, now)
    windows = shift_windows(shifts, period_start, end, tz) if end > period_start else []
    events = [e for e in events if e.cell == cell]
    scheduled = sum((w.length - w.breaks for w in windows), timedelta(0))
    spans = [(w.start, w.end) for w in windows]
    planned_dt = unplanned_dt = timedelta(0)
    down: list[Span] = []
    for d in downtimes(events, end, planned_reasons).get(cell, []):
        down.append((d.start, d.end))
        inside = _overlap(windows, d.start, d.end)
        if d.planned:
            planned_dt += inside
        else:
            unplanned_dt += inside
    planned = max(scheduled - planned_dt, timedelta(0))
    up_to = max(planned - unplanned_dt, timedelta(0))
    producing = producing_spans(events, cell, end)
    if producing is None:
        run = up_to
    else:
        running = _length(_minus(_intersect(producing, spans), _merge(down)))
        # Breaks have no clock time in the calendar: they are taken while the cell is not
        # producing, and a cell that ran through them is credited with PBT at most.
        run = min(running, up_to)
    if counts is None:
        counts = produced(events, cell, period_start, end)
    return Oee(
        cell=cell,
        planned_s=planned.total_seconds(),
        run_s=run.total_seconds(),
        unplanned_downtime_s=unplanned_dt.total_seconds(),
        planned_downtime_s=planned_dt.total_seconds(),
        good=counts.good,
        total=counts.total,
        ideal_cycle_s=ideal_cycle_s,
        delay_s=max(up_to - run, timedelta(0)).total_seconds(),
        reworked=counts.reworked,
        states_known=producing is not None,
    )


# --- defect Pareto -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParetoRow:
    code: str
    count: int
    share: float
    cumulative: float


def defect_pareto(events: Iterable[Event]) -> list[ParetoRow]:
    counts: dict[str, int] = defaultdict(int)
    for e in events:
        if e.type == "defect_recorded":
            counts[str(e.payload["code"])] += int(e.payload.get("count", 1))
    total = sum(counts.values())
    rows: list[ParetoRow] = []
    running = 0
    for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        running += n
        rows.append(ParetoRow(code, n, n / total, running / total))
    return rows


# --- lead time ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunRef:
    run_id: str
    sku: str
    batch: str | None = None


@dataclass(frozen=True, slots=True)
class LeadTime:
    run_id: str
    sku: str
    started: datetime
    accepted: datetime

    @property
    def seconds(self) -> float:
        return (self.accepted - self.started).total_seconds()


@dataclass(frozen=True, slots=True)
class LeadTimeStats:
    count: int
    mean_s: float
    median_s: float
    max_s: float


def lead_times(events: Iterable[Event], runs: Iterable[RunRef]) -> list[LeadTime]:
    """Lead time of every run that has both a first step started and a QA acceptance."""
    started: dict[str, datetime] = {}
    accepted_batch: dict[str, datetime] = {}
    accepted_run: dict[str, datetime] = {}
    for e in events:
        t = parse_time(e.time)
        if e.type == "run_step_started":
            rid = str(e.payload["run_id"])
            started[rid] = min(t, started.get(rid, t))
        elif e.type == "lot_judged" and e.payload.get("accepted") is True:
            for key, table in (("batch", accepted_batch), ("run_id", accepted_run)):
                value = e.payload.get(key)
                if value is not None:
                    table[str(value)] = min(t, table.get(str(value), t))
    out = []
    for run in runs:
        start = started.get(run.run_id)
        done = accepted_run.get(run.run_id) or (
            accepted_batch.get(run.batch) if run.batch else None
        )
        if start is not None and done is not None and done >= start:
            out.append(LeadTime(run.run_id, run.sku, start, done))
    return out


def sku_lead_times(events: Iterable[Event], runs: Iterable[RunRef]) -> dict[str, LeadTimeStats]:
    per_sku: dict[str, list[float]] = defaultdict(list)
    for lt in lead_times(events, runs):
        per_sku[lt.sku].append(lt.seconds)
    return {
        sku: LeadTimeStats(len(v), statistics.fmean(v), statistics.median(v), max(v))
        for sku, v in per_sku.items()
    }
