"""The dispatch rule played out on a static shop, as the scheduler runs it online.

Tests and bench.dispatch use it to measure the rule's schedule; the planner
(plan.py) starts its search from the plain index's schedule.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Protocol

from cellctl.domain.dispatch import (
    K_LOOKAHEAD,
    PLAN_MAX_READY,
    Candidate,
    Job,
    Scheduled,
    choose,
)


class AdviceLike(Protocol):
    take: Candidate | None


class Advisor(Protocol):
    """What decides for an idle cell on a small queue (plan.Planner)."""

    def advise(
        self,
        cell: str,
        allowed: Sequence[Candidate],
        jobs: Sequence[Job],
        cells: dict[str, str],
        now: float,
        *,
        busy: dict[str, tuple[str, float]] | None = None,
    ) -> AdviceLike: ...


class _Sim:
    """Event-driven list scheduling: whenever a cell is idle it asks the rule."""

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
        self.on_cell: dict[str, tuple[str, float]] = {}
        self.events = [now]
        self.schedule: list[Scheduled] = []
        self.completion: dict[str, float] = {}

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
        self.on_cell[cell] = (c.run_id, end)
        self.next_step[c.run_id] += 1
        self.ready_at[c.run_id] = end
        if self.next_step[c.run_id] == len(self.jobs[c.run_id].steps):
            self.completion[c.run_id] = end
        heapq.heappush(self.events, end)

    def ready_count(self) -> int:
        """Ready steps of every kind: what the service compares with PLAN_MAX_READY."""
        t = self.t
        return sum(
            1
            for jid, i in self.next_step.items()
            if i < len(self.jobs[jid].steps) and self.ready_at[jid] <= t
        )

    def shop(self) -> tuple[list[Job], dict[str, tuple[str, float]]]:
        """Open jobs (a step in progress first) and busy cells, as the store gives them."""
        busy = {c: (jid, end) for c, (jid, end) in self.on_cell.items() if end > self.t}
        running = {jid for jid, _ in busy.values()}
        jobs = []
        for jid, i in self.next_step.items():
            job = self.jobs[jid]
            if jid in self.completion and jid not in running:
                continue
            first = i - 1 if jid in running else i
            steps = list(job.steps[first:])
            if jid in running:
                steps[0] = (steps[0][0], self.ready_at[jid] - self.t)
            jobs.append(Job(jid, tuple(steps), job.weight, job.due_s, job.manual_priority))
        return jobs, busy

    def run(self, advisor: Advisor | None = None) -> None:
        while len(self.completion) < len(self.jobs):
            if not self.events:
                raise ValueError("some steps need a cell kind no cell has")
            self.t = heapq.heappop(self.events)
            while self.events and self.events[0] <= self.t:
                heapq.heappop(self.events)
            for cell in sorted(c for c in self.cells if self.free_at[c] <= self.t):
                cands = self.candidates(cell)
                if not cands:
                    continue
                if advisor is not None and self.ready_count() <= PLAN_MAX_READY:
                    jobs, busy = self.shop()
                    advice = advisor.advise(cell, cands, jobs, self.cells, self.t, busy=busy)
                    take = advice.take
                    if take is None:
                        continue  # the planned step's previous step ends: an event
                    best = take
                else:
                    chosen = choose(cands, self.t, self.k)
                    if chosen is None:
                        continue  # choose gives None only for no candidates
                    best = chosen
                self.start(cell, best)


def simulate(
    jobs: Sequence[Job],
    cells: dict[str, str],
    *,
    now: float = 0.0,
    k: float = K_LOOKAHEAD,
    advisor: Advisor | None = None,
) -> tuple[list[Scheduled], dict[str, float]]:
    """The rule played out; returns the schedule and each job's completion time.

    `cells` maps cell id to kind. Whenever a cell is idle it takes a ready step:
    the advisor's (the service's default is a plan.Planner) while at most
    PLAN_MAX_READY steps are ready, the ATC index's otherwise or without one.
    """
    sim = _Sim(jobs, cells, now, k)
    sim.run(advisor)
    return sim.schedule, sim.completion


def index_sequence(
    jobs: Sequence[Job], cells: dict[str, str], now: float, busy: dict[str, tuple[str, float]]
) -> list[str]:
    """The run ids in the order the plain index would start their remaining steps."""
    sim = _Sim(jobs, cells, now, K_LOOKAHEAD)
    for cell, (jid, ends) in busy.items():
        if jid not in sim.jobs or cell not in sim.free_at:
            continue
        sim.next_step[jid] = 1
        sim.ready_at[jid] = ends
        sim.free_at[cell] = ends
        if len(sim.jobs[jid].steps) == 1:
            sim.completion[jid] = ends
        heapq.heappush(sim.events, ends)
    sim.run()
    return [s.job for s in sim.schedule]
