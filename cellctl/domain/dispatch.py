"""The dispatch rule: which ready step an idle cell gets next.

The rule, in order of precedence:

1. Manual priority (set by a supervisor): higher first.
2. Apparent Tardiness Cost with remaining work (ATC, Vepsalainen & Morton),
   highest index first:

       I = (w / p) · exp(−max(0, d − t − R) / (k · p̄))

   w: margin at stake (unit margin × quantity × SLA weight: 1, 1.5, 2.5);
   p: the work of this step; R: the work of this step and every later step of
   the run; d: the due date; t: now; p̄: the mean work of the steps waiting for
   this kind of cell; k: look-ahead (2.0). A run whose slack d − t − R is gone
   competes on w/p alone (weighted shortest processing time); a run with
   slack is discounted exponentially in its slack.
3. Ties: earlier due date, then submission order, then run id.

Steps of a run whose batch is on hold, steps the cell declined, and steps whose
previous step is not done are never candidates (the caller filters them).
The weighted tardiness the rule aims at is Σ w · max(0, C − d), C the completion.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

K_LOOKAHEAD = 2.0


@dataclass(frozen=True, slots=True)
class Candidate:
    run_id: str
    step: int
    kind: str
    weight: float
    work_s: float
    remaining_s: float
    due_s: float
    manual_priority: int = 0
    order: int = 0


def atc_index(c: Candidate, now: float, mean_work: float, k: float = K_LOOKAHEAD) -> float:
    slack = c.due_s - now - c.remaining_s
    return (c.weight / max(c.work_s, 1e-9)) * math.exp(
        -max(0.0, slack) / (k * max(mean_work, 1e-9))
    )


def sort_key(
    c: Candidate, now: float, mean_work: float, k: float = K_LOOKAHEAD
) -> tuple[float, ...] | tuple[object, ...]:
    """Smaller is better."""
    return (-c.manual_priority, -atc_index(c, now, mean_work, k), c.due_s, c.order, c.run_id)


def mean_work(cands: Sequence[Candidate]) -> float:
    return sum(c.work_s for c in cands) / len(cands) if cands else 1.0


def choose(
    cands: Sequence[Candidate], now: float, k: float = K_LOOKAHEAD, p_bar: float | None = None
) -> Candidate | None:
    """The best candidate by the rule, or None."""
    if not cands:
        return None
    pb = mean_work(cands) if p_bar is None else p_bar
    return min(cands, key=lambda c: sort_key(c, now, pb, k))


def rank(cands: Sequence[Candidate], now: float, k: float = K_LOOKAHEAD) -> list[Candidate]:
    """Every candidate in the rule's order (the queue snapshot the board shows)."""
    pb = mean_work(cands)
    return sorted(cands, key=lambda c: sort_key(c, now, pb, k))


# -- simulating the rule on a static instance (tests and the bench) ----------------


@dataclass(frozen=True, slots=True)
class Job:
    """A run for simulation: the cell kind and work of each step, in order."""

    id: str
    steps: tuple[tuple[str, float], ...]
    weight: float
    due_s: float
    manual_priority: int = 0


@dataclass(frozen=True, slots=True)
class Scheduled:
    job: str
    step: int
    cell: str
    start: float
    end: float


def weighted_tardiness(jobs: Iterable[Job], completion: dict[str, float]) -> float:
    return sum(j.weight * max(0.0, completion[j.id] - j.due_s) for j in jobs)


def simulate(
    jobs: Sequence[Job], cells: dict[str, str], *, now: float = 0.0, k: float = K_LOOKAHEAD
) -> tuple[list[Scheduled], dict[str, float]]:
    """Non-delay list scheduling with the rule, as the scheduler runs it online.

    `cells` maps cell id to kind. Whenever a cell is idle it takes the best ready
    step of its kind; returns the schedule and each job's completion time.
    """
    remaining = {j.id: [sum(w for _, w in j.steps[i:]) for i in range(len(j.steps))] for j in jobs}
    next_step = {j.id: 0 for j in jobs}
    ready_at = {j.id: now for j in jobs}
    by_id = {j.id: j for j in jobs}
    order = {j.id: i for i, j in enumerate(jobs)}
    free_at = {c: now for c in cells}
    schedule: list[Scheduled] = []
    completion: dict[str, float] = {}
    events = [now]
    t = now
    while len(completion) < len(jobs):
        t = heapq.heappop(events)
        while events and events[0] <= t:
            heapq.heappop(events)
        for cell in sorted(cells):
            if free_at[cell] > t:
                continue
            kind = cells[cell]
            cands = []
            for jid, i in next_step.items():
                job = by_id[jid]
                if i < len(job.steps) and job.steps[i][0] == kind and ready_at[jid] <= t:
                    cands.append(
                        Candidate(
                            jid,
                            i,
                            kind,
                            job.weight,
                            job.steps[i][1],
                            remaining[jid][i],
                            job.due_s,
                            job.manual_priority,
                            order[jid],
                        )
                    )
            best = choose(cands, t, k)
            if best is None:
                continue
            end = t + best.work_s
            schedule.append(Scheduled(best.run_id, best.step, cell, t, end))
            free_at[cell] = end
            next_step[best.run_id] += 1
            ready_at[best.run_id] = end
            if next_step[best.run_id] == len(by_id[best.run_id].steps):
                completion[best.run_id] = end
            heapq.heappush(events, end)
        if not events and len(completion) < len(jobs):
            raise ValueError("some steps need a cell kind no cell has")
    return schedule, completion
