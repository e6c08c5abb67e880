"""The board's model without a screen or a broker: messages in, picture out."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cellctl.board.feed import CommandRefused
from cellctl.board.history import BoardHistory
from cellctl.board.queue import RunFacts, queue_rows
from cellctl.bus.codec import encode
from cellctl.config.models import MqttConfig
from cellctl.store.station_store import StationStore
from tests.board.conftest import SITE, TOPICS, event, status
from tests.board.helpers import Clock, ev, feed, historian_of


def test_status_and_events_make_the_tile() -> None:
    f = feed()
    f.handle(TOPICS.cell_status("cut-01"), status("cut-01", "running", run_id="R1", step=0,
             operator="OP-ADA", outbox=3, printer={"state": "ready"}, link="online"))  # fmt: skip
    for seq, (good, scrap) in enumerate([(1, 0), (1, 0), (0, 1)], start=1):
        ev(f, event("cut-01", "units_counted", seq, run_id="R1", step=0, good=good, scrap=scrap))
    tile = f.cells["cut-01"]
    assert (tile.state, tile.run_id, tile.step, tile.operator) == ("running", "R1", 0, "OP-ADA")
    assert (tile.outbox, tile.printer, tile.link) == (3, "ready", "online")
    assert tile.counts == (2, 1) and tile.yield_ == pytest.approx(2 / 3)
    assert tile.andon == "green"
    assert f.take_changes() == {"cut-01"} and f.take_changes() == set()


def test_duplicates_dropped_gaps_noticed_bad_input_counted() -> None:
    f = feed()
    e1 = event("cut-01", "units_counted", 1, run_id="R1", step=0, good=1, scrap=0)
    ev(f, e1)
    ev(f, e1)  # QoS 1 redelivery
    ev(f, event("cut-01", "units_counted", 5, run_id="R1", step=0, good=1, scrap=0))
    assert f.duplicates == 1
    assert f.cells["cut-01"].counts == (2, 0)
    assert f.cells["cut-01"].gaps == 3
    f.handle(TOPICS.cell_events("cut-01"), b"\xff not json")
    f.handle(TOPICS.cell_events("cut-02"), encode(e1.to_dict()))  # wrong cell for the topic
    f.handle(TOPICS.cell_status("cut-01"), encode({"v": 2, "cell": "cut-01"}))
    f.handle(TOPICS.scheduler_queue, b"[1,2]")
    bad = event("cut-01", "units_counted", 6, run_id="R1", step=0, good="7", scrap=0)
    f.handle(TOPICS.cell_events("cut-01"), encode(bad.to_dict()))
    bad = event("cut-01", "units_counted", 7, run_id="R1", step=0, good=1, scrap=-3)
    f.handle(TOPICS.cell_events("cut-01"), encode(bad.to_dict()))
    assert f.dropped == 6
    assert f.run_yields()["R1"].yield_ == 1.0  # the metrics still add up
    assert "cut-02" not in f.cells
    assert f.cells["cut-01"].counts == (2, 0)


def test_a_silent_cell_goes_stale_and_comes_back() -> None:
    clock = Clock()
    f = feed(clock, stale_after_s=5.0)
    f.handle(TOPICS.cell_status("cut-01"), status("cut-01", "running"))
    f.handle(TOPICS.cell_status("cut-02"), status("cut-02", "idle"))
    clock.t += 4.0
    f.handle(TOPICS.cell_status("cut-02"), status("cut-02", "idle"))  # heartbeat
    assert f.tick() == set()
    clock.t += 1.5
    assert f.tick() == {"cut-01"}
    assert f.stale_cells() == ["cut-01"]
    assert f.cells["cut-01"].andon == "grey"
    assert [a.key for a in f.alerts.open()] == [("cell_stale", "cut-01")]
    f.handle(TOPICS.cell_status("cut-01"), status("cut-01", "running"))
    assert f.stale_cells() == []
    assert f.alerts.listing() == []  # the cell speaks again: the alert goes


def test_alerts_raise_clear_and_ack() -> None:
    f = feed()
    f.handle(TOPICS.cell_status("cut-01"), status("cut-01", "down"))
    ev(f, event("cut-01", "machine_alarm", 1, code="ALARM:1", message="hard limit"))
    ev(f, event("qa-01", "batch_held", 1, batch="B7", reason="FAI failed"))
    f.handle(TOPICS.cell_status("cut-02"), status("cut-02", online=False))
    kinds = {a.key for a in f.alerts.open()}
    assert kinds == {("cell_down", "cut-01"), ("machine_alarm", "cut-01"), ("hold", "B7"),
                     ("cell_offline", "cut-02")}  # fmt: skip
    assert f.cells["cut-01"].andon == "red" and f.cells["cut-02"].andon == "grey"
    ev(f, event("qa-01", "batch_released", 2, batch="B7", reason="ok"))
    assert ("hold", "B7") not in f.alerts.items  # released: the alert goes, unacknowledged
    assert f.alerts.ack(("cell_down", "cut-01"), "OP-SAM")
    assert f.alerts.items[("cell_down", "cut-01")].active  # still down: stays listed
    assert ("cell_down", "cut-01") not in {a.key for a in f.alerts.open()}


def test_queue_rows_give_the_why_eta_and_risk() -> None:
    now = 1_000_000.0
    facts = {
        "R-LATE": RunFacts("R-LATE", weight=500.0, due_s=now + 600, quantity=10, cycle_s=60.0,
                           steps_left=2),
        "R-OK": RunFacts("R-OK", weight=100.0, due_s=now + 86400, quantity=10, cycle_s=30.0),
    }  # fmt: skip
    snapshot = {"v": 1, "ready": [
        {"run_id": "R-LATE", "step": 0, "kind": "cut", "priority": 0},
        {"run_id": "R-OK", "step": 1, "kind": "cut", "priority": 0},
        {"run_id": "R-NEW", "step": 0, "kind": "qa", "priority": 5},
    ]}  # fmt: skip
    rows = queue_rows(snapshot, facts, {"cut": 1}, now)
    assert [r.run_id for r in rows] == ["R-LATE", "R-OK", "R-NEW"]
    late, ok, new = rows
    assert late.remaining_s == 1200 and late.eta_s == now + 1200 and late.at_risk
    assert "no slack" in late.why and "margin 500" in late.why
    assert ok.eta_s == now + 600 + 300 and not ok.at_risk  # waits for R-LATE's step
    assert new.why == "manual priority 5" and new.eta_s is None


def test_due_risk_alert_follows_the_queue() -> None:
    f = feed()
    due = f.wall() + 60
    f.run_facts = {"R1": RunFacts("R1", weight=1.0, due_s=due, quantity=10, cycle_s=60.0)}
    f.handle(TOPICS.scheduler_queue, encode({"v": 1, "ready": [{"run_id": "R1", "step": 0,
             "kind": "cut", "priority": 0}]}))  # fmt: skip
    assert f.queue()[0].eta_s is None and "no cut cell online" in f.queue()[0].why
    assert f.alerts.open() == []
    f.handle(TOPICS.cell_status("cut-01"), status("cut-01", "running"))
    f.handle(TOPICS.scheduler_queue, encode({"v": 1, "ready": [{"run_id": "R1", "step": 0,
             "kind": "cut", "priority": 0}]}))  # fmt: skip
    assert ("due_risk", "R1") in {a.key for a in f.alerts.open()}
    f.handle(TOPICS.scheduler_queue, encode({"v": 1, "ready": []}))
    assert ("due_risk", "R1") not in f.alerts.items


def test_actions_are_role_checked_before_sending() -> None:
    f = feed()
    with pytest.raises(CommandRefused, match="machinist"):
        f.command_body("prioritise", "OP-ADA", run_id="R1", priority=3)
    with pytest.raises(CommandRefused, match="not an operator"):
        f.command_body("cancel", "OP-NOBODY", run_id="R1")
    with pytest.raises(CommandRefused, match="whole number"):
        f.command_body("prioritise", "OP-SAM", run_id="R1", priority="3")
    assert f.command_body("release_hold", "OP-QUINN", batch="B1")["action"] == "release_hold"
    body = f.command_body("prioritise", "OP-SAM", run_id="R1", priority=3)
    assert body == {
        "v": 1,
        "action": "prioritise",
        "badge": "OP-SAM",
        "run_id": "R1",
        "priority": 3,
    }


def test_drill_down_run_progress_and_serial_trace() -> None:
    f = feed()
    ev(f, event("cut-01", "run_step_started", 1, run_id="R1", step=0))
    ev(f, event("cut-01", "units_counted", 2, run_id="R1", step=0, good=2, scrap=1))
    ev(f, event("cut-01", "run_step_completed", 3, run_id="R1", step=0))
    ev(f, event("print-01", "run_step_started", 1, run_id="R1", step=1))
    ev(f, event("print-01", "serials_allocated", 2, scope="R1", first=1, count=2,
                serials=["MUG-B1-0001", "MUG-B1-0002"]))  # fmt: skip
    ev(f, event("qa-01", "inspection_recorded", 1, batch="B1", serial="MUG-B1-0002", passed=True))
    steps = f.run_progress("R1")
    assert [(s["step"], s["status"], s["cells"], s["good"], s["scrap"]) for s in steps] == [
        (0, "done", ["cut-01"], 2, 1),
        (1, "running", ["print-01"], 0, 0),
    ]
    trace = f.trace("MUG-B1-0002")
    assert [(e.cell, e.type) for e in trace] == [
        ("print-01", "serials_allocated"),
        ("qa-01", "inspection_recorded"),
    ]
    assert f.trace("MUG-B1-0009") == []


def test_metrics_come_from_the_domain_functions() -> None:
    f = feed()
    ev(f, event("cut-01", "units_counted", 1, run_id="R1", step=0, good=8, scrap=2))
    ev(f, event("cut-01", "defect_recorded", 2, run_id="R1", code="BURN", severity="major",
                count=2))  # fmt: skip
    ev(f, event("cut-01", "defect_recorded", 3, run_id="R1", code="DIM", severity="critical"))
    assert f.run_yields()["R1"].yield_ == pytest.approx(0.8)
    assert [(r.code, r.count) for r in f.pareto()] == [("BURN", 2), ("DIM", 1)]
    assert f.topics.site == SITE


async def test_a_serial_trace_reaches_into_the_site_history(tmp_path) -> None:
    store = StationStore(tmp_path / "qa-01.db", "qa-01", synchronous="NORMAL")
    old = event("qa-01", "inspection_recorded", 0, batch="B1", serial="MUG-B1-0002", passed=False)
    other = event("qa-01", "inspection_recorded", 0, batch="B1", serial="MUG-B1-0003", passed=True)
    [old, other] = store.append(old, other)
    store.close()
    f = feed(history=historian_of(tmp_path, [old, other]))
    ev(f, old)  # seen live as well: listed once
    ev(f, event("qa-01", "lot_judged", 3, batch="B1", accepted=True, serials=["MUG-B1-0002"]))
    assert f.trace("MUG-B1-0003") == []  # its past not asked yet
    assert await f.fetch_trace("MUG-B1-0002") is None
    assert await f.fetch_trace("MUG-B1-0003") is None
    trace = f.trace("MUG-B1-0002")
    assert [e.type for e in trace] == ["inspection_recorded", "lot_judged"]
    assert [e.type for e in f.trace("MUG-B1-0003")] == ["inspection_recorded"]
    assert f.trace("MUG-B1-0003", history=False) == []


async def test_no_historian_leaves_the_board_live_and_says_why() -> None:
    f = feed()  # its site's broker is not there: the question cannot be asked
    f.history = BoardHistory(MqttConfig(url="mqtt://127.0.0.1:9"), SITE, timeout_s=0.5)
    problem = await f.fetch_trace("MUG-B1-0002")
    assert problem is not None and "cannot reach the broker" in problem
    assert await f.preload(hours=1) == 0 and f.trace("MUG-B1-0002") == []


def test_board_command_refuses_a_bad_broker_url(capsys) -> None:
    from cellctl.cli import main

    assert main(["board", "--broker", "http://127.0.0.1:1883"]) == 1
    assert "expected mqtt://host:port" in capsys.readouterr().err


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**7) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)  # fmt: skip
_keys = st.sampled_from(["v", "schema", "cell", "state", "online", "type", "id", "seq",
                         "time", "payload", "good", "scrap", "outbox", "run_id", "step",
                         "ready"])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    leaf=st.sampled_from(["status", "events", "queue"]),
    body=st.dictionaries(_keys, _json, max_size=10),
    base=st.sampled_from([{}, {"v": 1, "cell": "c1"}, {"schema": 1, "cell": "c1",
                          "type": "units_counted", "seq": 1, "time": "2026-01-05T08:00:00Z",
                          "id": "019a2a4e-1d2b-7c3d-8e4f-5a6b7c8d9e0f", "payload": {
                              "run_id": "R1", "step": 0, "good": 1, "scrap": 0}}]),
)  # fmt: skip
def test_no_message_brings_the_board_down(leaf: str, body: dict, base: dict) -> None:
    f = feed()
    topic = TOPICS.scheduler_queue if leaf == "queue" else f"{TOPICS.base}/cells/c1/{leaf}"
    f.handle(topic, json.dumps({**base, **body}).encode())
    f.tick()
    f.queue(), f.run_yields(), f.pareto(), f.oee_by_cell(), f.throughput_per_hour()
    f.run_progress("x"), f.trace("x")


async def test_preload_fills_the_metrics_from_the_history_not_the_alerts(tmp_path) -> None:
    from cellctl.domain.events import Event
    from cellctl.store.station_store import StationStore

    store = StationStore(tmp_path / "cut-01.db", "cut-01", synchronous="NORMAL")

    def at(etype: str, when: str, **payload) -> Event:
        return Event(etype, "cut-01", payload, time=f"2026-01-05T{when}:00.000Z")

    stored = store.append(
        at("units_counted", "01:00", run_id="R0", step=0, good=9, scrap=9),  # 7 h before "now"
        at("units_counted", "06:00", run_id="R1", step=0, good=4, scrap=1),
        at("machine_alarm", "06:30", code="ALARM:2", message="door open"),
    )
    store.close()
    f = feed(history=historian_of(tmp_path, stored))  # the wall clock is 08:00
    assert await f.preload(hours=4) == 2
    assert set(f.run_yields()) == {"R1"}
    assert f.alerts.listing() == []  # old alarms are history, not alerts
    ev(f, stored[1])  # the same event live again: not counted twice
    assert f.duplicates == 1 and f.run_yields()["R1"].yield_ == 0.8


def test_a_cell_down_alert_clears_when_the_cell_runs_again_and_counts_agree() -> None:
    f = feed()
    f.handle(TOPICS.cell_status("cut-01"), status("cut-01", "down"))
    f.handle(TOPICS.cell_status("cut-02"), status("cut-02", "down"))
    assert f.alerts.ack(("cell_down", "cut-02"), "OP-ADA")  # seen, still down
    f.handle(TOPICS.cell_status("cut-01"), status("cut-01", "running"))

    def down_in_header() -> int:
        return sum(1 for t in f.cells.values() if t.state == "down")

    down_alerts = [a for a in f.alerts.listing() if a.kind == "cell_down"]
    assert [a.subject for a in down_alerts] == ["cut-02"]  # cut-01 runs: its alert went
    assert down_in_header() == len(down_alerts) == 1
    f.handle(TOPICS.cell_status("cut-02"), status("cut-02", "idle"))
    assert f.alerts.listing() == [] and down_in_header() == 0


def test_acknowledging_names_a_person_of_any_role() -> None:
    f = feed()
    f.handle(TOPICS.cell_status("cut-01"), status("cut-01", "down"))
    key = ("cell_down", "cut-01")
    with pytest.raises(CommandRefused, match="badge first"):
        f.acknowledge(key, "")
    with pytest.raises(CommandRefused, match="not an operator"):
        f.acknowledge(key, "board")
    assert f.alerts.items[key].acked_by is None
    assert f.acknowledge(key, "OP-ADA")  # a machinist may acknowledge
    assert f.alerts.items[key].acked_by == "OP-ADA"
    # Prioritising stays a supervisor's (the scheduler's rule, checked here first).
    with pytest.raises(CommandRefused, match="may not prioritise"):
        f.command_body("prioritise", "OP-ADA", run_id="R1", priority=3)
