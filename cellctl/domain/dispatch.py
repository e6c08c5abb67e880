"""The dispatch rule: which ready step an idle cell gets next.

The rule, in order of precedence:

1. Manual priority (set by a supervisor): higher first, always. The plan
   below only ever chooses among ready steps of the highest manual priority.
2. Apparent Tardiness Cost with remaining work (ATC, Vepsalainen & Morton),
   highest index first:

       I = (w / p) · exp(−max(0, d − t − R) / (k · p̄))

   w: margin at stake (unit margin × quantity × SLA weight: 1, 1.5, 2.5);
   p: the work of this step; R: the work of this step and every later step of
   the run; d: the due date; t: now; p̄: the mean work of the steps waiting for
   this kind of cell; k: look-ahead (2.0). A run whose slack d − t − R is gone
   competes on w/p alone (weighted shortest processing time); a run with
   slack is discounted exponentially in its slack.
3. While the queue is small (at most PLAN_MAX_READY ready steps, e.g. a shift's
   worth on a small site), a plan refines step 2 (plan.py): the remaining steps
   of every open run are sequenced on every online cell, starting from the
   index's own schedule and improved by simulated annealing on the same
   weighted tardiness; the idle cell takes its first planned step, or waits for
   it when it is about to become ready and nothing fits in the gap. ATC decides
   one cell at a time and cannot see that a step here starves a cell of another
   kind downstream; the plan can. With large queues the plain index decides (it
   is linear in the queue; a plan would not be).
4. Ties: earlier due date, then submission order, then run id.

Steps of a run whose batch is on hold, steps the cell declined, and steps whose
previous step is not done are never candidates (the caller filters them).
The weighted tardiness the rule aims at is Σ w · max(0, C − d), C the completion.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

K_LOOKAHEAD = 2.0
# Above this many ready steps the plain index decides: a plan's cost grows with the
# queue, the index's choice stays linear.
PLAN_MAX_READY = 40


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
    """The best candidate by the rule (the first of `rank`), in one pass."""
    if not cands:
        return None
    pb = mean_work(cands) if p_bar is None else p_bar
    scale = 1.0 / (k * max(pb, 1e-9))
    exp = math.exp
    best = cands[0]
    best_prio = best.manual_priority
    best_idx = atc_index(best, now, pb, k)
    for c in cands:
        if c.manual_priority < best_prio:
            continue
        slack = c.due_s - now - c.remaining_s
        idx = (c.weight / max(c.work_s, 1e-9)) * (exp(-slack * scale) if slack > 0 else 1.0)
        if (
            c.manual_priority > best_prio
            or idx > best_idx
            or (
                idx == best_idx
                and (c.due_s, c.order, c.run_id) < (best.due_s, best.order, best.run_id)
            )
        ):
            best, best_prio, best_idx = c, c.manual_priority, idx
    return best


def rank(cands: Sequence[Candidate], now: float, k: float = K_LOOKAHEAD) -> list[Candidate]:
    """Every candidate in the rule's order (the queue snapshot the board shows)."""
    pb = mean_work(cands)
    return sorted(cands, key=lambda c: sort_key(c, now, pb, k))


# -- a static shop, for planning and simulation ------------------------------------


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
