"""What each kind of cell does with a run step.

The station runtime and the simulated operators ask this table rather than testing
kind names, so a new kind of cell is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CellKindSpec:
    kind: str
    drivers: tuple[str, ...]
    """Machine drivers that make sense at this kind of cell ("none": no machine)."""
    streams_job: bool
    """Starting the step streams its G-code job file to a GRBL or Marlin machine; a
    line-protocol machine is started for the step's cycles instead, and counts them."""
    labels_before_qa: str
    """What the cell prints when the next step is QA: "units" (serials) or "batch"."""
    inspects: bool = False
    """The QA flow (ISO 2859-1 sampling) runs here."""


KINDS: dict[str, CellKindSpec] = {
    "cut": CellKindSpec("cut", ("grbl", "line", "none"), True, "units"),
    "print": CellKindSpec("print", ("marlin", "line", "none"), True, "units"),
    "finish": CellKindSpec("finish", ("line", "none"), False, "units"),
    "qa": CellKindSpec("qa", ("none",), False, "batch", inspects=True),
}


def spec(kind: str) -> CellKindSpec:
    return KINDS[kind]


GCODE_DRIVERS = ("grbl", "marlin")


def check_driver(kind: str, driver: str) -> str | None:
    """A reason when a station file pairs a kind with a machine it cannot drive."""
    allowed = KINDS[kind].drivers
    if driver not in allowed:
        return f"a {kind} cell drives {', '.join(allowed)}, not {driver!r}"
    return None
