"""The documented dispatch rule, on its own and as the running scheduler applies it."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cellctl.domain import dispatch
from cellctl.domain.dispatch import Candidate, Job
from cellctl.domain.plan import Advice, Planner
from cellctl.domain.run_spec import parse_run
from cellctl.domain.simulation import simulate
from cellctl.store.scheduler_store import SchedulerStore
from tests.bus.conftest import Factory
from tests.waiting import wait_until


def test_manual_priority_beats_atc_and_overdue_weight_beats_slack() -> None:
    now = 1000.0
    late_heavy = Candidate("late", 0, "cut", weight=100, work_s=10, remaining_s=10, due_s=900)
    late_light = Candidate("light", 0, "cut", weight=10, work_s=10, remaining_s=10, due_s=900)
    relaxed = Candidate("relaxed", 0, "cut", weight=100, work_s=10, remaining_s=10, due_s=99999)
    pinned = Candidate("pinned", 0, "cut", 1, 10, 10, 99999, manual_priority=5)
    ranked = dispatch.rank([relaxed, late_light, pinned, late_heavy], now)
    assert [c.run_id for c in ranked] == ["pinned", "late", "light", "relaxed"]
    # More remaining work downstream means less slack: it goes first.
    long_tail = Candidate("tail", 0, "cut", 10, 10, remaining_s=500, due_s=now + 520)
    short_tail = Candidate("short", 0, "cut", 10, 10, remaining_s=10, due_s=now + 520)
    assert dispatch.choose([short_tail, long_tail], now).run_id == "tail"


def test_simulation_respects_routing_and_one_step_per_cell_at_a_time() -> None:
    rng = random.Random(3)
    kinds = ["cut", "print", "finish", "qa"]
    jobs = [
        Job(f"J{i}", tuple((k, rng.uniform(1, 9)) for k in kinds if rng.random() < 0.8) or
            (("cut", 1.0),), rng.uniform(1, 5), rng.uniform(5, 60))
        for i in range(20)
    ]  # fmt: skip
    cells = {f"{k}-01": k for k in kinds}
    for advisor in (None, Planner(evals=2000, greedy_evals=2000, polish_evals=500)):
        _check_schedule(jobs, *simulate(jobs, cells, advisor=advisor))


def _check_schedule(
    jobs: list[Job], schedule: list[dispatch.Scheduled], completion: dict[str, float]
) -> None:
    assert len(completion) == len(jobs)
    assert len(schedule) == sum(len(j.steps) for j in jobs)
    for cell in {s.cell for s in schedule}:
        spans = sorted((s.start, s.end) for s in schedule if s.cell == cell)
        assert all(a[1] <= b[0] + 1e-9 for a, b in zip(spans, spans[1:], strict=False))
    for job in jobs:
        steps = sorted((s for s in schedule if s.job == job.id), key=lambda s: s.step)
        assert all(a.end <= b.start + 1e-9 for a, b in zip(steps, steps[1:], strict=False))


async def test_a_20_run_queue_is_dispatched_in_the_rules_order(factory: Factory) -> None:
    rng = random.Random(20)
    now = datetime.now(UTC)
    store = factory.scheduler_store()
    specs = []
    for i in range(20):
        spec = parse_run(
            {
                "id": f"Q{i:02}",
                "sku": "PLATE",
                "quantity": rng.randint(1, 3),
                "unit_margin": rng.choice([0.5, 2.0, 8.0]),
                "due": (now + timedelta(seconds=rng.uniform(-30, 60))).isoformat(),
                "routing": "cut",
                "sla": rng.choice(["standard", "express", "critical"]),
                "manual_priority": 3 if i in (7, 15) else 0,
                "cycle_s": rng.uniform(0.5, 4.0),
            }
        )
        store.add_run(spec)
        specs.append(spec)
    # plan=False: the ATC index alone, so each choice can be checked with choose().
    sched = await factory.scheduler(store, plan=False)
    await factory.cell("cut-01", "cut", cycle_s=0.002)
    await wait_until(lambda: len(sched.dispatch_log) == 20, 30, "all 20 dispatched")

    left = {s.id: s for s in specs}
    for when, cell, run_id, step in sched.dispatch_log:
        cands = [
            Candidate(s.id, 0, "cut", s.weight, s.step_work_s, s.step_work_s,
                      s.due.timestamp(), s.manual_priority, int(s.id[1:]) + 1)
            for s in left.values()
        ]  # fmt: skip
        assert (cell, step) == ("cut-01", 0)
        assert dispatch.choose(cands, when).run_id == run_id
        del left[run_id]
    order = [r for _, _, r, _ in sched.dispatch_log]
    assert set(order[:2]) == {"Q07", "Q15"}  # the supervisor's priorities first
    by_due = sorted((s for s in specs if s.manual_priority == 0), key=lambda s: s.due)
    assert order[2:] != [s.id for s in by_due]  # the rule is not plain earliest-due-date
    await wait_until(lambda: all(r["status"] == "done" for r in store.runs()), 20, "all done")


# A smaller search than the service's, for speed; bench.dispatch measures the real one.
QUICK = {"evals": 8000, "greedy_evals": 6000, "polish_evals": 2000}


def _cands(jobs: list[Job], kind: str = "cut") -> list[Candidate]:
    return [
        Candidate(j.id, 0, kind, j.weight, j.steps[0][1], sum(w for _, w in j.steps), j.due_s,
                  j.manual_priority, i)
        for i, j in enumerate(jobs)
        if j.steps[0][0] == kind
    ]  # fmt: skip


def test_the_plan_decides_as_simulated_and_beats_the_plain_index() -> None:
    rng = random.Random(11)
    kinds = ["cut", "print", "finish", "qa"]
    cells = {f"{k}-01": k for k in kinds}
    better = 0
    for _ in range(5):
        jobs = [
            Job(f"J{i:02}", tuple((k, float(rng.randint(1, 9))) for k in kinds), rng.uniform(1, 9),
                float(rng.randint(10, 60)))
            for i in range(12)
        ]  # fmt: skip
        schedule, completion = simulate(jobs, cells, advisor=Planner(**QUICK))
        first = next(s for s in schedule if s.cell == "cut-01")
        # The service's call for the first decision gives the simulation's first step.
        advice = Planner(**QUICK).advise("cut-01", _cands(jobs), jobs, cells, 0.0)
        assert advice.take is not None and advice.take.run_id == first.job
        plain = dispatch.weighted_tardiness(jobs, simulate(jobs, cells)[1])
        planned = dispatch.weighted_tardiness(jobs, completion)
        assert planned <= plain + 1e-9
        better += planned < plain
    assert better >= 3


def test_the_plan_keeps_a_cell_free_for_a_heavy_run_about_to_arrive() -> None:
    """The index never leaves a cell idle; a plan does when a run worth more is about to
    be ready, unless a ready step fits in the gap."""
    cells = {"cut-01": "cut", "print-01": "print"}
    heavy = Job("heavy", (("cut", 2.0), ("print", 5.0)), 100.0, 7.0)
    for light_work, waits in ((4.0, True), (2.0, False)):
        light = Job("light", (("print", light_work),), 1.0, 100.0)
        jobs = [heavy, light]
        plain = dispatch.weighted_tardiness(jobs, simulate(jobs, cells)[1])
        schedule, completion = simulate(jobs, cells, advisor=Planner())
        assert dispatch.weighted_tardiness(jobs, completion) == 0.0
        assert (plain > 0.0) == waits  # the index starts the light run and makes heavy late
        # At 0 the heavy run is on the cutter: the print cell may only take the light one.
        advice = Planner().advise("print-01", _cands([light], "print"), [heavy, light], cells,
                                  0.0, busy={"cut-01": ("heavy", 2.0)})  # fmt: skip
        if waits:
            assert advice == Advice(None, waits_for="heavy", wake_at=2.0)
        else:  # the light run fits before the heavy one arrives: no need to idle
            assert advice.take is not None and advice.take.run_id == "light"
        prints = [s.job for s in schedule if s.cell == "print-01"]
        assert prints == (["heavy", "light"] if waits else ["light", "heavy"])


def _shop(seed: int, n: int) -> tuple[list[Job], dict[str, str]]:
    rng = random.Random(seed)
    kinds = ["cut", "print", "qa"]
    cells = {"cut-01": "cut", "print-01": "print", "print-02": "print", "qa-01": "qa"}
    jobs = [
        Job(f"J{i:02}", tuple((k, float(rng.randint(1, 9))) for k in kinds if rng.random() < 0.8)
            or (("qa", 3.0),), rng.uniform(1, 9), float(rng.randint(5, 40)))
        for i in range(n)
    ]  # fmt: skip
    return jobs, cells


def _check_slots(
    jobs: list[Job], cells: dict[str, str], busy: dict[str, tuple[str, float]], slots: list
) -> float:
    """Every step still to start has a slot on a cell of its kind, after the run's
    previous step, with no overlap on a cell; returns the slots' weighted tardiness."""
    ends = {jid: end for jid, end in busy.values()}
    assert len(slots) == sum(len(j.steps) for j in jobs) - len(busy)
    done: dict[str, int] = {jid: 1 for jid, _ in busy.values()}
    by_id = {j.id: j for j in jobs}
    for s in slots:
        step = done.get(s.run_id, 0)
        assert cells[s.cell] == by_id[s.run_id].steps[step][0]
        assert s.start >= ends.get(s.run_id, 0.0) - 1e-9
        ends[s.run_id], done[s.run_id] = s.end, step + 1
    for cell in cells:
        spans = sorted([(s.start, s.end) for s in slots if s.cell == cell]
                       + [(0.0, end) for c, (_, end) in busy.items() if c == cell])  # fmt: skip
        assert all(a[1] <= b[0] + 1e-9 for a, b in zip(spans, spans[1:], strict=False))
    return sum(by_id[r].weight * max(0.0, c - by_id[r].due_s) for r, c in ends.items())


