from __future__ import annotations

from pathlib import Path

import pytest

from cellctl.domain.codes import BadgeCode, CommandCard, DefectCard, RunTicket, encode
from cellctl.domain.states import CellState
from cellctl.station.controller import Refused, StationController
from tests.station.conftest import FakeClock, assignment, make_controller


def signed_in_running(cut: StationController) -> StationController:
    cut.sign_in_badge("OP-ADA")
    cut.offer_assignment(assignment())
    cut.accept_assignment()
    cut.start_step()
    return cut


def test_nothing_happens_before_sign_in(cut: StationController) -> None:
    cut.offer_assignment(assignment())
    with pytest.raises(Refused, match="sign in first"):
        cut.accept_assignment()
    assert cut.store.read_tables()["step_counts"] == []


def test_sign_in_with_pin_and_wrong_pin(cut: StationController) -> None:
    with pytest.raises(Refused, match="do not match"):
        cut.sign_in_pin("OP-ADA", "9999")
    assert cut.operator is None
    op = cut.sign_in_pin("OP-ADA", "1111")
    assert op.name == "Ada Machinist"
    refused = [e for e in cut.store.events() if e.type == "access_refused"]
    assert len(refused) == 1 and "1111" not in str(refused[0].to_dict())


def test_unknown_badge_is_refused(cut: StationController) -> None:
    with pytest.raises(Refused, match="not on this site's operator list"):
        cut.handle_scan(encode(BadgeCode("OP-NOBODY")))


def test_count_good_scrap_and_undo(cut: StationController, clock: FakeClock) -> None:
    signed_in_running(cut)
    cut.count_good()
    cut.count_good()
    cut.count_scrap("BURN")
    assert cut.counts() == (2, 1)
    cut.undo_last()
    assert cut.counts() == (2, 0)
    with pytest.raises(Refused, match="nothing to undo"):
        cut.undo_last()
    cut.count_good()
    clock.now += 31
    with pytest.raises(Refused, match="older than 30 s"):
        cut.undo_last()
    assert cut.counts() == (3, 0)
    assert cut.store.check() == []


def test_scrap_needs_a_known_reason(cut: StationController) -> None:
    signed_in_running(cut)
    with pytest.raises(Refused, match="needs a reason"):
        cut.count_scrap("")
    with pytest.raises(Refused, match="unknown scrap reason"):
        cut.count_scrap("GREMLINS")
    assert cut.counts() == (0, 0)


def test_counting_needs_a_started_step(cut: StationController) -> None:
    cut.sign_in_badge("OP-ADA")
    cut.offer_assignment(assignment())
    cut.accept_assignment()
    with pytest.raises(Refused, match="press S to start"):
        cut.count_good()


def test_wrong_kind_assignment_is_refused(cut: StationController) -> None:
    with pytest.raises(Refused, match="this is a cut cell"):
        cut.offer_assignment(assignment(kind="qa"))


def test_scans_drive_the_cell(cut: StationController) -> None:
    assert cut.handle_scan(encode(BadgeCode("OP-ADA"))) == "signed in Ada Machinist"
    cut.offer_assignment(assignment())
    assert cut.handle_scan(encode(RunTicket("R-100", 0))) == "accepted R-100"
    cut.start_step()
    assert cut.handle_scan(encode(CommandCard("GOOD+1"))) == "+1 good"
    assert "scrap" in cut.handle_scan(encode(DefectCard("BURN")))
    assert cut.counts() == (1, 1)
    with pytest.raises(Refused, match="unknown code"):
        cut.handle_scan("rm -rf /")
    with pytest.raises(Refused, match="bad code"):
        cut.handle_scan("CC:EXPLODE")
    assert cut.counts() == (1, 1)


def test_scrap_override_needs_qa(cut: StationController) -> None:
    signed_in_running(cut)
    cut.count_good(3)
    with pytest.raises(Refused, match="needs QA or a supervisor"):
        cut.reclassify_good_as_scrap("DIM", 1)
    logged = [e for e in cut.store.events() if e.type == "access_refused"]
    assert logged and logged[-1].payload["action"] == "scrap_override"
    cut.sign_in_badge("OP-QUINN")
    cut.reclassify_good_as_scrap("DIM", 1)
    assert cut.counts() == (2, 1)


def test_machine_stop_asks_for_downtime_reason(cut: StationController) -> None:
    signed_in_running(cut)
    cut.machine_stopped("spindle stopped")
    assert cut.state == CellState.DOWN and cut.downtime_reason_needed
    with pytest.raises(Refused, match="downtime reason"):
        cut.start_step()
    cut.record_downtime("JAM")
    cut.end_downtime()
    assert cut.state == CellState.PAUSED
    cut.start_step()
    assert cut.state == CellState.RUNNING
    assert cut.store.read_tables()["downtime"][0][1] == "JAM"
    assert cut.store.read_tables()["downtime"][0][4] is not None


def test_hold_blocks_start_and_release_needs_qa(cut: StationController) -> None:
    cut.sign_in_badge("OP-ADA")
    cut.note_hold("B-100", True, "lot rejected at QA")
    cut.offer_assignment(assignment())
    with pytest.raises(Refused, match="QC hold .lot rejected at QA."):
        cut.accept_assignment()
    with pytest.raises(Refused, match="needs QA or a supervisor"):
        cut.release_batch("B-100", "rework done")
    cut.sign_in_badge("OP-QUINN")
    cut.release_batch("B-100", "rework done")
    cut.accept_assignment()
    cut.start_step()
    assert cut.state == CellState.RUNNING


def test_complete_step_and_restart_restores_state(
    demo_dir: Path, clock: FakeClock, cut: StationController
) -> None:
    signed_in_running(cut)
    cut.count_good(5)
    cut.store.close()
    again = make_controller(demo_dir, "cut-01", clock)
    assert again.state == CellState.RUNNING
    assert again.operator is not None and again.operator.badge == "OP-ADA"
    assert again.assignment is not None and again.assignment.run_id == "R-100"
    assert again.counts() == (5, 0)
    # 5 of 60 is short: completing is refused until someone allowed closes it short.
    with pytest.raises(Refused, match="5 of 60 good on R-100 step 0"):
        again.complete_step()
    with pytest.raises(Refused, match="needs QA or a supervisor"):
        again.close_step_short("sheet stock ran out")
    again.sign_in_badge("OP-QUINN")
    again.close_step_short("sheet stock ran out")
    assert again.state == CellState.IDLE and again.assignment is None
    completed = [e for e in again.store.events() if e.type == "run_step_completed"]
    assert completed[0].payload["good"] == 5
    assert completed[0].payload["closed_short"] == "sheet stock ran out"


def test_status_payload(cut: StationController) -> None:
    signed_in_running(cut)
    cut.count_good()
    status = cut.status()
    assert status["state"] == "running" and status["run_id"] == "R-100"
    assert status["good"] == 1 and status["scrap"] == 0 and status["operator"] == "OP-ADA"
