"""What the kiosk may ask of a station's runtime: one typed seam (`KioskRuntime`), so the
screen never probes the runtime for what it happens to have. `StationRuntime` is the
one implementation; a test stands one in by subclassing it."""

from __future__ import annotations

from typing import Protocol

from cellctl.station.qa_flow import QAFlow


class MachineActions(Protocol):
    def actions(self) -> list[str]:
        """The operator actions the machine can do now (the kiosk offers only these)."""
        ...


class KioskRuntime(Protocol):
    @property
    def qa(self) -> QAFlow | None:
        """The QA flow at a QA cell, else None."""
        ...

    @property
    def has_printer(self) -> bool: ...

    @property
    def machine_actions(self) -> MachineActions | None:
        """The cell's machine bridge, None when the cell has none."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def handle_scan(self, text: str, origin: str) -> str:
        """One scan from any scanner; what happened, or `Refused`."""
        ...

    async def start_step(self) -> None: ...

    def snapshot(self) -> str | None:
        """A photo from the cell's camera for a defect, its path; None without one."""
        ...

    async def print_labels(self, what: str, serial: str | None = None) -> None: ...

    async def machine_action(self, what: str) -> None: ...