def test_a_plan_is_the_same_for_the_same_shop_and_its_cost_is_the_schedules() -> None:
    jobs, cells = _shop(2, 15)
    busy = {"print-02": ("J00", 4.0)}
    one, two = Planner(**QUICK), Planner(**QUICK)
    slots = one.plan(jobs, cells, 0.0, busy=busy)
    assert slots == two.plan(jobs, cells, 0.0, busy=busy)
    assert math.isclose(one.last_cost, _check_slots(jobs, cells, busy, slots))


def test_a_decision_out_of_time_still_gives_a_whole_plan() -> None:
    """On an overloaded machine the service's cap ends the search early: the plan is
    then less searched, never broken."""
    jobs, cells = _shop(6, 15)
    ticks = iter(range(10**6))
    capped = Planner(max_s=0.5, clock=lambda: float(next(ticks)))  # time is up at once
    slots = capped.plan(jobs, cells, 0.0)
    assert math.isclose(capped.last_cost, _check_slots(jobs, cells, {}, slots))
    full = Planner(**QUICK)
    full.plan(jobs, cells, 0.0)
    assert full.last_cost < capped.last_cost  # the cap did cut the search short


def test_a_run_added_is_fitted_into_the_last_plan_and_started_steps_leave_it() -> None:
    jobs, cells = _shop(4, 12)
    planner = Planner(**QUICK)
    first = planner.plan(jobs, cells, 0.0)
    fresh = planner.decodings
    # The first planned step starts; a rush run arrives.
    started = first[0]
    rush = Job("RUSH", (("cut", 2.0), ("qa", 2.0)), 60.0, 6.0)
    left = [Job(j.id, j.steps, j.weight, j.due_s) for j in jobs] + [
        rush
    ]  # the started step stays first in its run, now in progress
    busy = {started.cell: (started.run_id, started.end)}
    slots = planner.plan(left, cells, 0.0, busy=busy)
    # Continued, not planned afresh: one annealing, and RUSH tried at each position.
    assert planner.decodings - fresh <= planner.warm_evals + len(slots) + 1 < fresh
    assert [s.run_id for s in slots].count("RUSH") == 2
    assert started not in slots
    cost = _check_slots(left, cells, busy, slots)
    assert math.isclose(planner.last_cost, cost)


