"""Conservation at the cell: a count beyond what came from upstream is refused (and the
press kept as a refused command); a machine's own over-count is kept with an alert."""

from __future__ import annotations

import pytest

from cellctl.domain.states import CellState
from cellctl.station.controller import Refused, StationController
from tests.station.conftest import assignment


def _finish_step(upstream_good: int = 16, quantity: int = 16) -> dict[str, object]:
    return assignment(
        run_id="R-PINS",
        step=1,
        kind="cut",  # the test cell is a cut cell; the step is the second of its run
        quantity=quantity,
        step_quantity=upstream_good,
        upstream_good=upstream_good,
        upstream_kind="print",
    )


def _running(cut: StationController, a: dict[str, object]) -> StationController:
    cut.sign_in_badge("OP-ADA")
    cut.offer_assignment(a)
    cut.accept_assignment()
    cut.start_step()
    return cut


def test_a_count_beyond_upstream_is_refused_with_the_numbers(cut: StationController) -> None:
    _running(cut, _finish_step())
    cut.count_good(15)
    cut.count_scrap(cut.site.defects[0].code)
    with pytest.raises(Refused) as refused:
        cut.count_good()
    assert (
        str(refused.value) == "cut-01 would have 16 good and 1 scrap, but only 16 came from print"
    )
    assert cut.counts() == (15, 1)
    kept = [e for e in cut.store.events() if e.type == "count_refused"]
    assert len(kept) == 1 and kept[0].payload["good"] == 1
    assert kept[0].payload["reason"] == str(refused.value)
    # Every unit that came is accounted for (15 good + 1 scrap): the step completes.
    cut.complete_step()
    assert cut.state == CellState.IDLE


def test_what_other_cells_did_is_named_in_the_refusal(cut: StationController) -> None:
    _running(cut, _finish_step(upstream_good=16, quantity=4))
    cut.count_good(4)
    with pytest.raises(Refused, match="only 4 of the 16 that came from print are left for it"):
        cut.count_good()


def test_a_machine_over_count_is_kept_with_an_alert(cut: StationController) -> None:
    _running(cut, _finish_step(upstream_good=3, quantity=3))
    cut.count_good(3, by_machine=True)
    cut.count_good(1, by_machine=True)
    assert cut.counts() == (4, 0)
    alerts = [e for e in cut.store.events() if e.type == "count_exceeds_upstream"]
    assert [a.payload["reason"] for a in alerts] == [
        "cut-01 would have 4 good, but only 3 came from print"
    ]


def test_a_first_step_is_done_only_at_its_quantity_of_good(cut: StationController) -> None:
    _running(cut, assignment(quantity=3))
    cut.count_good(2)
    cut.count_scrap(cut.site.defects[0].code)
    with pytest.raises(Refused, match="2 of 3 good"):
        cut.complete_step()
    cut.count_good()
    cut.complete_step()
    done = [e for e in cut.store.events() if e.type == "run_step_completed"]
    assert done[0].payload == {"run_id": "R-100", "step": 0, "good": 3, "scrap": 1}
