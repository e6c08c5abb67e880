"""A run through three simulated cells, end to end over a real Mosquitto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cellctl.domain.run_spec import parse_run
from tests.bus.conftest import Factory
from tests.waiting import wait_until


def _run(run_id: str, routing: str, quantity: int = 5, **kw) -> dict:
    due = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    return {"id": run_id, "sku": "MUG", "quantity": quantity, "unit_margin": 4.0, "due": due,
            "routing": routing, "cycle_s": 0.02, **kw}  # fmt: skip


async def test_three_steps_through_three_cells(factory: Factory) -> None:
    store = factory.scheduler_store()
    store.add_run(parse_run(_run("R1", "cut>print>qa", quantity=6)))
    sched = await factory.scheduler(store)
    cut = await factory.cell("cut-01", "cut", cycle_s=0.01)
    prn = await factory.cell("print-01", "print", cycle_s=0.01, scrap_every=3)
    qa = await factory.cell("qa-01", "qa", cycle_s=0.01)

    await wait_until(lambda: store.run("R1")["status"] == "done", 20, "run R1 done")
    steps = store.run("R1")["steps"]
    assert [s["status"] for s in steps] == ["done", "done", "done"]
    assert [list(s["by_cell"]) for s in steps] == [["cut-01"], ["print-01"], ["qa-01"]]
    # Units are conserved (issue 16): print gets the 6 cut made, scraps every third (2)
    # and passes 4 good on; QA gets those 4.
    assert [s["good"] for s in steps] == [6, 4, 4]
    assert [s["scrap"] for s in steps] == [0, 2, 0]
    assert store.conservation_violations() == []
    for c in (cut, prn, qa):
        await wait_until(lambda c=c: c.link.backlog == 0, 10, "outbox drained")
        assert store.totals_by_cell()[c.cell] == c.totals()
    assert sched.dropped == 0
