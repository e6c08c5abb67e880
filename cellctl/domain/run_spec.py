"""A production run as submitted (CLI, CSV, MQTT), validated field by field.

Every problem is reported at once, in words a planner can act on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cellctl.domain.model import SLA_WEIGHT, CellKind, SlaTier

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEFAULT_CYCLE_S = 30.0


class RunSpecError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True, slots=True)
class RunSpec:
    id: str
    sku: str
    quantity: int
    unit_margin: float
    due: datetime
    routing: tuple[str, ...]
    title: str = ""
    sla: SlaTier = SlaTier.STANDARD
    manual_priority: int = 0
    batch: str | None = None
    cycle_s: float = DEFAULT_CYCLE_S
    edition_size: int | None = None

    @property
    def weight(self) -> float:
        """Margin at stake per second late: unit margin × quantity × SLA weight."""
        return max(self.unit_margin, 0.01) * self.quantity * SLA_WEIGHT[self.sla]

    @property
    def step_work_s(self) -> float:
        return self.quantity * self.cycle_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sku": self.sku,
            "title": self.title,
            "quantity": self.quantity,
            "unit_margin": self.unit_margin,
            "due": self.due.isoformat(),
            "routing": [str(k) for k in self.routing],
            "sla": str(self.sla),
            "manual_priority": self.manual_priority,
            "batch": self.batch,
            "cycle_s": self.cycle_s,
            "edition_size": self.edition_size,
        }


def parse_due(value: object) -> datetime:
    if isinstance(value, datetime):
        due = value
    elif isinstance(value, str):
        due = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    else:
        raise ValueError(f"expected an ISO date-time, got {value!r}")
    return due if due.tzinfo is not None else due.replace(tzinfo=UTC)


def parse_run(
    data: dict[str, Any], *, default_id: str | None = None, kinds: Collection[str] = ()
) -> RunSpec:
    """Validate an untrusted mapping; routing may be a list or a text like `cut>print>qa`,
    of the built-in cell kinds or of `kinds` (those the installation knows)."""
    problems: list[str] = []
    known = {
        "id", "sku", "title", "quantity", "unit_margin", "due", "routing", "sla",
        "manual_priority", "priority", "batch", "cycle_s", "edition_size", "v",
    }  # fmt: skip
    for key in sorted(set(data) - known):
        problems.append(f"unknown field {key!r}")

    run_id = data.get("id") or default_id
    if not isinstance(run_id, str) or not _ID.match(run_id):
        problems.append(f"id {run_id!r}: letters, digits, '.', '_' or '-', at most 64")
    sku = data.get("sku")
    if not isinstance(sku, str) or not _ID.match(sku):
        problems.append(f"sku {sku!r}: letters, digits, '.', '_' or '-', at most 64")

    def number(key: str, kind: type, default: Any = None, minimum: float | None = None) -> Any:
        raw = data.get(key, default)
        if raw is None or raw == "":
            problems.append(f"{key} is required")
            return None
        try:
            value = kind(raw)
            if isinstance(raw, float) and kind is int and raw != int(raw):
                raise ValueError
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            problems.append(f"{key} must be a {'whole ' if kind is int else ''}number, got {raw!r}")
            return None
        if isinstance(raw, bool) or (minimum is not None and value < minimum):
            problems.append(f"{key} must be at least {minimum}, got {raw!r}")
            return None
        return value

    quantity = number("quantity", int, minimum=1)
    margin = number("unit_margin", float, minimum=0)
    priority = number("manual_priority", int, data.get("priority", 0), minimum=-1000)
    cycle_s = number("cycle_s", float, DEFAULT_CYCLE_S, minimum=0.001)
    edition_size = None
    if data.get("edition_size") not in (None, ""):
        edition_size = number("edition_size", int, minimum=1)
        if edition_size is not None and quantity is not None and quantity > edition_size:
            problems.append(
                f"quantity {quantity} is more than the edition size {edition_size}: "
                "a limited run cannot make more units than its edition"
            )

    due = None
    try:
        due = parse_due(data.get("due"))
    except ValueError:
        shown = data.get("due")
        problems.append(f"due {shown!r}: expected an ISO date-time, e.g. 2026-11-30T12:00Z")

    routing_raw = data.get("routing")
    if isinstance(routing_raw, str):
        routing_raw = [p.strip() for p in re.split(r"[>,\s]+", routing_raw) if p.strip()]
    routing: list[str] = []
    known_kinds = list(dict.fromkeys([*(k.value for k in CellKind), *kinds]))
    if not isinstance(routing_raw, list) or not routing_raw:
        problems.append("routing must list the cell kinds in order, e.g. cut>print>qa")
    else:
        for part in routing_raw:
            if isinstance(part, str) and part in known_kinds:
                routing.append(part)
            else:
                problems.append(
                    f"routing: unknown cell kind {part!r} (known: {', '.join(known_kinds)})"
                )

    sla = SlaTier.STANDARD
    try:
        sla = SlaTier(data.get("sla") or "standard")
    except ValueError:
        problems.append(f"sla {data.get('sla')!r}: one of standard, express, critical")
    batch = data.get("batch") or None
    if batch is not None and (not isinstance(batch, str) or not _ID.match(batch)):
        problems.append(f"batch {batch!r}: letters, digits, '.', '_' or '-', at most 64")
    title = data.get("title") or ""
    if not isinstance(title, str) or len(title) > 200:
        problems.append("title must be a text of at most 200 characters")

    if problems:
        raise RunSpecError(problems)
    # No problem left means each of these was checked above.
    assert isinstance(run_id, str) and isinstance(sku, str) and due is not None
    return RunSpec(
        id=run_id,
        sku=sku,
        title=title,
        quantity=quantity,
        unit_margin=margin,
        due=due,
        routing=tuple(routing),
        sla=sla,
        manual_priority=priority,
        batch=batch,
        cycle_s=cycle_s,
        edition_size=edition_size,
    )
