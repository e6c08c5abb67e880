"""The production model: runs, steps, batches, units, defects and downtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class CellKind(StrEnum):
    CUT = "cut"
    PRINT = "print"
    FINISH = "finish"
    QA = "qa"


class Role(StrEnum):
    MACHINIST = "machinist"
    QA = "qa"
    SUPERVISOR = "supervisor"


# Actions that need more than a machinist (checked in the controller and the
# scheduler, not only hidden in the UI).
PRIVILEGED_ACTIONS: dict[str, frozenset[Role]] = {
    "scrap_override": frozenset({Role.QA, Role.SUPERVISOR}),
    "reprint": frozenset({Role.QA, Role.SUPERVISOR}),
    "qc_release": frozenset({Role.QA, Role.SUPERVISOR}),
    "void_label": frozenset({Role.QA, Role.SUPERVISOR}),
    "qa_inspect": frozenset({Role.QA, Role.SUPERVISOR}),
    "ncr_signoff": frozenset({Role.QA, Role.SUPERVISOR}),
    "prioritise": frozenset({Role.SUPERVISOR}),
    "cancel_run": frozenset({Role.SUPERVISOR}),
    # Ending a step short of its quantity (domain.conservation.CLOSE_SHORT_ACTION).
    "close_short": frozenset({Role.QA, Role.SUPERVISOR}),
    "unlock_machine": frozenset({Role.MACHINIST, Role.QA, Role.SUPERVISOR}),
}


def role_allows(role: Role | str | None, action: str) -> bool:
    allowed = PRIVILEGED_ACTIONS.get(action)
    if allowed is None:
        return role is not None
    return role is not None and Role(role) in allowed


class Severity(StrEnum):
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class SlaTier(StrEnum):
    STANDARD = "standard"
    EXPRESS = "express"
    CRITICAL = "critical"


SLA_WEIGHT = {SlaTier.STANDARD: 1.0, SlaTier.EXPRESS: 1.5, SlaTier.CRITICAL: 2.5}


class StepStatus(StrEnum):
    PENDING = "pending"
    ASSIGNED = "assigned"
    RUNNING = "running"
    DONE = "done"


@dataclass(slots=True)
class Step:
    index: int
    kind: CellKind
    status: StepStatus = StepStatus.PENDING
    cell: str | None = None
    good: int = 0
    scrap: int = 0


@dataclass(slots=True)
class Run:
    id: str
    sku: str
    title: str
    quantity: int
    unit_margin: float
    due: datetime
    routing: tuple[CellKind, ...]
    edition_size: int | None = None
    sla: SlaTier = SlaTier.STANDARD
    manual_priority: int = 0
    batch: str | None = None
    steps: list[Step] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise ValueError("a run needs a quantity of at least 1")
        if not self.routing:
            raise ValueError("a run needs at least one cell kind in its routing")
        if self.edition_size is not None and self.quantity > self.edition_size:
            raise ValueError("a limited run cannot make more units than its edition size")
        if not self.steps:
            self.steps = [Step(i, kind) for i, kind in enumerate(self.routing)]

    @property
    def is_limited(self) -> bool:
        return self.edition_size is not None


@dataclass(frozen=True, slots=True)
class Unit:
    serial: str
    run_id: str
    batch: str | None
    n: int
    edition_size: int | None = None

    @property
    def edition(self) -> str | None:
        return None if self.edition_size is None else f"{self.n}/{self.edition_size}"


@dataclass(frozen=True, slots=True)
class DefectType:
    code: str
    description: str
    severity: Severity


@dataclass(frozen=True, slots=True)
class DowntimeReason:
    code: str
    text: str
    planned: bool = False
