"""Conservation at the scheduler (its store, real SQLite): what a re-queued step goes
out with, a step done short stays open unless closed short, a later step's quantity is
what came good from upstream, and an excess it learns of raises an alert."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cellctl.domain.events import Event
from cellctl.domain.run_spec import parse_run
from cellctl.store.scheduler_store import SchedulerStore

_seq = itertools.count(1)


def ev(etype: str, cell: str, operator: str = "OP-ADA", **payload: object) -> Event:
    return Event(etype, cell, payload, operator=operator, seq=next(_seq))


@pytest.fixture
def store(tmp_path: Path):  # noqa: ANN201
    s = SchedulerStore(tmp_path / "scheduler.db", synchronous="NORMAL")
    due = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    s.add_run(
        parse_run({"id": "R-PINS", "sku": "PIN", "quantity": 16, "unit_margin": 3.5,
                   "due": due, "routing": "cut>finish>qa", "cycle_s": 10})
    )  # fmt: skip
    yield s
    s.close()


def _count(store: SchedulerStore, cell: str, step: int, good: int, scrap: int = 0) -> None:
    store.apply_events([ev("units_counted", cell, run_id="R-PINS", step=step, good=good,
                           scrap=scrap)])  # fmt: skip


def _take(store: SchedulerStore, cell: str, step: int) -> dict:
    body = store.assign("R-PINS", step, cell, f"A-{next(_seq)}")
    store.apply_events([ev("assignment_accepted", cell, run_id="R-PINS", step=step,
                           assign_id=body["assign_id"])])  # fmt: skip
    return body


def test_a_requeued_step_goes_out_with_what_is_left(store: SchedulerStore) -> None:
    assert _take(store, "cut-01", 0)["quantity"] == 16
    _count(store, "cut-01", 0, 5, 1)
    store.release_cell("cut-01")  # offline: the step goes back to the queue
    # Given back to the same cell, which counts on from its 5: 16 in all.
    body = _take(store, "cut-01", 0)
    assert (body["quantity"], body["step_quantity"], body["upstream_good"]) == (16, 16, None)
    store.release_cell("cut-01")
    # Given to another cell: what cut-01 did is done; 11 are left.
    assert _take(store, "cut-02", 0)["quantity"] == 11
    assert store.remaining_quantity("R-PINS", 0) == 11


def test_done_short_stays_open_unless_closed_short(store: SchedulerStore) -> None:
    _take(store, "cut-01", 0)
    _count(store, "cut-01", 0, 11)
    result = store.apply_events(
        [ev("run_step_completed", "cut-01", run_id="R-PINS", step=0, good=11, scrap=0)]
    )
    step = store.steps("R-PINS")[0]
    assert (step["status"], step["cell"]) == ("pending", None)
    assert "cut-01" in result.withdraw
    (alert,) = store.conservation_alerts()
    assert alert["rule"] == "done_short"
    assert "11 of 16" in alert["message"] and "remaining 5" in alert["message"]
    assert store.conservation_violations() == []  # kept open: nothing is broken
    # Closed short on purpose (by a supervisor, with why): done, and shown as such.
    _take(store, "cut-01", 0)
    store.apply_events(
        [ev("run_step_completed", "cut-01", "OP-SAM", run_id="R-PINS", step=0, good=11,
            scrap=0, closed_short="sheet stock ran out")]
    )  # fmt: skip
    steps = store.steps("R-PINS")
    assert steps[0]["status"] == "done"
    assert steps[0]["closed_short"] == "sheet stock ran out (OP-SAM)"
    assert store.conservation_alerts() == []
    # What finish may use is what cut made good.
    assert steps[1]["target"] == 11
    body = _take(store, "finish-01", 1)
    assert (body["quantity"], body["upstream_good"], body["upstream_kind"]) == (11, 11, "cut")


def test_an_excess_learnt_late_raises_an_alert_and_fails_the_check(
    store: SchedulerStore,
) -> None:
    _take(store, "cut-01", 0)
    _count(store, "cut-01", 0, 16)
    store.apply_events(
        [ev("run_step_completed", "cut-01", run_id="R-PINS", step=0, good=16, scrap=0)]
    )
    _take(store, "finish-01", 1)
    _count(store, "finish-01", 1, 16)
    _count(store, "finish-01", 1, 1)  # e.g. counted offline, or by the machine
    (alert,) = store.conservation_alerts()
    assert alert["message"] == (
        "R-PINS step 1 has 17 good + 0 scrap (last from finish-01), but only 16 came good from cut"
    )
    (v,) = store.conservation_violations()
    assert (v.rule, v.step) == ("exceeds_upstream", 1)


def test_a_store_from_before_conservation_gets_its_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    SchedulerStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE steps DROP COLUMN closed_short")
        conn.execute("ALTER TABLE steps DROP COLUMN outcome")
    store = SchedulerStore(path)
    cols = {r[1] for r in store.conn.execute("PRAGMA table_info(steps)")}
    store.close()
    assert {"closed_short", "outcome"} <= cols


def test_steps_after_one_closed_short_at_zero_have_nothing_to_do(store: SchedulerStore) -> None:
    _take(store, "cut-01", 0)
    store.apply_events(
        [ev("run_step_completed", "cut-01", "OP-SAM", run_id="R-PINS", step=0, good=0,
            scrap=0, closed_short="wrong material delivered")]
    )  # fmt: skip
    steps = store.steps("R-PINS")
    assert [s["status"] for s in steps] == ["done", "done", "done"]
    assert steps[1]["outcome"] == "nothing came from the step before"
    assert store.run("R-PINS")["status"] == "done"
    assert store.ready() == [] and store.conservation_violations() == []


def test_what_a_step_delivered_is_what_its_cell_said_on_completing(
    store: SchedulerStore,
) -> None:
    # cut-01 counted 16, but one count (of 1) is still on the way when its completion
    # arrives (a resend after a restart): finish must still get 16, not 15.
    _take(store, "cut-01", 0)
    _count(store, "cut-01", 0, 15)
    store.apply_events(
        [ev("run_step_completed", "cut-01", run_id="R-PINS", step=0, good=16, scrap=0)]
    )
    assert store.steps("R-PINS")[0]["status"] == "done"
    body = _take(store, "finish-01", 1)
    assert (body["quantity"], body["upstream_good"]) == (16, 16)
    _count(store, "cut-01", 0, 1)  # the late count arrives
    _count(store, "finish-01", 1, 16)
    assert store.conservation_alerts() == [] and store.conservation_violations() == []
