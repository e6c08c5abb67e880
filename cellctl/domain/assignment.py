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
    # Conservation (domain.conservation): the step's own target, the good units its
    # upstream step delivered (None at the first step, or from a scheduler that does not
    # say) and that step's kind. `quantity` is the target less what other cells did.
    step_quantity: int | None = None
    upstream_good: int | None = None
    upstream_kind: str | None = None
    # When the run was submitted (the start of its lead time, `domain.sku_report`).
    submitted_at: str | None = None

    @property
    def first_step(self) -> bool:
        """Draws on raw material: done when `quantity` units are good."""
        return self.upstream_good is None

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
                step_quantity=_opt_int(data.get("step_quantity")),
                upstream_good=_opt_int(data.get("upstream_good")),
                upstream_kind=None
                if data.get("upstream_kind") is None
                else str(data["upstream_kind"]),
                submitted_at=None
                if data.get("submitted_at") is None
                else str(data["submitted_at"]),
            )
        except KeyError as exc:
            raise AssignmentError(f"assignment lacks {exc.args[0]!r}") from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise AssignmentError(f"assignment has a bad field: {exc}") from None
        if a.quantity < 0 or a.step < 0 or (a.upstream_good or 0) < 0:
            raise AssignmentError("assignment quantity and step must not be negative")
        return a

    @property
    def edition_text(self) -> str:
        if self.edition_size:
            return f"limited edition of {self.edition_size}"
        return f"{self.quantity} units"


def _opt_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise AssignmentError(f"assignment has a bad number: {value!r}")
    try:
        return int(value)
    except ValueError:
        raise AssignmentError(f"assignment has a bad number: {value!r}") from None
