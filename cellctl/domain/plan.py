"""A plan for a small queue: the whole shop's sequence, improved by simulated annealing.

The ATC index decides for one idle cell at a time. It cannot see that the step it
picks starves a cell of another kind downstream, nor that a heavy run about to
finish its cut is worth keeping the print cell free for. While the queue is small
(dispatch.PLAN_MAX_READY ready steps), the scheduler therefore plans every open
run's remaining steps on every online cell, and dispatches by the plan:

- A plan is a sequence of run ids in which each run appears once per step still to
  start; its k-th appearance is its k-th such step, so every ordering is a valid
  plan. Decoding it (semi-active): in sequence order, each step starts when both
  the run's previous step ends and the first cell of its kind is free. Its cost is
  the rule's objective, the margin-weighted tardiness Σ w·max(0, C − d).
- A fresh plan (at start, or when much of the shop is new) runs two searches and
  keeps the better: simulated annealing over moves of single steps (one moved
  elsewhere in the sequence, or two swapped) from the ATC index's own schedule;
  and an iterated greedy over run orders (Ruiz & Stützle: take a few runs out,
  put each back where it costs least), its best order then annealed step by step.
  Every later decision continues the last plan: the steps started since leave
  it, runs added since go in where they cost least, and a short, cool annealing
  refines it. Budgets count decodings, not seconds, so the same shop gets the
  same plan on a busy machine; a bigger shop gets fewer, so a decision takes
  about as long (bench.dispatch: plan_fresh_ms, plan_continued_ms).
- The idle cell takes the planned step that starts first on it. When that step is
  not ready yet (its run is still on another cell) the plan wants the cell to wait;
  it does, unless a ready step fits in the gap without delaying the planned one,
  and it is woken at the planned start if nothing else happens before.
- Manual priority still comes first: the plan only chooses among the ready steps
  of the highest manual priority, and never waits for a step of lower priority.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cellctl.domain.dispatch import Candidate, Job, choose
from cellctl.domain.simulation import index_sequence

# Decodings (≈ 8 µs each for 20 runs × 4 cells here) for a fresh plan: annealing
# from the index's schedule; the iterated greedy over run orders; annealing its
# result. A plan continued from the last one gets PLAN_EVALS_WARM. With 20,000 for
# the greedy, one held-out instance (bench.dispatch --seed 1001, the 9th) came out
# at 1.07× or 1.47× CP-SAT depending on the random moves; with 40,000, at 1.07×
# for each of 6 seeds of the planner.
PLAN_EVALS = 30_000
PLAN_GREEDY_EVALS = 40_000
PLAN_POLISH_EVALS = 10_000
PLAN_EVALS_WARM = 3_000
# Annealing temperature, as a fraction of the starting cost: from T0 down to T1;
# a plan continued (or polished) starts cooler, it only refines.
T0_FRACTION = 0.02
T0_WARM_FRACTION = 0.005
T1_FRACTION = 0.0005
# The iterated greedy takes out IG_DESTRUCT runs at a time and accepts a worse
# order with the probability of a temperature of IG_TEMPERATURE × the cost.
IG_DESTRUCT = 4
IG_TEMPERATURE = 0.01
# The shop size (steps still to start) the budgets above are set for: bench.dispatch's
# 20 runs × 4 cells. A shop of another size gets proportionally fewer decodings.
REFERENCE_STEPS = 60
# When more than this share of the open runs is new since the last plan, plan afresh
# rather than fit the new runs into the last plan.
NEW_RUNS_FOR_A_FRESH_PLAN = 0.25
# The longest a decision may plan in the service, in seconds: on a quiet machine the
# budgets end a fresh plan in about half that (bench.dispatch: plan_fresh_ms).
SERVICE_MAX_S = 1.0


@dataclass(frozen=True, slots=True)
class Advice:
    """What the plan says an idle cell should do now."""

    take: Candidate | None
    # When the cell should wait (take is None while steps are ready): the run it is
    # kept free for, and that step's planned start, to look again then at the latest.
    waits_for: str | None = None
    wake_at: float | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    run_id: str
    cell: str
    start: float
    end: float


class _Model:
    """A shop compiled to lists of numbers, for fast decoding."""

    # Whether the decision's time is up (see Planner's max_s); checked now and then.
    out_of_time: Callable[[], bool] = staticmethod(lambda: False)

    def __init__(
        self,
        jobs: Sequence[Job],
        cells: dict[str, str],
        now: float,
        busy: dict[str, tuple[str, float]],
        first_cell: str | None,
    ) -> None:
        kinds = sorted(set(cells.values()))
        kind_index = {k: i for i, k in enumerate(kinds)}
        ends_at = {jid: ends for cell, (jid, ends) in busy.items() if cell in cells}
        self.ids: list[str] = []
        self.steps: list[list[tuple[int, float]]] = []
        self.weight: list[float] = []
        self.due: list[float] = []
        self.ready: list[float] = []
        self.count: list[int] = []
        for job in jobs:
            steps = list(job.steps)
            ready = now
            if job.id in ends_at:
                ready = max(now, ends_at[job.id])
                steps = steps[1:]
            self.ids.append(job.id)
            self.steps.append([(kind_index[k], w) for k, w in steps])
            self.weight.append(job.weight)
            self.due.append(job.due_s)
            self.ready.append(ready)
            self.count.append(len(steps))
        # Each kind's cells, the asking cell first so that it wins a tie for a step.
        order = sorted(cells, key=lambda c: (c != first_cell, c))
        self.cells: list[list[str]] = [[c for c in order if cells[c] == k] for k in kinds]
        self.free: list[list[float]] = [
            [max(now, busy[c][1]) if c in busy else now for c in group] for group in self.cells
        ]
        self.base = sum(
            w * max(0.0, r - d)
            for w, r, d, n in zip(self.weight, self.ready, self.due, self.count, strict=True)
            if n == 0
        )

    def cost(self, seq: Sequence[int]) -> float:
        steps, ready = self.steps, list(self.ready)
        nxt = [0] * len(steps)
        free = [list(f) for f in self.free]
        for j in seq:
            i = nxt[j]
            nxt[j] = i + 1
            k, p = steps[j][i]
            fk = free[k]
            if len(fk) == 1:
                f = fk[0]
                e = (ready[j] if ready[j] > f else f) + p
                fk[0] = e
            else:
                m = min(range(len(fk)), key=fk.__getitem__)
                f = fk[m]
                e = (ready[j] if ready[j] > f else f) + p
                fk[m] = e
            ready[j] = e
        total = 0.0
        for j, n in enumerate(self.count):
            if n:
                late = ready[j] - self.due[j]
                if late > 0:
                    total += self.weight[j] * late
        return total + self.base

    def slots(self, seq: Sequence[int]) -> list[Slot]:
        ready = list(self.ready)
        nxt = [0] * len(self.steps)
        free = [list(f) for f in self.free]
        out = []
        for j in seq:
            i = nxt[j]
            nxt[j] = i + 1
            k, p = self.steps[j][i]
            m = min(range(len(free[k])), key=free[k].__getitem__)
            start = max(ready[j], free[k][m])
            free[k][m] = ready[j] = start + p
            out.append(Slot(self.ids[j], self.cells[k][m], start, start + p))
        return out


def _anneal(
    model: _Model, seq: list[int], evals: int, t0: float, rng: random.Random
) -> tuple[list[int], float]:
    cur, cur_cost = list(seq), model.cost(seq)
    best, best_cost = list(cur), cur_cost
    n = len(cur)
    if n < 2 or best_cost <= model.base:
        return best, best_cost
    temp0 = max(cur_cost - model.base, 1e-9) * t0
    cool = (T1_FRACTION / t0) ** (1.0 / max(evals, 1)) if t0 > T1_FRACTION else 1.0
    temp = temp0
    for i in range(evals):
        if not i & 255 and model.out_of_time():
            break
        temp *= cool
        a, b = rng.randrange(n), rng.randrange(n)
        if cur[a] == cur[b]:
            continue
        cand = list(cur)
        if rng.random() < 0.5:
            cand.insert(b, cand.pop(a))
        else:
            cand[a], cand[b] = cand[b], cand[a]
        cost = model.cost(cand)
        if cost <= cur_cost or rng.random() < math.exp((cur_cost - cost) / temp):
            cur, cur_cost = cand, cost
            if cost < best_cost:
                best, best_cost = list(cand), cost
                if best_cost <= model.base:
                    break
    return best, best_cost


class _Budget:
    def __init__(self, model: _Model, evals: int) -> None:
        self.model = model
        self.left = evals

    def cost(self, order: list[int]) -> float:
        """The cost of a run order: each run's steps one after another (like a flow line)."""
        self.left -= 1
        if not self.left & 63 and self.model.out_of_time():
            self.left = 0
        count = self.model.count
        return self.model.cost([j for j in order for _ in range(count[j])])


