"""The pure conservation rules (domain.conservation)."""

from __future__ import annotations

from cellctl.domain import conservation as c
from cellctl.domain.conservation import StepCounts


def test_targets_and_what_is_left() -> None:
    assert c.target(16, None) == 16  # the first step: the run's quantity
    assert c.target(16, 11) == 11  # later: what came good from upstream
    assert c.target(16, 11, rework_returned=2) == 13
    assert c.remaining(16, 5, 1, first=True) == 11  # scrap at cut is replaced
    assert c.remaining(16, 5, 1, first=False) == 10  # a scrapped unit downstream is gone
    assert c.assignment_quantity(16, 5, 1, first=True) == 11


def test_count_refusal_names_the_numbers() -> None:
    kw = {"available": 16, "upstream_kind": "print"}
    assert c.count_refusal("finish-01", good=15, scrap=0, add_good=1, add_scrap=0, **kw) is None
    assert (
        c.count_refusal("finish-01", good=16, scrap=0, add_good=1, add_scrap=0, **kw)
        == "finish-01 would have 17 good, but only 16 came from print"
    )
    # A first step, or an assignment that does not carry the total: nothing to check.
    assert c.count_refusal("cut-01", good=99, scrap=0, add_good=1, add_scrap=0,
                           available=None, upstream_kind=None) is None  # fmt: skip


def test_check_run_finds_each_broken_rule() -> None:
    # The runs of issue 16: R-PINS (cut closed at 11, finish and QA at 16) and R-POSTER
    # (7 cut, 10 printed good and 2 scrap, QA done at 0/0).
    pins = [
        StepCounts(0, "cut", 11, 0, True),
        StepCounts(1, "finish", 16, 0, True),
        StepCounts(2, "qa", 16, 0, True),
    ]
    found = {(v.step, v.rule) for v in c.check_run("R-PINS", 16, pins)}
    assert found == {(0, "done_short"), (1, "exceeds_upstream")}
    poster = [
        StepCounts(0, "cut", 7, 0, True),
        StepCounts(1, "print", 10, 2, True),
        StepCounts(2, "qa", 0, 0, True),
    ]
    found = {(v.step, v.rule) for v in c.check_run("R-POSTER", 10, poster)}
    assert found == {(0, "done_short"), (1, "exceeds_upstream"), (2, "done_short")}
    closed = [
        StepCounts(0, "cut", 11, 1, True, closed_short="stock ran out (OP-SAM)"),
        StepCounts(1, "finish", 10, 1, True),
        StepCounts(2, "qa", 4, 0, False),
    ]
    assert c.check_run("R-OK", 16, closed) == []
