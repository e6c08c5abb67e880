"""What the scheduler gives a cell: one step of one run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class AssignmentError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Assignment:
    run_id: str
    step: int
    kind: str
    sku: str
    title: str
    quantity: int
    due: str
    batch: str | None = None
    edition_size: int | None = None
    instructions: str = ""
    job: str | None = None
    next_kind: str | None = None
    assign_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> Assignment:
        if not isinstance(data, dict):
            raise AssignmentError("an assignment must be a JSON object")
        try:
            a = cls(
                run_id=str(data["run_id"]),
                step=int(data["step"]),
                kind=str(data["kind"]),
                sku=str(data.get("sku", "")),
                title=str(data.get("title", "")),
                quantity=int(data.get("quantity", 0)),
                due=str(data.get("due", "")),
                batch=None if data.get("batch") is None else str(data["batch"]),
                edition_size=None
                if data.get("edition_size") is None
                else int(data["edition_size"]),
                instructions=str(data.get("instructions") or ""),
                job=None if data.get("job") is None else str(data["job"]),
                next_kind=None if data.get("next_kind") is None else str(data["next_kind"]),
                assign_id=None if data.get("assign_id") is None else str(data["assign_id"]),
            )
        except KeyError as exc:
            raise AssignmentError(f"assignment lacks {exc.args[0]!r}") from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise AssignmentError(f"assignment has a bad field: {exc}") from None
        if a.quantity < 0 or a.step < 0:
            raise AssignmentError("assignment quantity and step must not be negative")
        return a

    @property
    def edition_text(self) -> str:
        if self.edition_size:
            return f"limited edition of {self.edition_size}"
        return f"{self.quantity} units"
