"""What a kind of cell does, behind one small interface.

A cell kind says which machines make sense at it, how its step starts the machine,
what it prints when the units go on to QA, and whether the QA flow runs there. The
station controller, its runtime and the simulated people ask the kind, never its name,
so a new kind (a laser, a packing cell) is one module here and a station file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GCODE_DRIVERS = ("grbl", "marlin")

MachineStart = Literal["job", "cycles", "none"]


@dataclass(frozen=True, slots=True)
class CellKind:
    name: str
    drivers: tuple[str, ...]
    """Machine drivers that make sense at this kind of cell ("none": no machine)."""
    streams_job: bool
    """Starting the step streams its G-code job file to a GRBL or Marlin machine; a
    line-protocol machine is started for the step's cycles instead, and counts them."""
    labels_before_qa: Literal["units", "batch"]
    """What the cell prints when the next step is QA: serial labels or a traveller."""
    inspects: bool = False
    """The QA flow (ISO 2859-1 sampling) runs here."""

    def check_driver(self, driver: str) -> str | None:
        """Why a station file may not pair this kind with `driver`, or None."""
        if driver not in self.drivers:
            return f"a {self.name} cell drives {', '.join(self.drivers)}, not {driver!r}"
        return None

    def wants_job_file(self, driver: str) -> bool:
        """Does a step here look for its G-code job file (jobs/SKU-kind.gcode)?"""
        return self.streams_job and driver in GCODE_DRIVERS

    def machine_start(self, driver: str, has_job: bool) -> MachineStart:
        """What starting the step does to the machine."""
        if has_job and self.streams_job:
            return "job"
        if driver == "line":
            return "cycles"
        return "none"

    def labels_when_done(self, next_kind: str | None) -> Literal["units", "batch"]:
        """What the cell prints as the units leave: serials before QA, else a traveller."""
        return self.labels_before_qa if next_kind == "qa" else "batch"
