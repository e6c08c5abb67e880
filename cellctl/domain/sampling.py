"""Acceptance sampling for the QA cell: the plan for a lot, which units to inspect, the verdict.

    plan = plan_for(lot_size=500, level="II", aql="1.0", severity="normal")
    chosen = draw_sample(batch_serials, plan.sample_size, seed)   # seed recorded in the store
    judgement = judge_lot(plan, defects_per_inspected_unit)

The tables themselves live in `aql_tables`; the switching rules in `switching`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from cellctl.domain.aql_tables import (
    AQL_VALUES,
    GRIDS,
    LETTERS,
    SamplingError,
    Severity,
    arrow_between,
    code_letter,
    parse_aql,
    parse_level,
    table_plan,
)

__all__ = [
    "LotJudgement",
    "SamplingError",
    "SamplingPlan",
    "Severity",
    "Verdict",
    "draw_sample",
    "judge_lot",
    "lot_judged_payload",
    "plan_for",
]


@dataclass(frozen=True, slots=True)
class SamplingPlan:
    """A single sampling plan for one lot.

    `n` is the table's sample size. When it is at least the lot size the standard says to
    inspect every unit: `inspect_all` is then true and `sample_size` is the lot size.
    `tighter_ac` is the acceptance number of the same sample size one AQL step tighter,
    which the switching score needs (None when that cell is not a plan or not normal).
    """

    lot_size: int
    level: str
    aql: str
    severity: Severity
    code_letter: str
    plan_letter: str
    n: int
    ac: int
    re: int
    tighter_ac: int | None = None

    @property
    def inspect_all(self) -> bool:
        return self.n >= self.lot_size

    @property
    def sample_size(self) -> int:
        return min(self.n, self.lot_size)

    @property
    def arrow(self) -> str | None:
        """ "down"/"up" when Table II sent the code letter to another plan letter."""
        return arrow_between(self.code_letter, self.plan_letter)

    def to_dict(self) -> dict[str, Any]:
        """The five keys of `cellctl qa plan --json`."""
        return {
            "code_letter": self.code_letter,
            "plan_letter": self.plan_letter,
            "n": self.n,
            "ac": self.ac,
            "re": self.re,
        }


def plan_for(
    lot_size: int,
    level: str = "II",
    aql: str | float = "1.0",
    severity: Severity | str = Severity.NORMAL,
) -> SamplingPlan:
    """Table I then Table II-A/B/C, arrows followed; raises SamplingError on bad input."""
    try:
        sev = Severity(str(severity).lower())
    except ValueError:
        raise SamplingError(
            f"severity {severity!r} unknown; use normal, tightened or reduced"
        ) from None
    lvl = parse_level(level)
    aql_text = parse_aql(aql)
    letter = code_letter(lot_size, lvl)
    cell = table_plan(letter, aql_text, sev)
    return SamplingPlan(
        lot_size=lot_size,
        level=lvl,
        aql=aql_text,
        severity=sev,
        code_letter=letter,
        plan_letter=cell.plan_letter,
        n=cell.n,
        ac=cell.ac,
        re=cell.re,
        tighter_ac=_tighter_ac(sev, cell.plan_letter, aql_text),
    )


def _tighter_ac(severity: Severity, plan_letter: str, aql: str) -> int | None:
    col = AQL_VALUES.index(aql)
    if severity is not Severity.NORMAL or col == 0:
        return None
    cell = GRIDS[Severity.NORMAL][LETTERS.index(plan_letter)][col - 1]
    return cell[0] if isinstance(cell, tuple) else None


def draw_sample(serials: Sequence[str], n: int, seed: str) -> list[str]:
    """Choose `n` of a batch's serials to inspect, reproducibly from `seed`.

    Each serial is ranked by SHA-256(seed, serial) and the `n` lowest are taken, so the
    choice depends only on the seed and the set of serials: not on their order, the Python
    version or the process. The result keeps the batch's order, which is how the units sit
    on the bench. Record the seed with the sample (event `sample_drawn`) to reproduce it.
    """
    if not isinstance(seed, str) or not seed:
        raise SamplingError("a sample needs a non-empty seed (record it to reproduce the draw)")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise SamplingError(f"sample size must be a whole number >= 0, got {n!r}")
    seen: set[str] = set()
    for s in serials:
        if s in seen:
            raise SamplingError(f"serial {s!r} appears twice in the batch")
        seen.add(s)
    if n >= len(serials):
        return list(serials)
    ranked = sorted(serials, key=lambda s: _rank(seed, s))
    chosen = set(ranked[:n])
    return [s for s in serials if s in chosen]


def _rank(seed: str, serial: str) -> bytes:
    return hashlib.sha256(f"{seed}\x1f{serial}".encode()).digest()


class Verdict(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class LotJudgement:
    verdict: Verdict
    inspected: int
    sample_size: int
    nonconforming: int
    ac: int
    re: int
    curtailed: bool = False
    reinstate_normal: bool = False

    @property
    def remaining(self) -> int:
        return 0 if self.verdict is Verdict.REJECTED else self.sample_size - self.inspected

    @property
    def reason(self) -> str:
        counted = f"{self.nonconforming} nonconforming in {self.inspected}/{self.sample_size}"
        if self.verdict is Verdict.PENDING:
            return f"{counted}; {self.remaining} more to inspect (Ac {self.ac}, Re {self.re})"
        if self.verdict is Verdict.REJECTED:
            early = " before the whole sample was inspected" if self.curtailed else ""
            return f"{counted}: reached Re {self.re}{early}"
        if self.reinstate_normal:
            return f"{counted}: above Ac {self.ac}, below Re {self.re}: accept, return to normal"
        return f"{counted}: at most Ac {self.ac}"


def judge_lot(
    plan: SamplingPlan | tuple[int, int, int],
    defects_per_unit: Iterable[int],
    count: Literal["items", "nonconformities"] = "items",
) -> LotJudgement:
    """The lot verdict from the inspection results so far.

    `plan` is a SamplingPlan or (sample_size, ac, re). `defects_per_unit` has one entry per
    inspected unit: the number of nonconformities found on it (0 = conforming). With
    count="items" the lot is judged on nonconforming units (AQL in percent nonconforming);
    with "nonconformities" on their sum (AQL in nonconformities per 100 units).

    Rules (ISO 2859-1 / Z1.4 clause 11.1 and 10.1.4):
    - the lot is rejected as soon as the count reaches Re, even if part of the sample is
      still uninspected (curtailed = True; Re cannot be undone by the remaining units);
    - it is never accepted before the whole sample is inspected (verdict PENDING);
    - with the whole sample inspected: count <= Ac accepts; Ac < count < Re (possible only
      on reduced plans) accepts the lot but reinstates normal inspection.
    """
    if isinstance(plan, SamplingPlan):
        size, ac, re = plan.sample_size, plan.ac, plan.re
    else:
        size, ac, re = plan
    if count not in ("items", "nonconformities"):
        raise SamplingError(f"count must be 'items' or 'nonconformities', got {count!r}")
    if not 0 <= ac < re:
        raise SamplingError(f"a plan needs 0 <= Ac < Re, got Ac {ac}, Re {re}")
    inspected = 0
    found = 0
    for value in defects_per_unit:
        if isinstance(value, bool):
            # "passed" is True in inspection_recorded; a bool here is too easy to invert
            raise SamplingError(
                "give the number of nonconformities per unit (0 = conforming), not True/False"
            )
        if not isinstance(value, int) or value < 0:
            raise SamplingError(f"defects per unit must be whole numbers >= 0, got {value!r}")
        inspected += 1
        if inspected > size:
            raise SamplingError(f"more units inspected than the sample size {size}")
        found += (1 if value else 0) if count == "items" else value
        if found >= re:
            return LotJudgement(
                Verdict.REJECTED, inspected, size, found, ac, re, curtailed=inspected < size
            )
    if inspected < size:
        return LotJudgement(Verdict.PENDING, inspected, size, found, ac, re)
    return LotJudgement(
        Verdict.ACCEPTED, inspected, size, found, ac, re, reinstate_normal=found > ac
    )


def lot_judged_payload(
    batch: str,
    plan: SamplingPlan,
    judgement: LotJudgement,
    *,
    sku: str | None = None,
    resubmitted: bool = False,
) -> dict[str, Any]:
    """The payload of a `lot_judged` event: everything the switching rules, the trace and
    the board need to rebuild the decision without the tables."""
    if judgement.verdict is Verdict.PENDING:
        raise SamplingError("a lot cannot be judged while units of its sample are uninspected")
    return {
        "batch": batch,
        "accepted": judgement.verdict is Verdict.ACCEPTED,
        "sku": sku,
        "lot_size": plan.lot_size,
        "level": plan.level,
        "aql": plan.aql,
        "severity": str(plan.severity),
        "code_letter": plan.code_letter,
        "plan_letter": plan.plan_letter,
        "n": plan.n,
        "ac": plan.ac,
        "re": plan.re,
        "tighter_ac": plan.tighter_ac,
        "inspected": judgement.inspected,
        "nonconforming": judgement.nonconforming,
        "curtailed": judgement.curtailed,
        "reinstate_normal": judgement.reinstate_normal,
        "resubmitted": resubmitted,
    }
