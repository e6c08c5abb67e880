"""The documented dispatch rule, on its own and as the running scheduler applies it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from cellctl.domain import dispatch
from cellctl.domain.dispatch import Candidate, Job
from cellctl.domain.run_spec import parse_run
from tests.bus.conftest import Factory, wait_until


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
    schedule, completion = dispatch.simulate(jobs, {f"{k}-01": k for k in kinds})
    assert len(completion) == 20
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
    sched = await factory.scheduler(store)
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


def test_rollout_choice_matches_the_rollout_simulation_and_beats_the_plain_rule() -> None:
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
        schedule, completion = dispatch.simulate(jobs, cells, rollout=5)
        first = schedule[0]
        cands = [Candidate(j.id, 0, "cut", j.weight, j.steps[0][1], sum(w for _, w in j.steps),
                           j.due_s, 0, i) for i, j in enumerate(jobs)]  # fmt: skip
        picked = dispatch.choose_by_rollout("cut-01", cands, jobs, cells, 0.0, width=5)
        assert (first.cell, first.job) == ("cut-01", picked.run_id)
        plain = dispatch.weighted_tardiness(jobs, dispatch.simulate(jobs, cells)[1])
        rolled = dispatch.weighted_tardiness(jobs, completion)
        assert rolled <= plain + 1e-9
        better += rolled < plain
    assert better >= 1


async def test_scheduler_with_rollout_runs_a_mixed_queue(factory: Factory) -> None:
    now = datetime.now(UTC)
    store = factory.scheduler_store()
    for i in range(6):
        store.add_run(parse_run({
            "id": f"M{i}", "sku": "BOX", "quantity": 2, "unit_margin": 1 + i,
            "due": (now + timedelta(seconds=5 * i)).isoformat(),
            "routing": "cut>print" if i % 2 else "print>cut", "cycle_s": 0.5,
        }))  # fmt: skip
    sched = await factory.scheduler(store, rollout=5)
    cut = await factory.cell("cut-01", "cut", cycle_s=0.005)
    prn = await factory.cell("print-01", "print", cycle_s=0.005)
    await wait_until(lambda: all(r["status"] == "done" for r in store.runs()), 20, "all done")
    assert len(sched.dispatch_log) == 12
    await wait_until(lambda: cut.link.backlog == 0 and prn.link.backlog == 0, 10, "drained")
    await wait_until(
        lambda: store.totals_by_cell() == {"cut-01": cut.totals(), "print-01": prn.totals()},
        10,
        "totals equal",
    )