def _best_insertion(budget: _Budget, order: list[int], j: int) -> tuple[list[int], float]:
    best, best_cost = order, math.inf
    for pos in range(len(order) + 1):
        cand = order[:pos] + [j] + order[pos:]
        cost = budget.cost(cand)
        if cost < best_cost:
            best, best_cost = cand, cost
    return best, best_cost


def _insertion_descent(
    budget: _Budget, order: list[int], cost: float, rng: random.Random
) -> tuple[list[int], float]:
    improved = True
    while improved and budget.left > 0:
        improved = False
        for j in rng.sample(order, len(order)):
            cand, cand_cost = _best_insertion(budget, [x for x in order if x != j], j)
            if cand_cost < cost - 1e-9:
                order, cost, improved = cand, cand_cost, True
            if budget.left <= 0:
                break
    return order, cost


def _iterated_greedy(
    model: _Model, order: list[int], evals: int, rng: random.Random
) -> tuple[list[int], float]:
    """Iterated greedy over run orders (Ruiz & Stützle): take a few runs out, put each
    back where it costs least, descend by moving single runs; accept a worse order
    now and then. Strong on flow lines, where every run visits the kinds in one order."""
    budget = _Budget(model, evals)
    if len(order) < 2:
        return order, budget.cost(order)
    cur, cur_cost = _insertion_descent(budget, order, budget.cost(order), rng)
    best, best_cost = cur, cur_cost
    temp = max(cur_cost - model.base, 1e-9) * IG_TEMPERATURE
    while budget.left > 0 and best_cost > model.base:
        out = rng.sample(cur, min(IG_DESTRUCT, len(cur) - 1))
        cand = [x for x in cur if x not in out]
        cost = math.inf
        for j in out:
            cand, cost = _best_insertion(budget, cand, j)
        cand, cost = _insertion_descent(budget, cand, cost, rng)
        if cost < cur_cost or rng.random() < math.exp((cur_cost - cost) / temp):
            cur, cur_cost = cand, cost
            if cost < best_cost:
                best, best_cost = cand, cost
    return best, best_cost


