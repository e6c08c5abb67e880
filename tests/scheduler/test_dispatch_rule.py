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
