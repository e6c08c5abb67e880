"""The run queue as the board shows it: order, why, ETA and due-date risk.

The scheduler's retained queue snapshot gives the order (its dispatch rule), the
manual priority and the facts behind the order (due date, margin at stake, work
left); a snapshot without them (an older scheduler) makes the board say so instead
of guessing. The board opens no scheduler file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cellctl.domain.dispatch import K_LOOKAHEAD


@dataclass(frozen=True, slots=True)
class RunFacts:
    run_id: str
    sku: str = ""
    quantity: int = 0
    unit_margin: float = 0.0
    weight: float = 0.0
    due_s: float | None = None
    cycle_s: float = 0.0
    steps_left: int = 1
    batch: str | None = None
    status: str = ""


@dataclass(frozen=True, slots=True)
class QueueRow:
    position: int
    run_id: str
    step: int
    kind: str
    priority: int
    due_s: float | None
    weight: float | None
    remaining_s: float | None
    eta_s: float | None  # None: no cell of the kind online to estimate with
    at_risk: bool
    why: str


def _facts_from_row(row: dict[str, Any]) -> RunFacts | None:
    """Forward compatible: a snapshot row that carries the facts itself."""
    if "due_s" not in row:
        return None
    return RunFacts(
        str(row["run_id"]),
        weight=float(row.get("weight") or 0.0),
        due_s=float(row["due_s"]),
        quantity=int(row.get("quantity") or 0),
        cycle_s=float(row.get("work_s") or 0.0) / max(int(row.get("quantity") or 1), 1),
        steps_left=int(row.get("steps_left") or 1),
        sku=str(row.get("sku") or ""),
        batch=str(row["batch"]) if row.get("batch") else None,
    )


def _span(seconds: float) -> str:
    s = abs(seconds)
    text = (
        f"{s / 86400:.1f}d" if s >= 86400 else f"{s / 3600:.1f}h" if s >= 3600 else f"{s / 60:.0f}m"
    )
    return text if seconds >= 0 else f"-{text}"


def queue_rows(
    snapshot: dict[str, Any] | None,
    facts: dict[str, RunFacts],
    cells_per_kind: dict[str, int],
    now_s: float,
) -> list[QueueRow]:
    """The ready steps in the scheduler's order, each with its why, ETA and risk.

    ETA: the work queued ahead of the step for its kind of cell, shared by the
    online cells of that kind, plus the work left in the run (this step and the
    later ones, assuming they flow on without waiting). It is an estimate for a
    person, not a promise: the scheduler re-ranks as things change.
    """
    if not snapshot:
        return []
    ready = [r for r in snapshot.get("ready", []) if isinstance(r, dict) and "run_id" in r]
    works: list[float | None] = []
    resolved: list[RunFacts | None] = []
    for r in ready:
        f = _facts_from_row(r) or facts.get(str(r["run_id"]))
        resolved.append(f)
        works.append(f.quantity * f.cycle_s if f and f.cycle_s else None)
    known = [w for w in works if w]
    p_bar = sum(known) / len(known) if known else 1.0
    ahead: dict[str, float] = {}
    rows = []
    for i, (r, f, work) in enumerate(zip(ready, resolved, works, strict=True)):
        kind = str(r.get("kind", ""))
        prio = int(r.get("priority") or 0)
        if f is None or f.due_s is None or work is None:
            why = f"manual priority {prio}" if prio else "rule order (run facts not available)"
            rows.append(
                QueueRow(
                    i + 1,
                    str(r["run_id"]),
                    int(r.get("step", 0)),
                    kind,
                    prio,
                    None,
                    None,
                    None,
                    None,
                    False,
                    why,
                )  # fmt: skip
            )
            continue
        remaining = work * f.steps_left
        n_cells = cells_per_kind.get(kind, 0)
        eta = now_s + ahead.get(kind, 0.0) / n_cells + remaining if n_cells else None
        ahead[kind] = ahead.get(kind, 0.0) + work
        slack = f.due_s - now_s - remaining
        at_risk = eta is not None and eta > f.due_s
        parts = [] if n_cells else [f"no {kind} cell online"]
        if prio:
            parts.append(f"manual priority {prio}")
        parts.append(f"margin {f.weight:,.0f} at stake")
        parts.append(f"due in {_span(f.due_s - now_s)}")
        if slack <= 0:
            parts.append("no slack: earliest-margin first")
        else:
            urgency = math.exp(-slack / (K_LOOKAHEAD * p_bar))
            parts.append(f"slack {_span(slack)} (urgency {urgency:.2f})")
        rows.append(
            QueueRow(
                i + 1,
                str(r["run_id"]),
                int(r.get("step", 0)),
                kind,
                prio,
                f.due_s,
                f.weight,
                remaining,
                eta,
                at_risk,
                ", ".join(parts),
            )  # fmt: skip
        )
    return rows
