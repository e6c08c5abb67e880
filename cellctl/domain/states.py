"""Cell states and the transitions the station controller may make between them."""

from __future__ import annotations

from enum import StrEnum


class CellState(StrEnum):
    OFFLINE = "offline"
    IDLE = "idle"
    SETUP = "setup"
    RUNNING = "running"
    PAUSED = "paused"
    BLOCKED = "blocked"
    DOWN = "down"


_S = CellState

# Offline is the state seen from outside when a cell stops talking; a cell that
# comes back always passes through idle so it re-announces what it holds.
ALLOWED: dict[CellState, frozenset[CellState]] = {
    _S.OFFLINE: frozenset({_S.IDLE, _S.DOWN}),
    _S.IDLE: frozenset({_S.SETUP, _S.RUNNING, _S.BLOCKED, _S.DOWN, _S.OFFLINE}),
    _S.SETUP: frozenset({_S.RUNNING, _S.IDLE, _S.BLOCKED, _S.DOWN, _S.OFFLINE}),
    _S.RUNNING: frozenset({_S.PAUSED, _S.IDLE, _S.BLOCKED, _S.DOWN, _S.OFFLINE}),
    _S.PAUSED: frozenset({_S.RUNNING, _S.IDLE, _S.BLOCKED, _S.DOWN, _S.OFFLINE}),
    _S.BLOCKED: frozenset({_S.IDLE, _S.SETUP, _S.RUNNING, _S.PAUSED, _S.DOWN, _S.OFFLINE}),
    _S.DOWN: frozenset({_S.IDLE, _S.PAUSED, _S.OFFLINE}),
}

# Andon colours the board and the kiosk use for each state.
ANDON: dict[CellState, str] = {
    _S.OFFLINE: "grey",
    _S.IDLE: "blue",
    _S.SETUP: "yellow",
    _S.RUNNING: "green",
    _S.PAUSED: "yellow",
    _S.BLOCKED: "orange",
    _S.DOWN: "red",
}


class TransitionError(ValueError):
    pass


def can_transition(current: CellState, target: CellState) -> bool:
    return current == target or target in ALLOWED[current]


def check_transition(current: CellState, target: CellState) -> None:
    if not can_transition(current, target):
        allowed = ", ".join(sorted(ALLOWED[current]))
        raise TransitionError(
            f"a cell that is {current} cannot become {target} (from {current}: {allowed})"
        )
