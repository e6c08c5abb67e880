"""Request and response bodies; unknown fields are refused (`extra="forbid"`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
CellKindName = Literal["cut", "print", "finish", "qa"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunIn(_In):
    """A run to make. `id` may be left out: the API gives one (kept with the key)."""

    id: Ident | None = None
    sku: Ident
    quantity: int = Field(ge=1, le=1_000_000)
    unit_margin: float = Field(ge=0, le=1e9)
    due: AwareDatetime
    routing: list[CellKindName] = Field(min_length=1, max_length=16)
    sla: Literal["standard", "express", "critical"] = "standard"
    priority: int = Field(default=0, ge=-1000, le=1000)
    batch: Ident | None = None
    title: str = Field(default="", max_length=200)
    cycle_s: float = Field(default=30.0, gt=0, le=86_400)
    edition_size: int | None = Field(default=None, ge=1, le=1_000_000)


class PriorityIn(_In):
    priority: int = Field(ge=-1000, le=1000)


class RunAccepted(BaseModel):
    run_id: str
    status: Literal["submitted"]
    replayed: bool
    detail: str


class CommandSent(BaseModel):
    run_id: str
    action: Literal["cancel", "prioritise"]
    detail: str


class RunStatus(BaseModel):
    run_id: str
    status: str
    sku: str | None = None
    cells: list[str] = []
    held: bool = False
    submitted: datetime | None = None
    first_start: datetime | None = None
    done: datetime | None = None
    in_progress: list[dict[str, Any]] = []
    ready: list[dict[str, Any]] = []
    counts: dict[str, dict[str, int]] = {}
    created_here: dict[str, Any] | None = None


class RunList(BaseModel):
    time: str | None
    runs: list[dict[str, Any]]