@pytest.mark.parametrize("plan", [True, False])
async def test_the_scheduler_keeps_a_cell_free_for_the_planned_run(
    factory: Factory, plan: bool
) -> None:
    now = datetime.now(UTC)
    store = factory.scheduler_store()
    for run_id, margin, due_s, routing, cycle_s in (
        ("HEAVY", 50.0, 3, "cut>print", 1.0),  # 2 s of cutting planned, then 2 s of print
        ("LIGHT", 0.1, 3600, "print", 4.0),
    ):
        store.add_run(parse_run({
            "id": run_id, "sku": "BOX", "quantity": 2 if run_id == "HEAVY" else 1,
            "unit_margin": margin, "due": (now + timedelta(seconds=due_s)).isoformat(),
            "routing": routing, "cycle_s": cycle_s,
        }))  # fmt: skip
    sched = await factory.scheduler(store, plan=plan)
    await factory.cell("cut-01", "cut", cycle_s=1.0)  # 2 s: the printer comes meanwhile
    await wait_until(lambda: len(sched.dispatch_log) == 1, 10, "HEAVY on the cutter")
    # The print cell comes while HEAVY is being cut; only LIGHT is ready for it.
    await factory.cell("print-01", "print", cycle_s=0.005)
    await wait_until(lambda: all(r["status"] == "done" for r in store.runs()), 20, "all done")
    prints = [run for _, cell, run, _ in sched.dispatch_log if cell == "print-01"]
    # The plan keeps the printer for HEAVY (LIGHT's 4 s would make it late); the index
    # never leaves a cell idle.
    assert prints == (["HEAVY", "LIGHT"] if plan else ["LIGHT", "HEAVY"])