class Planner:
    """Keeps the last plan, so that each decision continues the search."""

    def __init__(
        self,
        *,
        evals: int = PLAN_EVALS,
        greedy_evals: int = PLAN_GREEDY_EVALS,
        polish_evals: int = PLAN_POLISH_EVALS,
        warm_evals: int = PLAN_EVALS_WARM,
        seed: int = 0,
        max_s: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`max_s` with `clock` (e.g. time.monotonic) bounds a decision's time on an
        overloaded machine, at the cost of a plan that depends on the machine's load;
        without them the budgets alone decide, and the same shop gets the same plan."""
        self.max_s = max_s
        self.clock = clock
        self.evals = evals
        self.greedy_evals = greedy_evals
        self.polish_evals = polish_evals
        self.warm_evals = warm_evals
        self.seed = seed
        self._last: list[str] = []
        self.last_cost = math.inf
        self.decodings = 0
        self.fresh_plans = 0

    def planned_order(self) -> dict[str, int]:
        """Each run of the last plan and the position of its next step in the plan."""
        order: dict[str, int] = {}
        for n, jid in enumerate(self._last):
            order.setdefault(jid, n)
        return order

    def plan(
        self,
        jobs: Sequence[Job],
        cells: dict[str, str],
        now: float,
        *,
        busy: dict[str, tuple[str, float]] | None = None,
        first_cell: str | None = None,
    ) -> list[Slot]:
        """The planned slot of every step still to start, in sequence order.

        `jobs` hold each open run's remaining steps, a step in progress first;
        `busy` maps a busy cell to (its run, the expected end of that step);
        `first_cell` wins a tie between cells of one kind (the cell asking).
        """
        busy = busy or {}
        model = _Model(jobs, cells, now, busy, first_cell)
        if self.max_s is not None and self.clock is not None:
            clock, deadline = self.clock, self.clock() + self.max_s
            model.out_of_time = lambda: clock() > deadline
        index = {jid: j for j, jid in enumerate(model.ids)}
        rng = random.Random(self.seed)
        best_seq = self._continue(model, index)
        continued = best_seq is not None
        if best_seq is None:  # a fresh plan starts from the index's own schedule
            best_seq = self._complete(index_sequence(jobs, cells, now, busy), model, index)
        # Budgets are set for a shop of REFERENCE_STEPS steps. A bigger one gets fewer
        # decodings (each costs more), so that a decision takes about as long. A fresh
        # plan of a smaller one needs less search and gets fewer too (it comes often
        # on a small site: each run added is a large share of it); a continued plan
        # keeps its budget, which costs little there.
        steps = max(1, len(best_seq))
        big = min(1.0, REFERENCE_STEPS / steps)
        if continued:
            evals = max(1, int(self.warm_evals * big))
            seq, cost = _anneal(model, best_seq, evals, T0_WARM_FRACTION, rng)
            self.decodings += evals
        else:
            seq, cost = self._fresh(model, best_seq, rng, min(big, steps / REFERENCE_STEPS))
            self.fresh_plans += 1
        self._last = [model.ids[j] for j in seq]
        self.last_cost = cost
        return model.slots(seq)

    def _fresh(
        self, model: _Model, start: list[int], rng: random.Random, scale: float
    ) -> tuple[list[int], float]:
        """Two searches, the better kept: annealing single steps from `start`; and an
        iterated greedy over run orders, its result then annealed step by step (a run
        order alone cannot let a run overtake another between two kinds)."""
        evals, greedy, polish = (
            max(1, int(n * scale)) for n in (self.evals, self.greedy_evals, self.polish_evals)
        )
        seq, cost = _anneal(model, start, evals, T0_FRACTION, rng)
        order = list(dict.fromkeys(start))
        order, _ = _iterated_greedy(model, order, greedy, rng)
        flat = [j for j in order for _ in range(model.count[j])]
        flat, flat_cost = _anneal(model, flat, polish, T0_WARM_FRACTION, rng)
        self.decodings += evals + greedy + polish
        return (flat, flat_cost) if flat_cost < cost else (seq, cost)

    def _continue(self, model: _Model, index: dict[str, int]) -> list[int] | None:
        """The last plan without the steps started since, and with each run added since
        put in where it costs least (its steps one after another); None for a fresh plan."""
        if not self._last:
            return None
        have: dict[str, int] = {}
        for jid in self._last:
            have[jid] = have.get(jid, 0) + 1
        new = [jid for jid, j in index.items() if have.get(jid, 0) < model.count[j]]
        if len(new) > len(index) * NEW_RUNS_FOR_A_FRESH_PLAN:
            return None  # a different shop: plan it afresh
        skip = {jid: have.get(jid, 0) - model.count[j] for jid, j in index.items()}
        out = []
        for jid in self._last:
            if jid not in index or jid in new:
                continue
            if skip[jid] > 0:
                skip[jid] -= 1
                continue
            out.append(index[jid])
        for jid in new:
            block = [index[jid]] * model.count[index[jid]]
            options = [out[:pos] + block + out[pos:] for pos in range(len(out) + 1)]
            self.decodings += len(options)
            out = min(options, key=model.cost)
        return out

    @staticmethod
    def _complete(seq: Sequence[str], model: _Model, index: dict[str, int]) -> list[int]:
        """A run-id sequence made to fit the shop: unknown runs dropped, each run's
        count trimmed from the front, missing steps appended in run order."""
        left = {jid: model.count[j] for jid, j in index.items()}
        have: dict[str, int] = {}
        for jid in seq:
            have[jid] = have.get(jid, 0) + 1
        skip = {jid: max(0, have.get(jid, 0) - n) for jid, n in left.items()}
        out = []
        for jid in seq:
            if jid not in index:
                continue
            if skip[jid] > 0:
                skip[jid] -= 1
                continue
            out.append(index[jid])
            left[jid] -= 1
        for jid, n in left.items():
            out.extend([index[jid]] * n)
        return out

    def advise(
        self,
        cell: str,
        allowed: Sequence[Candidate],
        jobs: Sequence[Job],
        cells: dict[str, str],
        now: float,
        *,
        busy: dict[str, tuple[str, float]] | None = None,
    ) -> Advice:
        """What `cell` should do now, by the plan. `allowed` are the ready steps it may
        take (holds and its declines removed): the advice is one of them, or to wait."""
        if not allowed:
            return Advice(None)
        # A run needing a kind of cell nobody has (not yet online, or all down) cannot
        # be planned to its end; it weighs the same whatever this cell takes.
        kinds = set(cells.values())
        jobs = [j for j in jobs if all(kind in kinds for kind, _ in j.steps)]
        if not {c.run_id for c in allowed} <= {j.id for j in jobs}:
            return Advice(choose(allowed, now))
        busy = {c: b for c, b in (busy or {}).items() if c in cells}
        top = max(c.manual_priority for c in allowed)
        allowed = [c for c in allowed if c.manual_priority == top]
        by_run = {c.run_id: c for c in allowed}
        priority = {j.id: j.manual_priority for j in jobs}
        slots = self.plan(jobs, cells, now, busy=busy, first_cell=cell)
        mine = [s for s in slots if s.cell == cell]
        # Ready steps in the plan's order for this cell's kind (another cell of the
        # kind may hold some in the plan; an idle cell taking one now is no worse).
        kind = cells[cell]
        order: dict[str, int] = {}
        for n, s in enumerate(slots):
            if cells[s.cell] == kind:
                order.setdefault(s.run_id, n)
        ranked = sorted(allowed, key=lambda c: (order.get(c.run_id, math.inf), c.order))
        if not mine:
            return Advice(ranked[0])
        first = mine[0]
        if first.run_id in by_run:
            return Advice(by_run[first.run_id])
        if first.start <= now or priority.get(first.run_id, 0) < top:
            return Advice(ranked[0])  # it is not coming (held, declined) or outranked
        gap = first.start - now
        for c in ranked:
            if c.work_s <= gap:
                return Advice(c)
        return Advice(None, waits_for=first.run_id, wake_at=first.start)
