"""ISO 2859-1 / ANSI/ASQ Z1.4 (= MIL-STD-105E) single sampling: Table I and Tables II-A/B/C.

The master tables are not typed in cell by cell: they are built from the structure the
standard was designed with, and that structure was checked, cell by cell, against
independent transcriptions (see the list at the end of this docstring).

Structure. The sample sizes follow the R5 series (2, 3, 5, 8, 13, ... 2000), as do the 26
AQL columns (0.010 ... 1000). Moving one row down (x1.6 sample size) and one column left
(/1.6 AQL) keeps n x AQL constant, so every plan is constant along a diagonal. With r the
row (A=0 ... R=15, S=16) and c the column (0.010=0 ... 1000=25) the diagonal index is

    normal (II-A)      d = c + r - 14
    tightened (II-B)   d = c + r - 15
    reduced (II-C)     d = c + r - 14   (with the reduced sample sizes of each letter)

and the cell on diagonal d is

    II-A  d<0 down | 0: 0/1 | 1: up   | 2: down | 3..12: 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22
          30/31 44/45
    II-B  d<0 down | 0: 0/1 | 1: down | 2: down | 3..11: 1/2 2/3 3/4 5/6 8/9 12/13 18/19 27/28
          41/42
    II-C  d<0 down | 0: 0/1 | 1: up   | 2: down | 3..12: 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13
          14/17 21/24

Acceptance numbers are capped: in rows F to R (n >= 20 in II-A and II-B; the same letters,
n >= 8, in II-C) the last diagonal is 10 (21/22, 10/13) in normal and reduced and 9 (18/19)
in tightened; beyond the cap, and beyond the last diagonal in rows A-E, the cell is an up
arrow. Exceptions the structure does not give:

- II-B has an extra row S (n = 3150), reached only through down arrows from row R.
- II-B row A has no 0/1 plan: its AQL 10 cell is a down arrow (n = 2 with Ac 0 would be
  looser than the normal plan there).
- II-C rows A, B and C all have n = 2, so rows A and B from AQL 25 up carry their own
  plans (row A repeats the normal row A; row B: 1/3 2/4 3/5 5/6 7/8 10/11 14/15 21/22 30/31).

Arrows: "use the first sampling plan below (above) the arrow". Two cells point off the
table: II-A row A at AQL 10 (an up arrow in row A) and the row-R cells whose down arrow has
no row below. There the only plan the arrow's column holds is the first one in the other
direction, which is what the transcriptions below resolve them to: II-A A/10 -> C (n=5,
1/2), II-A R/0.015 -> P (n=800, 0/1), II-B R/0.015 -> Q (n=1250, 0/1).

Edition. These are the tables of ANSI/ASQ Z1.4 (identical to MIL-STD-105E and to
ISO 2859-1:1989). Reduced plans keep a gap between Ac and Re: a count strictly between
them accepts the lot but reinstates normal inspection (Z1.4 10.1.4). ISO 2859-1:1999
changed its Table 2-C "to eliminate the gap between the acceptance and rejection numbers"
(its foreword, quoted in BS 6001-1:1999); no copy of that table was available to check, so
the 1999 reduced plans are not implemented. Tables 2-A and 2-B are the same in both (the
ISO 1999 plans published by Jenkins et al., PLOS ONE 2023, agree; see the tests). The
switching rules follow ISO 2859-1:1999 (the switching score), see `switching`.

Transcriptions checked against (every cell of the three resolved tables, 16 x 26 x 3):
1. CRAN package AQLSchemes 1.7-2 (J. Lawson, BYU), R/AAZ14Single.R, resolved n/Ac/Re
   matrices of MIL-STD-105E Tables II-A/B/C (mirrored in github.com/fjgonzalezmgt/
   AQLSchemesCust, R/AAZ14Single.R) -- all 1248 resolved cells agree.
2. NIBS FMOC "AC-TABLE.ASC" (www.nibs.org/FMOC/DPW_AC/AC-TABLE.ASC), Tables 1-A/1-B,
   developed from MIL-STD-105E Table II-A/II-B, with the arrows as printed (AQL 0.65-15;
   II-A letters A-Q, II-B letters A-K): every arrow and Re agrees, including II-A A/10
   (up) and II-B A/10 (down). Encoded in tests/quality/test_tables.py.
3. "ANSI Z1.4 Sampling and Inspection Tables, How To Guide" (scribd 423570819): Table I
   (lots 9 to 500 000) and the row-by-row Ac/Re sequences of II-A (rows A-E end at 30/31
   or 44/45, F-R at 21/22).
5. II-C spot values quoted in public Q&A (elsmar.com forum thread 72482: G at AQL 4.0 is
   1/4) and ISO 2859-1:1999 normal plans (Jenkins, Peck, Fernando, figshare 22583454).
So II-A and II-B rest on two transcriptions plus the structure; II-C (reduced) on one full
transcription (1) plus the structure and spot values: no second full copy was found.
Searched for one (Nov 2026) and rejected, so nobody repeats it: open-source calculators in
TypeScript (ISO 2859-1:2026 Ac-only tables, another edition with no Ac/Re gap), VB.NET
(GB/T 2828.1-style reduced plans with Re = Ac + 1), JavaScript (a "qc-checklist" module that
drops the arrows; a port of an Excel VBA calculator whose II-C rows are one shifted copy) and
C# (a GOST simulator that collapses arrows to 0/1 on the code letter's own n; an ABNT NBR 5426
engine its author marks as reconstructed and unchecked). None is a transcription of II-C. The
scanned copies of the standard found (MIL-STD-105E on studylib, ISO 2859-1:1989, Farnum's
tables) hold II-C, but only their opening pages could be read here. The one independent
machine-readable copy found is CRAN package Planesmuestra 0.1 (E. Marroquin), data
milstd105eplans (1274 rows = 49 table rows x 26 AQLs, "t"/"r"/"n", transcribed from
Montgomery, Introduction to SQC, 5th ed.): it holds n and Ac but no Re (its f_milstd105e
prints Re = Ac + 1, wrong for II-C), and it is stored as binary .rda that needs R and CRAN,
neither reachable from this workplace. Encoding it would check n and Ac of II-C, not Re.
The full transcription (1) is kept as tests/quality/data/z14_single_resolved.txt.
4. Table I also against AQLSchemes (SSCodeLetters) and the full Table I of "Plan-Ilha"
   (pt.scribd.com/document/212342834): all 105 cells agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import cast


class Severity(StrEnum):
    """Inspection severity (ISO 2859-1 clause 9)."""

    NORMAL = "normal"
    TIGHTENED = "tightened"
    REDUCED = "reduced"


LEVELS: tuple[str, ...] = ("S-1", "S-2", "S-3", "S-4", "I", "II", "III")
LETTERS = "ABCDEFGHJKLMNPQR"
TIGHTENED_LETTERS = LETTERS + "S"

# Table I: upper bound of each lot-size band -> code letters for S-1, S-2, S-3, S-4, I, II, III.
_TABLE_I: tuple[tuple[int | None, str], ...] = (
    (8, "AAAAAAB"),
    (15, "AAAAABC"),
    (25, "AABBBCD"),
    (50, "ABBCCDE"),
    (90, "BBCCCEF"),
    (150, "BBCDDFG"),
    (280, "BCDEEGH"),
    (500, "BCDEFHJ"),
    (1200, "CCEFGJK"),
    (3200, "CDEGHKL"),
    (10000, "CDFGJLM"),
    (35000, "CDFHKMN"),
    (150000, "DEGJLNP"),
    (500000, "DEGJMPQ"),
    (None, "DEHKNQR"),
)

AQL_VALUES: tuple[str, ...] = (
    "0.010", "0.015", "0.025", "0.040", "0.065", "0.10", "0.15", "0.25", "0.40", "0.65",
    "1.0", "1.5", "2.5", "4.0", "6.5", "10", "15", "25", "40", "65",
    "100", "150", "250", "400", "650", "1000",
)  # fmt: skip
_AQL_DECIMALS = tuple(Decimal(v) for v in AQL_VALUES)

_NORMAL_N = (2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800, 1250, 2000)
SAMPLE_SIZE: dict[Severity, dict[str, int]] = {
    Severity.NORMAL: dict(zip(LETTERS, _NORMAL_N, strict=True)),
    Severity.TIGHTENED: dict(zip(TIGHTENED_LETTERS, (*_NORMAL_N, 3150), strict=True)),
    Severity.REDUCED: dict(
        zip(
            LETTERS,
            (2, 2, 2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800),
            strict=True,
        )
    ),
}

_NORMAL_DIAG = {
    0: (0, 1), 3: (1, 2), 4: (2, 3), 5: (3, 4), 6: (5, 6), 7: (7, 8), 8: (10, 11),
    9: (14, 15), 10: (21, 22), 11: (30, 31), 12: (44, 45),
}  # fmt: skip
_TIGHTENED_DIAG = {
    0: (0, 1), 3: (1, 2), 4: (2, 3), 5: (3, 4), 6: (5, 6), 7: (8, 9), 8: (12, 13),
    9: (18, 19), 10: (27, 28), 11: (41, 42),
}  # fmt: skip
_REDUCED_DIAG = {
    0: (0, 1), 3: (0, 2), 4: (1, 3), 5: (1, 4), 6: (2, 5), 7: (3, 6), 8: (5, 8),
    9: (7, 10), 10: (10, 13), 11: (14, 17), 12: (21, 24),
}  # fmt: skip
_REDUCED_AB_FROM_25 = {
    0: ((1, 2), (2, 3), (3, 4), (5, 6), (7, 8), (10, 11), (14, 15), (21, 22), (30, 31)),
    1: ((1, 3), (2, 4), (3, 5), (5, 6), (7, 8), (10, 11), (14, 15), (21, 22), (30, 31)),
}
_COL_25 = AQL_VALUES.index("25")

UP = "up"
DOWN = "down"
Cell = tuple[int, int] | str


def _normal_cell(r: int, c: int) -> Cell:
    d = c + r - 14
    if d < 0 or d == 2:
        return DOWN
    if d == 1 or d > (12 if r <= 4 else 10):
        return UP
    return _NORMAL_DIAG[d]


def _tightened_cell(r: int, c: int) -> Cell:
    d = c + r - 15
    if d < 0 or d in (1, 2) or (r == 0 and d == 0):
        return DOWN
    if d > (11 if r <= 4 else 9):
        return UP
    return _TIGHTENED_DIAG[d]


def _reduced_cell(r: int, c: int) -> Cell:
    if r in _REDUCED_AB_FROM_25 and c >= _COL_25:
        return _REDUCED_AB_FROM_25[r][c - _COL_25]
    d = c + r - 14
    if d < 0 or d == 2:
        return DOWN
    if d == 1 or d > (12 if r <= 4 else 10):
        return UP
    return _REDUCED_DIAG[d]


def _grid(severity: Severity) -> list[list[Cell]]:
    rows, cell = {
        Severity.NORMAL: (len(LETTERS), _normal_cell),
        Severity.TIGHTENED: (len(TIGHTENED_LETTERS), _tightened_cell),
        Severity.REDUCED: (len(LETTERS), _reduced_cell),
    }[severity]
    return [[cell(r, c) for c in range(len(AQL_VALUES))] for r in range(rows)]


GRIDS: dict[Severity, list[list[Cell]]] = {s: _grid(s) for s in Severity}


class SamplingError(ValueError):
    """A sampling request the tables cannot answer (bad lot size, level or AQL)."""


def parse_aql(value: str | float | Decimal) -> str:
    """The standard AQL column for `value` ("1", "1.0", 1.0 -> "1.0"); raise otherwise."""
    try:
        dec = Decimal(str(value).strip())
    except InvalidOperation:
        raise SamplingError(f"AQL {value!r} is not a number") from None
    for text, d in zip(AQL_VALUES, _AQL_DECIMALS, strict=True):
        if d == dec:
            return text
    raise SamplingError(
        f"AQL {value} is not a column of ISO 2859-1; use one of {', '.join(AQL_VALUES)}"
    )


def parse_level(value: str) -> str:
    level = str(value).strip().upper().replace("S", "S-").replace("--", "-")
    if level not in LEVELS:
        raise SamplingError(f"inspection level {value!r} unknown; use one of {', '.join(LEVELS)}")
    return level


def code_letter(lot_size: int, level: str = "II") -> str:
    """Table I: the sample size code letter for a lot size and inspection level."""
    if isinstance(lot_size, bool) or not isinstance(lot_size, int) or lot_size < 1:
        raise SamplingError(f"lot size must be a whole number of at least 1, got {lot_size!r}")
    column = LEVELS.index(parse_level(level))
    for upper, letters in _TABLE_I:
        if upper is None or lot_size <= upper:
            return letters[column]
    raise AssertionError("the last band of Table I is open-ended")


@dataclass(frozen=True, slots=True)
class TablePlan:
    """One cell of a master table after the arrows are followed."""

    severity: Severity
    aql: str
    code_letter: str
    plan_letter: str
    n: int
    ac: int
    re: int

    @property
    def arrow(self) -> str | None:
        """Which way the arrows led ("down"/"up"), None when the cell is a plan."""
        return arrow_between(self.code_letter, self.plan_letter)


def arrow_between(code_letter: str, plan_letter: str) -> str | None:
    """Which way the arrows led from the code letter to the plan used (None: no arrow)."""
    if plan_letter == code_letter:
        return None
    order = TIGHTENED_LETTERS
    return DOWN if order.index(plan_letter) > order.index(code_letter) else UP


def table_plan(
    letter: str, aql: str | float, severity: Severity | str = Severity.NORMAL
) -> TablePlan:
    """Look up Table II-A/B/C for a code letter and AQL, following the arrows."""
    sev = Severity(severity)
    col = AQL_VALUES.index(parse_aql(aql))
    letters = TIGHTENED_LETTERS if sev is Severity.TIGHTENED else LETTERS
    if letter not in LETTERS:
        raise SamplingError(f"code letter {letter!r} unknown; use one of {', '.join(LETTERS)}")
    grid = GRIDS[sev]
    row = letters.index(letter)
    target = _follow(grid, row, col)
    ac, re = cast(tuple[int, int], grid[target][col])  # _follow stops on a plan, not an arrow
    plan_letter = letters[target]
    return TablePlan(
        sev, AQL_VALUES[col], letter, plan_letter, SAMPLE_SIZE[sev][plan_letter], ac, re
    )


def _follow(grid: list[list[Cell]], row: int, col: int) -> int:
    cell = grid[row][col]
    if isinstance(cell, tuple):
        return row
    step = 1 if cell == DOWN else -1
    for direction in (step, -step):
        i = row + direction
        while 0 <= i < len(grid):
            if isinstance(grid[i][col], tuple):
                return i
            i += direction
    raise AssertionError(f"column {AQL_VALUES[col]} holds no plan")