def test_the_queue_snapshot_shows_the_order_dispatch_follows(tmp_path: Path) -> None:
    from cellctl.scheduler.service import Scheduler

    store = SchedulerStore(tmp_path / "scheduler.db")
    now = datetime.now(UTC)
    rng = random.Random(8)
    for i in range(8):
        due = now + timedelta(seconds=rng.randint(5, 60))
        store.add_run(parse_run({
            "id": f"R{i}", "sku": "BOX", "quantity": rng.randint(1, 4),
            "unit_margin": rng.uniform(1, 9), "due": due.isoformat(),
            "routing": rng.choice(["cut>qa", "cut", "qa"]), "cycle_s": 2.0,
            "manual_priority": 3 if i == 5 else 0,
        }))  # fmt: skip
    sched = Scheduler(store, site="test-site")
    assert sched.planner is not None
    jobs, busy = store.shop(now.timestamp())
    slots = sched.planner.plan(jobs, {"cut-01": "cut", "qa-01": "qa"}, now.timestamp(), busy=busy)
    first_slot = {}
    for n, s in enumerate(slots):
        first_slot.setdefault(s.run_id, n)
    order = [r["run_id"] for r in sched.queue_snapshot()["ready"]]
    assert order[0] == "R5"  # the supervisor's pick, whatever the plan
    assert order[1:] == sorted(order[1:], key=first_slot.__getitem__)
    store.close()


def test_the_documented_order_on_a_20_run_queue() -> None:
    """Every step 10 s of work, so p̄ = 10 and k·p̄ = 20: a slack of 20·ln 2 halves the
    index. Hand-checkable: overdue runs rank by w/p, the others by (w/p)·2^−m."""
    now, half = 1000.0, 20 * math.log(2)

    def run(name: str, w: float, m: int | None, prio: int = 0, order: int = 0) -> Candidate:
        due = now + 30 + (half * m if m is not None else -50)  # m None: overdue
        return Candidate(name, 0, "cut", w, 10, 30, due, prio, order)

    queue = [
        run("P1", 1, 5, prio=2), run("P2", 50, None, prio=1),  # the supervisor's
        run("O1", 80, None), run("O2", 60, None), run("O3", 40, None),  # w/p 8, 6, 4
        run("O4", 20, None), run("O5", 10, None),  # w/p 2, 1
        run("S1", 100, 1),  # 10 / 2 = 5
        run("S2", 100, 2),  # 10 / 4 = 2.5
        run("S3", 100, 3),  # 1.25
        run("S4", 60, 1),  # 3
        run("S5", 12, 0, order=1),  # 1.2, due earlier than S6 (same index)
        run("S6", 24, 1, order=2),  # 1.2
        run("S7", 8, 0),  # 0.8
        run("S8", 32, 3),  # 0.4
        run("S9", 100, 6),  # 0.15625
        run("S10", 5, 0),  # 0.5
        run("S11", 2, 0),  # 0.2
        run("S12", 4, 2),  # 0.1
        run("S13", 1, 0),  # 0.1, due earlier than S12
    ]  # fmt: skip
    assert len(queue) == 20
    expected = ["P1", "P2", "O1", "O2", "S1", "O3", "S4", "S2", "O4", "S3", "S5", "S6",
                "O5", "S7", "S10", "S8", "S11", "S9", "S13", "S12"]  # fmt: skip
    assert [c.run_id for c in dispatch.rank(queue, now)] == expected
    assert dispatch.choose(list(reversed(queue)), now).run_id == "P1"


