"""The live floor as the board holds it: a tile per cell, and the checks a message
passes before the board does arithmetic on it."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from cellctl.bus.codec import (
    PayloadError,
)
from cellctl.domain.events import Event
from cellctl.domain.states import ANDON, CellState

log = logging.getLogger(__name__)

_NUMBERS = {
    "units_counted": ("step", "good", "scrap", "reworked"),
    "count_undone": ("step", "good", "scrap", "reworked"),
    "defect_recorded": ("count",),
    "run_step_started": ("step",),
    "run_step_completed": ("step",),
    "run_step_released": ("step",),
}


@dataclass
class CellTile:
    """What the board knows of one cell."""

    cell: str
    kind: str | None = None
    state: str = "unknown"
    online: bool = False
    operator: str | None = None
    run_id: str | None = None
    step: int | None = None
    good: int | None = None
    scrap: int | None = None
    outbox: int = 0
    printer: str | None = None
    scanner: str | None = None
    machine: str | None = None
    link: str | None = None
    cell_time: str | None = None
    received: float = 0.0
    state_since: float = 0.0
    last_seq: int = 0
    gaps: int = 0
    event_good: int = 0
    event_scrap: int = 0
    stale: bool = False
    events: deque[Event] = field(default_factory=lambda: deque(maxlen=500))

    @property
    def counts(self) -> tuple[int, int]:
        """The cell's own figures for its current step when it sends both, else what we counted."""
        if self.good is not None and self.scrap is not None:
            return self.good, self.scrap or 0
        return self.event_good, self.event_scrap

    @property
    def yield_(self) -> float | None:
        good, scrap = self.counts
        return good / (good + scrap) if good + scrap else None

    @property
    def andon(self) -> str:
        if self.stale:
            return "grey"
        try:
            return ANDON[CellState(self.state)]
        except ValueError:
            return "grey"


def check_numbers(e: Event) -> None:
    """Event validation checks keys, not types: a count that is not a small whole number
    would break the metrics later, so it is refused here, at the door."""
    for key in _NUMBERS.get(e.type, ()):
        value = e.payload.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1_000_000:
            raise PayloadError(f"{e.type} {key} must be a whole number 0..1000000, got {value!r}")


def clean_queue(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The scheduler's queue snapshot with every row checked: what the board does arithmetic
    on must be numbers, and a row that is not usable is refused with the whole snapshot."""
    ready = snapshot.get("ready", [])
    if not isinstance(ready, list) or len(ready) > 10_000:
        raise PayloadError("queue snapshot: ready must be a list")
    clean = []
    for row in ready:
        if not isinstance(row, dict):
            raise PayloadError("queue snapshot: a ready row is not an object")
        rid, step, prio = row.get("run_id"), row.get("step", 0), row.get("priority") or 0
        if not isinstance(rid, str) or not rid or len(rid) > 64:
            raise PayloadError(f"queue snapshot: run_id {rid!r}")
        for name, value in (("step", step), ("priority", prio)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise PayloadError(f"queue snapshot: {name} {value!r} of run {rid}")
        for name in ("due_s", "weight", "work_s", "quantity", "steps_left"):
            if name in row and not isinstance(row[name], int | float):
                raise PayloadError(f"queue snapshot: {name} {row[name]!r} of run {rid}")
        clean.append({**row, "kind": str(row.get("kind", "")), "step": step, "priority": prio})
    return {**snapshot, "ready": clean}


def short_word(value: Any) -> str | None:
    """A status health field as one word (it may be a dict with a state or text)."""
    if value is None:
        return None
    if isinstance(value, dict):
        for key in ("state", "status", "text"):
            if key in value:
                return str(value[key])[:40]
        return "?"
    return str(value)[:40]
