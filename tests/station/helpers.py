"""Helpers shared by this package's tests (no test module imports another)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from cellctl.domain.events import Event
from cellctl.station.controller import StationController
from tests.station.conftest import assignment


def snapshot(c: StationController) -> dict[str, Any]:
    serials = c.store.conn.execute("SELECT * FROM serial_counters ORDER BY scope").fetchall()
    return {
        "state": c.state,
        "operator": c.operator.badge if c.operator else None,
        "assignment": c.assignment,
        "accepted": c.assignment_accepted,
        "held": dict(c.held_batches),
        "held_order": list(c.held_batches),
        "downtime_open": c.downtime_open,
        "counts": c.counts(),
        "serial_counters": serials,
        "status": c.status(),
    }


ACTIONS = st.sampled_from(
    [
        "sign_in_ada",
        "sign_in_quinn",
        "sign_out",
        "offer_r1",
        "offer_r2",
        "accept",
        "decline",
        "withdraw",
        "start",
        "pause",
        "good",
        "scrap",
        "undo",
        "complete",
        "close_short",
        "stop",
        "downtime",
        "end_downtime",
        "hold_b1",
        "release_b1",
        "hold_b2",
        "serials",
        "raw_accept_without_terms",
        "raw_accept_bad_terms",
    ]
)


def act(c: StationController, action: str) -> None:
    op = "OP-ADA"
    match action:
        case "sign_in_ada":
            c.sign_in_badge("OP-ADA")
        case "sign_in_quinn":
            c.sign_in_badge("OP-QUINN")
        case "sign_out":
            c.sign_out()
        case "offer_r1":
            c.offer_assignment(assignment(quantity=3))
        case "offer_r2":
            c.offer_assignment(assignment(run_id="R-200", batch="B-200", quantity=2))
        case "accept":
            c.accept_assignment()
        case "decline":
            c.decline_assignment("not now")
        case "withdraw":
            c.withdraw_assignment("replanned")
        case "start":
            c.start_step()
        case "pause":
            c.pause()
        case "good":
            c.count_good()
        case "scrap":
            c.count_scrap("BURN")
        case "undo":
            c.undo_last()
        case "complete":
            c.complete_step()
        case "close_short":
            c.close_step_short("stock ran out")
        case "stop":
            c.machine_stopped("jam")
        case "downtime":
            c.record_downtime("JAM")
        case "end_downtime":
            c.end_downtime()
        case "hold_b1":
            c.hold_batch("B-100", "check")
        case "release_b1":
            c.release_batch("B-100", "checked")
        case "hold_b2":
            c.hold_batch("B-200", "rejected at QA")
        case "serials":
            c.store.allocate_serials(2, scope="B-100", batch="B-100", run_id="R-100", sku="MUG")
        case "raw_accept_without_terms":
            c.store.append(Event("assignment_accepted", c.cell, {"run_id": "R-9", "step": 0}, op))
        case "raw_accept_bad_terms":
            payload = {"run_id": "R-9", "step": 0, "assignment": {"run_id": "R-9"}}
            c.store.append(Event("assignment_accepted", c.cell, payload, op))
