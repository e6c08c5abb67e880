"""Conservation of units between the steps of a run (pure rules, no I/O).

A unit a step produced good is what the next step can consume. So:

- the first step draws on raw material: it is done when it made the run's quantity good;
- a later step's units are the good units its upstream step delivered (plus units rework
  returned): its good + scrap never exceeds them, and it is done when every one of them
  was either made good or scrapped;
- a step re-queued after work on it was counted goes out with what is left: its quantity
  minus what was already done on it, on any cell;
- a step done short of that is either closed short on purpose (with a reason, by a role
  allowed to) or still open.

The station refuses a count that would break the second rule when its assignment carries
the upstream total; the scheduler re-checks every step when counts arrive (a cell that
was offline could not know) and the site checks (`cellctl store check --site`, the
headless demo, the chaos suite) report any run that breaks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Who may close a step short of its quantity (a machinist asks them).
CLOSE_SHORT_ACTION = "close_short"


@dataclass(frozen=True, slots=True)
class StepCounts:
    """One step of a run as the checks see it: its totals over every cell."""

    index: int
    kind: str
    good: int
    scrap: int
    done: bool
    closed_short: str | None = None
    rework_returned: int = 0


def target(run_quantity: int, upstream_good: int | None, rework_returned: int = 0) -> int:
    """The units a step must account for: the run's quantity at the first step (made
    good), the upstream step's good units (plus rework returns) at a later step."""
    if upstream_good is None:
        return run_quantity
    return upstream_good + rework_returned


def accounted(good: int, scrap: int, *, first: bool) -> int:
    """How much of its target a step has done: good units at the first step (scrap is
    replaced from raw material), good + scrap at a later one (a scrapped unit is gone)."""
    return good if first else good + scrap


def remaining(step_target: int, good: int, scrap: int, *, first: bool) -> int:
    """What is left of a step, counted over every cell that worked on it."""
    return max(0, step_target - accounted(good, scrap, first=first))


def assignment_quantity(
    step_target: int, good_elsewhere: int, scrap_elsewhere: int, *, first: bool
) -> int:
    """The quantity a cell is given: the step's target less what other cells did on it.

    A cell counts a step cumulatively in its own store, so when the step comes back to a
    cell that already counted on it, that cell's own counts stay inside this quantity.
    """
    return max(0, step_target - accounted(good_elsewhere, scrap_elsewhere, first=first))


def count_refusal(
    cell: str,
    *,
    good: int,
    scrap: int,
    add_good: int,
    add_scrap: int,
    available: int | None,
    upstream_kind: str | None,
    upstream_good: int | None = None,
) -> str | None:
    """Why a count would break conservation at this cell, or None when it may be kept.

    `available` is what came to this cell from upstream (None: the cell cannot know, e.g.
    the first step, or an assignment without the upstream total)."""
    if available is None or add_good + add_scrap <= 0:
        return None
    new_good, new_scrap = good + add_good, scrap + add_scrap
    if new_good + new_scrap <= available:
        return None
    src = f"from {upstream_kind}" if upstream_kind else "from the step before"
    have = f"{new_good} good and {new_scrap} scrap" if new_scrap else f"{new_good} good"
    if upstream_good is not None and upstream_good != available:
        return (
            f"{cell} would have {have}, but only {available} of the {upstream_good} that "
            f"came {src} are left for it (other cells did the rest)"
        )
    return f"{cell} would have {have}, but only {available} came {src}"


@dataclass(frozen=True, slots=True)
class Violation:
    run_id: str
    step: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.run_id} step {self.step}: {self.message}"


def check_run(run_id: str, quantity: int, steps: Sequence[StepCounts]) -> list[Violation]:
    """Every conservation rule a run's step totals break (empty when they hold)."""
    out: list[Violation] = []
    ordered = sorted(steps, key=lambda s: s.index)
    upstream: StepCounts | None = None
    for s in ordered:
        first = upstream is None
        if upstream is not None:
            came = upstream.good + s.rework_returned
            if s.good + s.scrap > came:
                out.append(
                    Violation(
                        run_id,
                        s.index,
                        "exceeds_upstream",
                        f"{s.kind} has {s.good} good + {s.scrap} scrap = {s.good + s.scrap}, "
                        f"but only {came} came good from {upstream.kind}",
                    )
                )
        if s.good < 0 or s.scrap < 0:
            out.append(
                Violation(
                    run_id, s.index, "negative", f"{s.kind} has {s.good} good, {s.scrap} scrap"
                )
            )
        if s.done and not s.closed_short:
            want = target(quantity, upstream.good if upstream else None, s.rework_returned)
            done = accounted(s.good, s.scrap, first=first)
            if done < want:
                what = "good" if first else "good + scrap"
                out.append(
                    Violation(
                        run_id,
                        s.index,
                        "done_short",
                        f"{s.kind} is done with {done} {what} of {want}, but was not closed short",
                    )
                )
        upstream = s
    return out
