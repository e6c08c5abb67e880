"""The supervisor sees what breaks conservation of units (issue 16): a refused press, a
machine's count kept over upstream, a step closed short, and what the scheduler learned."""

from __future__ import annotations

from cellctl.bus.codec import encode
from tests.board.conftest import TOPICS, event
from tests.board.helpers import ev, feed


def _active(f) -> dict[tuple[str, str], str]:  # noqa: ANN001
    return {a.key: a.text for a in f.alerts.items.values() if a.active}


def test_cell_events_raise_conservation_alerts() -> None:
    f = feed()
    reason = "finish-01 would have 17 good, but only 16 came from print"
    ev(f, event("finish-01", "count_refused", 1, run_id="R1", step=2, good=1, scrap=0,
                reason=reason))  # fmt: skip
    ev(f, event("cut-01", "run_step_completed", 1, run_id="R1", step=0, good=11, scrap=0,
                quantity=16, closed_short="sheet stock ran out"))  # fmt: skip
    alerts = _active(f)
    assert alerts[("conservation", "R1/2")] == f"finish-01: count refused: {reason}"
    assert alerts[("closed_short", "R1/0")] == (
        "cut-01 closed R1 step 0 short at 11 good of 16: sheet stock ran out"
    )


def test_the_schedulers_findings_come_and_go_with_its_status() -> None:
    f = feed()
    found = {"run_id": "R2", "step": 1, "rule": "exceeds_upstream",
             "message": "R2 step 1 has 17 good + 0 scrap (last from finish-01), but only 16 "
                        "came good from cut"}  # fmt: skip
    status = {"v": 1, "online": True, "time": "2026-12-03T08:00:00Z", "conservation": [found]}
    f.handle(TOPICS.scheduler_status, encode(status))
    assert _active(f) == {("step_counts", "R2/1/exceeds_upstream"): found["message"]}
    f.handle(TOPICS.scheduler_status, encode({**status, "conservation": []}))
    assert _active(f) == {}


def test_a_step_closed_short_reads_short_in_the_run_drill_down() -> None:
    f = feed()
    ev(f, event("cut-01", "run_step_started", 1, run_id="R3", step=0))
    ev(f, event("cut-01", "units_counted", 2, run_id="R3", step=0, good=11, scrap=0))
    ev(f, event("cut-01", "run_step_completed", 3, run_id="R3", step=0, good=11, scrap=0,
                quantity=16, closed_short="stock out"))  # fmt: skip
    (step,) = f.run_progress("R3")
    assert (step["status"], step["good"]) == ("short", 11)
