"""Cell states: a transition the table does not allow is refused with the reason."""

from __future__ import annotations

import pytest

from cellctl.domain.states import (
    ALLOWED,
    CellState,
    TransitionError,
    can_transition,
    check_transition,
)

S = CellState


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.DOWN, S.RUNNING),  # a repaired cell goes through idle (or paused) first
        (S.DOWN, S.SETUP),
        (S.OFFLINE, S.RUNNING),  # a cell that comes back always passes through idle
        (S.OFFLINE, S.PAUSED),
        (S.IDLE, S.PAUSED),  # nothing runs, so nothing can pause
    ],
)
def test_a_disallowed_transition_is_refused_naming_both_states(
    current: CellState, target: CellState
) -> None:
    assert not can_transition(current, target)
    with pytest.raises(TransitionError) as info:
        check_transition(current, target)
    message = str(info.value)
    assert f"is {current.value} cannot become {target.value}" in message
    for allowed in ALLOWED[current]:
        assert allowed.value in message  # the refusal says where the cell may go


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.IDLE, S.RUNNING), (S.RUNNING, S.DOWN), (S.DOWN, S.IDLE), (S.OFFLINE, S.IDLE)],
)
def test_an_allowed_transition_passes(current: CellState, target: CellState) -> None:
    assert can_transition(current, target)
    check_transition(current, target)  # does not raise


def test_staying_in_a_state_is_not_a_transition() -> None:
    for state in CellState:
        check_transition(state, state)


def test_every_pair_outside_the_table_is_refused() -> None:
    refused = 0
    for current in CellState:
        for target in CellState:
            if target == current or target in ALLOWED[current]:
                continue
            refused += 1
            with pytest.raises(TransitionError):
                check_transition(current, target)
    assert refused > 0
    assert issubclass(TransitionError, ValueError)
