"""The QA cell's state that outlives a call: the batch on offer, the open lot with its
sample and results, the dispositions, and the view the kiosk draws."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cellctl.config.inspection import ChecklistItem, InspectionTemplate, TemplateBook
from cellctl.domain.sampling import LotJudgement, SamplingPlan, judge_lot


class QAStage(StrEnum):
    AWAIT_BATCH = "await_batch"
    AWAIT_UNIT = "await_unit"
    CHECKLIST = "checklist"


class Disposition(StrEnum):
    REWORK = "rework"
    SCRAP = "scrap"
    USE_AS_IS = "use_as_is"
    RETURN_TO_SUPPLIER = "return_to_supplier"


# After sign-off the batch may continue (released) or must stay stopped (held).
RELEASES = {Disposition.REWORK: True, Disposition.USE_AS_IS: True}


@dataclass(frozen=True, slots=True)
class BatchLot:
    """A batch as the QA cell sees it: its SKU and the serials of its units."""

    batch: str
    sku: str
    serials: tuple[str, ...]
    run_id: str | None = None


BatchProvider = Callable[[str], BatchLot | None]
TemplateSource = TemplateBook | Callable[[str], InspectionTemplate]


@dataclass(frozen=True, slots=True)
class ItemResult:
    item_id: str
    ok: bool
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.item_id, "ok": self.ok}
        if self.value is not None:
            d["value"] = self.value
        return d


@dataclass
class OpenLot:
    batch: str
    sku: str
    run_id: str | None
    lot_size: int
    template: InspectionTemplate
    plan: SamplingPlan
    seed: str
    sample: list[str]
    key: str
    resubmitted: bool
    results: dict[str, int] = field(default_factory=dict)
    current: str | None = None
    unverified: set[str] = field(default_factory=set)  # chosen by typed serial, unsigned

    def judgement(self) -> LotJudgement:
        return judge_lot(self.plan, list(self.results.values()), self.template.inspection.count)

    @property
    def remaining(self) -> list[str]:
        return [s for s in self.sample if s not in self.results]


@dataclass(frozen=True)
class QAView:
    """What a QA screen draws."""

    stage: QAStage
    batch: str | None
    sku: str | None
    plan: SamplingPlan | None
    sample: list[str]
    inspected: dict[str, int]
    remaining: list[str]
    current: str | None
    checklist: list[ChecklistItem]
    judgement: LotJudgement | None
    severity: str | None
    last_verdict: dict[str, Any] | None
    open_ncrs: list[dict[str, Any]]
    message: str
