"""Switching between normal, tightened and reduced inspection, and discontinuation."""

from __future__ import annotations

import pytest

from cellctl.domain.aql_tables import Severity
from cellctl.domain.events import Event
from cellctl.domain.switching import (
    LotOutcome,
    SwitchingBook,
    SwitchingError,
    SwitchingState,
    next_state,
    replay,
    resume,
    to_normal,
)

OK = LotOutcome(accepted=True, ac=1, nonconforming=0)
BAD = LotOutcome(accepted=False, ac=1, nonconforming=2)


def run(state: SwitchingState, lots, **kw):
    switches = []
    for lot in lots:
        state, switch = next_state(state, lot, **kw)
        switches.append(switch)
    return state, switches


def test_two_rejections_within_five_lots_tighten() -> None:
    state, switches = run(SwitchingState(), [OK, BAD, OK, OK, BAD])
    assert state.severity is Severity.TIGHTENED
    assert switches[:4] == [None] * 4
    assert switches[4].to_severity is Severity.TIGHTENED
    assert "2 of the last 5" in switches[4].reason


def test_two_rejections_six_lots_apart_do_not_tighten() -> None:
    state, switches = run(SwitchingState(), [BAD, OK, OK, OK, OK, BAD])
    assert state.severity is Severity.NORMAL and switches == [None] * 6


def test_back_to_back_rejections_tighten_at_once() -> None:
    state, _ = run(SwitchingState(), [BAD, BAD])
    assert state.severity is Severity.TIGHTENED


def test_five_consecutive_accepted_on_tightened_return_to_normal() -> None:
    tight = SwitchingState(severity=Severity.TIGHTENED)
    state, switches = run(tight, [BAD, OK, OK, OK, OK])
    assert state.severity is Severity.TIGHTENED and state.accepted_run == 4
    state, switch = next_state(state, OK)
    assert state.severity is Severity.NORMAL
    assert switch.from_severity is Severity.TIGHTENED and switch.to_severity is Severity.NORMAL
    assert state.score == 0 and state.recent_normal == ()


def test_five_lots_not_accepted_on_tightened_discontinue() -> None:
    tight = SwitchingState(severity=Severity.TIGHTENED)
    state, switches = run(tight, [BAD, OK, BAD, OK, OK, BAD, BAD])
    assert not state.discontinued and state.tightened_rejections == 4
    state, switch = next_state(state, BAD)
    assert state.discontinued and switch.discontinued
    with pytest.raises(SwitchingError, match="discontinued"):
        next_state(state, OK)
    state, _ = resume(state)
    assert state.severity is Severity.TIGHTENED and not state.discontinued
    assert state.tightened_rejections == 0


def test_switching_score_with_ac_0_or_1_adds_2_per_accepted_lot() -> None:
    state, switches = run(SwitchingState(), [OK] * 14, reduced_approved=True)
    assert state.score == 28 and state.severity is Severity.NORMAL
    state, switch = next_state(state, OK, reduced_approved=True)
    assert state.severity is Severity.REDUCED
    assert "30" in switch.reason


def test_switching_score_with_ac_2_or_more_needs_the_tighter_plan() -> None:
    good = LotOutcome(accepted=True, ac=3, nonconforming=2, tighter_ac=2)
    marginal = LotOutcome(accepted=True, ac=3, nonconforming=3, tighter_ac=2)
    state, _ = run(SwitchingState(), [good] * 9, reduced_approved=True)
    assert state.score == 27
    state, _ = next_state(state, marginal, reduced_approved=True)
    assert state.score == 0 and state.severity is Severity.NORMAL  # accepted, but reset
    state, _ = run(state, [good] * 10, reduced_approved=True)
    assert state.severity is Severity.REDUCED
    with pytest.raises(SwitchingError, match="tighter_ac"):
        next_state(SwitchingState(), LotOutcome(True, ac=2, nonconforming=0))


def test_reduced_needs_approval_and_steady_production() -> None:
    state, _ = run(SwitchingState(), [OK] * 20)
    assert state.severity is Severity.NORMAL and state.score == 40
    state, _ = next_state(state, OK, reduced_approved=True, production_steady=False)
    assert state.severity is Severity.NORMAL
    state, switch = next_state(state, OK, reduced_approved=True)
    assert state.severity is Severity.REDUCED and switch is not None


def test_a_rejection_resets_the_score() -> None:
    state, _ = run(SwitchingState(), [OK] * 10 + [BAD])
    assert state.score == 0 and state.severity is Severity.NORMAL


@pytest.mark.parametrize(
    ("lot", "kw", "why"),
    [
        (BAD, {}, "not accepted"),
        (LotOutcome(True, ac=1, nonconforming=2, reinstate_normal=True), {}, "more than Ac"),
        (OK, {"production_steady": False}, "irregular"),
    ],
)
def test_reduced_returns_to_normal(lot, kw, why) -> None:
    state, switch = next_state(SwitchingState(severity=Severity.REDUCED, score=40), lot, **kw)
    assert state.severity is Severity.NORMAL and state.score == 0
    assert why in switch.reason


def test_reduced_stays_while_lots_are_accepted() -> None:
    state, switches = run(SwitchingState(severity=Severity.REDUCED), [OK] * 10)
    assert state.severity is Severity.REDUCED and switches == [None] * 10
    state, switch = to_normal(state, "supplier changed")
    assert state.severity is Severity.NORMAL and switch.reason == "supplier changed"


def test_resubmitted_lots_do_not_count() -> None:
    resub = LotOutcome(accepted=False, ac=1, nonconforming=3, resubmitted=True)
    state, _ = run(SwitchingState(), [BAD, resub, resub, OK])
    assert state.severity is Severity.NORMAL and state.lots == 2


def test_book_tracks_each_sku_apart_or_each_cell() -> None:
    book = SwitchingBook("sku")
    for _ in range(2):
        book.record(book.key(sku="MUG", cell="qa1"), BAD)
        book.record(book.key(sku="CAP", cell="qa1"), OK)
    assert book.severity("MUG") is Severity.TIGHTENED
    assert book.severity("CAP") is Severity.NORMAL
    by_cell = SwitchingBook("cell")
    by_cell.record(by_cell.key(sku="MUG", cell="qa1"), BAD)
    by_cell.record(by_cell.key(sku="CAP", cell="qa1"), BAD)
    assert by_cell.severity("qa1") is Severity.TIGHTENED
    with pytest.raises(SwitchingError, match="per sku"):
        book.key(sku=None, cell="qa1")
    with pytest.raises(ValueError):
        SwitchingBook("site")  # type: ignore[arg-type]


def test_replay_from_lot_judged_events() -> None:
    def judged(sku: str, accepted: bool) -> Event:
        return Event(
            type="lot_judged",
            cell="qa1",
            payload={
                "batch": "B",
                "accepted": accepted,
                "sku": sku,
                "ac": 1,
                "nonconforming": 0 if accepted else 2,
            },
        )

    events = [judged("MUG", False), judged("CAP", True), judged("MUG", False)]
    events += [judged("MUG", False)] * 5
    events.append(Event(type="inspection_resumed", cell="qa1", payload={"key": "MUG"}))
    events += [judged("MUG", True)] * 2
    book = replay(events, "sku")
    mug = book.state("MUG")
    assert mug.severity is Severity.TIGHTENED and not mug.discontinued
    assert mug.accepted_run == 2
    assert book.state("CAP").score == 2