def test_the_plan_never_overrules_the_manual_priority() -> None:
    cells = {"cut-01": "cut", "qa-01": "qa"}
    # The pinned run has no margin at stake: any schedule would rather skip it.
    jobs = [Job("pinned", (("cut", 9.0),), 0.01, 1000.0, manual_priority=1)] + [
        Job(f"J{i}", (("cut", 2.0), ("qa", 2.0)), 5.0, 4.0) for i in range(5)
    ]
    advice = Planner().advise("cut-01", _cands(jobs), jobs, cells, 0.0)
    assert advice.take is not None and advice.take.run_id == "pinned"
    schedule, _ = simulate(jobs, cells, advisor=Planner())
    assert schedule[0].job == "pinned"
    # Nor does it keep a cell waiting for a run of lower priority than one ready.
    jobs = [Job("pinned", (("qa", 9.0),), 0.01, 1000.0, manual_priority=1),
            Job("heavy", (("cut", 1.0), ("qa", 2.0)), 100.0, 3.0)]  # fmt: skip
    advice = Planner().advise("qa-01", _cands(jobs[:1], "qa"), jobs, cells, 0.0,
                              busy={"cut-01": ("heavy", 1.0)})  # fmt: skip
    assert advice.take is not None and advice.take.run_id == "pinned"


def test_the_default_rule_plans_only_on_a_small_queue() -> None:
    rng = random.Random(5)
    cells = {"cut-01": "cut", "qa-01": "qa"}

    def jobs(n: int) -> list[Job]:
        return [
            Job(f"J{i:02}", (("cut", float(rng.randint(1, 9))), ("qa", float(rng.randint(1, 9)))),
                rng.uniform(1, 9), float(rng.randint(5, 20 * n)))
            for i in range(n)
        ]  # fmt: skip

    small = jobs(12)
    planned = dispatch.weighted_tardiness(small, simulate(small, cells, advisor=Planner())[1])
    plain = dispatch.weighted_tardiness(small, simulate(small, cells)[1])
    assert planned <= plain + 1e-9
    # Above PLAN_MAX_READY ready steps the first decisions are the index's own.
    large = jobs(dispatch.PLAN_MAX_READY + 5)
    first = simulate(large, cells, advisor=Planner())[0][:3]
    assert first == simulate(large, cells)[0][:3]


def test_the_ready_query_reads_again_only_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.db"
    store, other = SchedulerStore(path), SchedulerStore(path)
    now = datetime.now(UTC)
    for i in range(30):
        store.add_run(parse_run({
            "id": f"R{i:02}", "sku": "BOX", "quantity": 1 + i % 3, "unit_margin": 1.0,
            "due": (now + timedelta(hours=i)).isoformat(), "routing": "cut>qa",
            "cycle_s": 2.0, **({"batch": "B1"} if i % 5 == 0 else {}),
        }))  # fmt: skip

    def fresh() -> list[tuple[Candidate, str | None]]:
        return sorted(other._read_ready("").values(), key=lambda cb: cb[0].run_id)

    def cached() -> list[tuple[Candidate, str | None]]:
        return sorted(store.ready(), key=lambda cb: cb[0].run_id)

    assert cached() == fresh() and len(fresh()) == 30
    store.assign("R03", 0, "cut-01", "A1")  # our own writes
    assert cached() == fresh() and len(fresh()) == 29
    store.release_cell("cut-01")
    store.set_priority("R07", 4)
    assert cached() == fresh()
    store.set_hold("B1", True, "QA", "badge")  # a hold changes a whole batch
    assert cached() == fresh() and len(fresh()) == 24
    other.set_priority("R08", 2)  # another connection's commit (the CLI)
    other.add_run(parse_run({"id": "X1", "sku": "BOX", "quantity": 1, "unit_margin": 1.0,
                             "due": now.isoformat(), "routing": "qa", "cycle_s": 1.0}))  # fmt: skip
    assert cached() == fresh() and len(fresh()) == 25
    store.close()
    other.close()


def test_a_plan_with_a_kind_nobody_has_yet_falls_back_instead_of_failing() -> None:
    """At start-up not every cell has said hello: a run needing QA, with no QA cell
    online yet, must not make the scheduler fail (it did, in a loop, in the chaos suite)."""
    cands = [
        Candidate("R1", 0, "cut", 10.0, 60.0, 120.0, 3600.0, order=0),
        Candidate("R2", 0, "cut", 5.0, 30.0, 60.0, 1800.0, order=1),
    ]
    jobs = [
        Job("R1", (("cut", 60.0), ("qa", 60.0)), 10.0, 3600.0),
        Job("R2", (("cut", 30.0), ("print", 30.0)), 5.0, 1800.0),
    ]
    only_cut = {"cut-01": "cut"}
    advice = Planner().advise("cut-01", cands, jobs, only_cut, 0.0)
    assert advice.take == dispatch.choose(cands, 0.0)
    both = {"cut-01": "cut", "print-01": "print", "qa-01": "qa"}
    assert Planner().advise("cut-01", cands, jobs, both, 0.0).take is not None
