"""The dispatch rule: which ready step an idle cell gets next.

The rule, in order of precedence:

1. Manual priority (set by a supervisor): higher first, always. The rollout
   below only ever compares steps of the highest manual priority waiting.
2. Apparent Tardiness Cost with remaining work (ATC, Vepsalainen & Morton),
   highest index first:

       I = (w / p) · exp(−max(0, d − t − R) / (k · p̄))

   w: margin at stake (unit margin × quantity × SLA weight: 1, 1.5, 2.5);
   p: the work of this step; R: the work of this step and every later step of
   the run; d: the due date; t: now; p̄: the mean work of the steps waiting for
   this kind of cell; k: look-ahead (2.0). A run whose slack d − t − R is gone
   competes on w/p alone (weighted shortest processing time); a run with
   slack is discounted exponentially in its slack.
3. While the queue is small (at most ROLLOUT_MAX_READY ready steps, e.g. a
   shift's worth on a small site), a rollout refines step 2: each of the
   ROLLOUT_WIDTH best steps by the index is tried in a simulation of the whole
   open shop (every cell, its kind, its step in progress, every later step of
   every open run), finished by the plain index with k = 1, 2 and 4, and the
   step whose best finish has the least weighted tardiness wins. ATC decides
   one cell at a time and cannot see that a step here starves a cell of
   another kind downstream; the simulation can, and it costs a few
   milliseconds per decision on a small queue. With large queues the plain
   index decides (it is linear in the queue; a rollout would not be).
4. Ties: earlier due date, then submission order, then run id (the rollout
   keeps the index's order among equal costs).

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
# Look-aheads the rollout finishes a trial schedule with; the cheapest counts.
ROLLOUT_TAILS = (1.0, 2.0, 4.0)
# How many of the index's best steps the rollout tries. On bench.dispatch's
# instances 5 gave ≈1.18× CP-SAT, 8 ≈1.19× and 20 ≈1.15×, but on held-out seeds
# 8 and 20 were alike (≈1.33×, seed 1001) and 20 costs 2.5× as much (≈100 ms a
# decision at 40 ready steps here).
ROLLOUT_WIDTH = 8
# Above this many ready steps the plain index decides: a rollout simulates the
# whole open shop once per tried step and tail, so its cost grows with the queue.
ROLLOUT_MAX_READY = 40


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


class _Sim:
    """Non-delay list scheduling state: copyable, so a decision can be tried out."""

    def __init__(self, jobs: Sequence[Job], cells: dict[str, str], now: float, k: float) -> None:
        self.jobs = {j.id: j for j in jobs}
        self.order = {j.id: i for i, j in enumerate(jobs)}
        self.remaining = {
            j.id: [sum(w for _, w in j.steps[i:]) for i in range(len(j.steps))] for j in jobs
        }
        self.cells = cells
        self.k = k
        self.t = now
        self.next_step = {j.id: 0 for j in jobs}
        self.ready_at = {j.id: now for j in jobs}
        self.free_at = {c: now for c in cells}
        self.events = [now]
        self.to_visit: list[str] = []
        self.schedule: list[Scheduled] = []
        self.completion: dict[str, float] = {}

    def copy(self) -> _Sim:
        other = object.__new__(_Sim)
        other.__dict__.update(self.__dict__)
        for name in ("next_step", "ready_at", "free_at", "completion"):
            setattr(other, name, dict(getattr(self, name)))
        other.events = list(self.events)
        other.to_visit = list(self.to_visit)
        other.schedule = list(self.schedule)
        return other

    def candidates(self, cell: str) -> list[Candidate]:
        kind = self.cells[cell]
        out = []
        for jid, i in self.next_step.items():
            job = self.jobs[jid]
            if i < len(job.steps) and job.steps[i][0] == kind and self.ready_at[jid] <= self.t:
                out.append(
                    Candidate(jid, i, kind, job.weight, job.steps[i][1], self.remaining[jid][i],
                              job.due_s, job.manual_priority, self.order[jid])
                )  # fmt: skip
        return out

    def start(self, cell: str, c: Candidate) -> None:
        end = self.t + c.work_s
        self.schedule.append(Scheduled(c.run_id, c.step, cell, self.t, end))
        self.free_at[cell] = end
        self.next_step[c.run_id] += 1
        self.ready_at[c.run_id] = end
        if self.next_step[c.run_id] == len(self.jobs[c.run_id].steps):
            self.completion[c.run_id] = end
        heapq.heappush(self.events, end)

    def cost(self) -> float:
        return weighted_tardiness(self.jobs.values(), self.completion)

    def run(self, rollout: int = 0) -> None:
        while len(self.completion) < len(self.jobs):
            if not self.to_visit:
                if not self.events:
                    raise ValueError("some steps need a cell kind no cell has")
                self.t = heapq.heappop(self.events)
                while self.events and self.events[0] <= self.t:
                    heapq.heappop(self.events)
                self.to_visit = sorted(c for c in self.cells if self.free_at[c] <= self.t)
                continue
            cell = self.to_visit.pop(0)
            cands = self.candidates(cell)
            if not cands:
                continue
            if rollout > 1 and len(cands) > 1 and self.ready_count() <= ROLLOUT_MAX_READY:
                best = self._rollout(cell, cands, rollout)
            else:
                best = choose(cands, self.t, self.k)
            self.start(cell, best)

    def ready_count(self) -> int:
        """Ready steps of every kind: what the service compares with ROLLOUT_MAX_READY."""
        t = self.t
        return sum(
            1
            for jid, i in self.next_step.items()
            if i < len(self.jobs[jid].steps) and self.ready_at[jid] <= t
        )

    def _rollout(self, cell: str, cands: list[Candidate], width: int) -> Candidate:
        # Only the top manual priority competes: a simulation must never let a cheaper
        # schedule overrule the supervisor.
        top = max(c.manual_priority for c in cands)
        cands = [c for c in cands if c.manual_priority == top]
        best, best_cost = None, math.inf
        for c in rank(cands, self.t, self.k)[:width]:
            cost = math.inf
            for k in ROLLOUT_TAILS:
                trial = self.copy()
                trial.k = k
                trial.start(cell, c)
                trial.run()
                cost = min(cost, trial.cost())
            if cost < best_cost - 1e-9:
                best, best_cost = c, cost
        assert best is not None
        return best


def simulate(
    jobs: Sequence[Job],
    cells: dict[str, str],
    *,
    now: float = 0.0,
    k: float = K_LOOKAHEAD,
    rollout: int = ROLLOUT_WIDTH,
) -> tuple[list[Scheduled], dict[str, float]]:
    """Non-delay list scheduling with the rule, as the scheduler runs it online.

    `cells` maps cell id to kind. Whenever a cell is idle it takes the best ready
    step of its kind; returns the schedule and each job's completion time. By
    default this is the whole rule (the service's default): while at most
    ROLLOUT_MAX_READY steps are ready, each decision tries the index's `rollout`
    best candidates, finishes the schedule with the plain index after each, and
    keeps the cheapest (a pilot or rollout method). `rollout` = 0: the plain index.
    """
    sim = _Sim(jobs, cells, now, k)
    sim.run(rollout)
    return sim.schedule, sim.completion


def choose_by_rollout(
    cell: str,
    allowed: Sequence[Candidate],
    jobs: Sequence[Job],
    cells: dict[str, str],
    now: float,
    *,
    busy: dict[str, tuple[str, float]] | None = None,
    width: int = ROLLOUT_WIDTH,
    k: float = K_LOOKAHEAD,
) -> Candidate | None:
    """The rule with a rollout, for a live shop: try the rule's `width` best allowed
    candidates for `cell`, finish the whole schedule with the plain rule after each,
    keep the one with the least weighted tardiness.

    `jobs` hold each open run's remaining steps (a step in progress first);
    `busy` maps a busy cell to (job id, expected end of its step in progress).
    `allowed` are the candidates the cell may take (holds and declines removed).
    """
    if len(allowed) <= 1:
        return choose(allowed, now, k)
    # A run that still needs a kind of cell nobody has (not yet online, or all down)
    # cannot be simulated to its end; it weighs the same whatever this cell takes.
    kinds = set(cells.values())
    jobs = [j for j in jobs if all(kind in kinds for kind, _ in j.steps)]
    if not {c.run_id for c in allowed} <= {j.id for j in jobs}:
        return choose(allowed, now, k)  # a candidate itself cannot be simulated
    sim = _Sim(jobs, cells, now, k)
    for busy_cell, (jid, ends) in (busy or {}).items():
        if jid not in sim.jobs or busy_cell not in sim.free_at:
            continue
        sim.next_step[jid] = 1
        sim.ready_at[jid] = ends
        sim.free_at[busy_cell] = ends
        if len(sim.jobs[jid].steps) == 1:
            sim.completion[jid] = ends
        heapq.heappush(sim.events, ends)
    by_run = {c.run_id: c for c in allowed}
    sim_cands = [c for c in sim.candidates(cell) if c.run_id in by_run]
    if not sim_cands:
        return choose(allowed, now, k)
    picked = sim._rollout(cell, sim_cands, width)
    return by_run[picked.run_id]
