"""Plans against published values: Table I, Tables II-A/B/C with their arrows."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellctl.domain.aql_tables import (
    AQL_VALUES,
    DOWN,
    GRIDS,
    LETTERS,
    UP,
    SamplingError,
    Severity,
    code_letter,
    table_plan,
)
from cellctl.domain.sampling import plan_for

# (lot, level, AQL, severity) -> (code letter, n, Ac, Re), values read from the resolved
# MIL-STD-105E/Z1.4 matrices of the CRAN package AQLSchemes 1.7-2 (R/AAZ14Single.R). They
# cover every band edge of Table I, arrow cells (down, up, off the table), the tightened
# row S and the reduced rows A-C whose sample sizes coincide.
PUBLISHED = [
    (8, "II", "1.0", "normal", "A", 13, 0, 1),
    (9, "II", "1.0", "normal", "B", 13, 0, 1),
    (15, "II", "4.0", "normal", "B", 3, 0, 1),
    (16, "II", "4.0", "normal", "C", 3, 0, 1),
    (25, "III", "2.5", "normal", "D", 5, 0, 1),
    (26, "III", "2.5", "normal", "E", 20, 1, 2),
    (50, "I", "6.5", "normal", "C", 8, 1, 2),
    (51, "I", "6.5", "normal", "C", 8, 1, 2),
    (90, "II", "0.65", "normal", "E", 20, 0, 1),
    (91, "II", "0.65", "normal", "F", 20, 0, 1),
    (150, "II", "1.5", "normal", "F", 32, 1, 2),
    (151, "II", "1.5", "normal", "G", 32, 1, 2),
    (280, "II", "2.5", "normal", "G", 32, 2, 3),
    (281, "II", "2.5", "normal", "H", 50, 3, 4),
    (500, "II", "1.0", "normal", "H", 50, 1, 2),
    (501, "II", "1.0", "normal", "J", 80, 2, 3),
    (1200, "II", "0.40", "normal", "J", 125, 1, 2),
    (1201, "II", "0.40", "normal", "K", 125, 1, 2),
    (3200, "S-4", "1.5", "normal", "G", 32, 1, 2),
    (3201, "S-4", "1.5", "normal", "G", 32, 1, 2),
    (10000, "II", "0.10", "normal", "L", 125, 0, 1),
    (10001, "II", "0.10", "normal", "M", 500, 1, 2),
    (35000, "III", "0.065", "normal", "N", 800, 1, 2),
    (35001, "III", "0.065", "normal", "P", 800, 1, 2),
    (150000, "S-3", "4.0", "normal", "G", 32, 3, 4),
    (150001, "S-3", "4.0", "normal", "G", 32, 3, 4),
    (500000, "II", "0.25", "normal", "P", 800, 5, 6),
    (500001, "II", "0.25", "normal", "Q", 1250, 7, 8),
    (2, "II", "10", "normal", "A", 5, 1, 2),  # up arrow off the top of II-A
    (600000, "III", "0.015", "normal", "R", 800, 0, 1),  # down arrow off the bottom
    (600000, "III", "0.010", "normal", "R", 1250, 0, 1),
    (500, "II", "0.40", "normal", "H", 32, 0, 1),  # up arrow: fewer units than at 0.25
    (500, "II", "0.65", "normal", "H", 80, 1, 2),  # down arrow
    (60, "II", "2.5", "normal", "E", 20, 1, 2),
    (120, "II", "100", "normal", "F", 13, 21, 22),  # Ac capped at 21 from n = 20
    (60, "II", "1000", "normal", "E", 3, 44, 45),
    (20, "II", "1000", "normal", "C", 3, 44, 45),
    (5000, "S-1", "40", "normal", "C", 5, 5, 6),
    (5, "II", "10", "tightened", "A", 8, 1, 2),  # II-B row A has no 0/1 plan
    (600000, "III", "0.015", "tightened", "R", 1250, 0, 1),  # off the bottom, past S
    (600000, "II", "0.025", "tightened", "Q", 3150, 1, 2),  # row S
    (600000, "III", "0.025", "tightened", "R", 3150, 1, 2),
    (1000, "II", "1.0", "tightened", "J", 80, 1, 2),
    (1000, "II", "0.65", "tightened", "J", 125, 1, 2),
    (200, "II", "250", "tightened", "G", 13, 41, 42),
    (3000, "II", "2.5", "tightened", "K", 125, 5, 6),
    (12, "II", "6.5", "tightened", "B", 3, 0, 1),
    (100, "II", "150", "tightened", "F", 13, 27, 28),
    (1000, "II", "1.0", "reduced", "J", 32, 1, 3),
    (1000, "II", "0.65", "reduced", "J", 32, 0, 2),
    (5, "II", "25", "reduced", "A", 2, 1, 2),
    (12, "II", "25", "reduced", "B", 2, 1, 3),
    (20, "II", "1000", "reduced", "C", 2, 30, 31),
    (10, "II", "40", "reduced", "B", 2, 2, 4),
    (600000, "III", "0.010", "reduced", "R", 500, 0, 1),
    (600000, "III", "0.015", "reduced", "R", 315, 0, 1),
    (5000, "II", "2.5", "reduced", "L", 80, 5, 8),
    (2000, "II", "0.10", "reduced", "K", 50, 0, 1),
    (5, "II", "10", "reduced", "A", 2, 0, 2),
    (120, "II", "100", "reduced", "F", 5, 10, 13),
    (200, "II", "4.0", "reduced", "G", 13, 1, 4),  # also quoted on elsmar.com (thread 72482)
]


@pytest.mark.parametrize(("lot", "level", "aql", "severity", "letter", "n", "ac", "re"), PUBLISHED)
def test_plan_matches_published_value(lot, level, aql, severity, letter, n, ac, re) -> None:
    plan = plan_for(lot, level, aql, severity)
    assert (plan.code_letter, plan.n, plan.ac, plan.re) == (letter, n, ac, re)


def test_enough_published_cases() -> None:
    assert len(PUBLISHED) >= 40
    assert {c[3] for c in PUBLISHED} == {"normal", "tightened", "reduced"}


# Second transcription, with the arrows as printed: NIBS FMOC AC-TABLE.ASC, Tables 1-A
# (II-A) and 1-B (II-B), AQL 0.65 ... 15. Numbers are Re; v / ^ arrow heads; | arrow shaft.
NIBS_COLUMNS = ("0.65", "1.0", "1.5", "2.5", "4.0", "6.5", "10", "15")
NIBS_NORMAL = {
    "A": "| | | | v 1 ^ v",
    "B": "| | | v 1 ^ v 2",
    "C": "| | v 1 ^ v 2 3",
    "D": "| v 1 ^ v 2 3 4",
    "E": "v 1 ^ v 2 3 4 6",
    "F": "1 ^ v 2 3 4 6 8",
    "G": "^ v 2 3 4 6 8 11",
    "H": "v 2 3 4 6 8 11 15",
    "J": "2 3 4 6 8 11 15 22",
    "K": "3 4 6 8 11 15 22 ^",
    "L": "4 6 8 11 15 22 ^ |",
    "M": "6 8 11 15 22 ^ | |",
    "N": "8 11 15 22 ^ | | |",
    "P": "11 15 22 ^ | | | |",
    "Q": "15 22 ^ | | | | |",
}
NIBS_TIGHTENED = {
    "A": "| | | | | v | |",
    "B": "| | | | v 1 | v",
    "C": "| | | v 1 | v 2",
    "D": "| | v 1 | v 2 3",
    "E": "| v 1 | v 2 3 4",
    "F": "v 1 | v 2 3 4 6",
    "G": "1 | v 2 3 4 6 9",
    "H": "| v 2 3 4 6 9 13",
    "J": "v 2 3 4 6 9 13 19",
    "K": "2 3 4 6 9 13 19 ^",
}


@pytest.mark.parametrize(
    ("severity", "rows"), [(Severity.NORMAL, NIBS_NORMAL), (Severity.TIGHTENED, NIBS_TIGHTENED)]
)
def test_cells_and_arrows_match_second_transcription(severity, rows) -> None:
    grid = GRIDS[severity]
    checked = 0
    for letter, text in rows.items():
        for aql, token in zip(NIBS_COLUMNS, text.split(), strict=True):
            cell = grid[LETTERS.index(letter)][AQL_VALUES.index(aql)]
            where = f"{severity} {letter}/{aql}"
            if token == "v":
                assert cell == DOWN, where
            elif token == "^":
                assert cell == UP, where
            elif token == "|":
                assert cell in (UP, DOWN), where
            else:
                assert isinstance(cell, tuple) and cell[1] == int(token), where
            checked += 1
    assert checked == 8 * len(rows)


def test_every_column_resolves_from_every_letter() -> None:
    for severity in Severity:
        for letter in LETTERS:
            for aql in AQL_VALUES:
                p = table_plan(letter, aql, severity)
                assert 0 <= p.ac < p.re and p.n >= 2


def test_normal_plans_along_a_diagonal_share_n_times_aql() -> None:
    # the design rule the tables are built from: one row down and one column left keep
    # the plan (for cells that are plans in both places)
    grid = GRIDS[Severity.NORMAL]
    pairs = 0
    for r in range(len(LETTERS) - 1):
        for c in range(1, len(AQL_VALUES)):
            a, b = grid[r][c], grid[r + 1][c - 1]
            if isinstance(a, tuple) and isinstance(b, tuple):
                assert a == b
                pairs += 1
    assert pairs > 100


def test_table_i_band_edges_and_levels() -> None:
    assert [code_letter(n, "II") for n in (2, 8, 9, 15, 16)] == list("AABBC")
    assert code_letter(1, "II") == "A"
    assert [code_letter(10**6, lv) for lv in ("S-1", "S-2", "S-3", "S-4", "I", "II", "III")] == [
        *"DEHKNQR"
    ]
    assert code_letter(280, "s2") == "C"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, "II", "1.0"), "lot size"),
        ((100, "IV", "1.0"), "inspection level"),
        ((100, "II", "1.1"), "not a column"),
        ((100, "II", "abc"), "not a number"),
        ((100, "II", "1.0", "loose"), "severity"),
    ],
)
def test_bad_requests_say_why(args, message) -> None:
    with pytest.raises(SamplingError, match=message):
        plan_for(*args)


def test_n_at_least_lot_size_means_inspect_everything() -> None:
    plan = plan_for(8, "II", "1.0")
    assert plan.n == 13 and plan.inspect_all and plan.sample_size == 8
    big = plan_for(501, "II", "1.0")
    assert not big.inspect_all and big.sample_size == 80


def test_aql_spellings() -> None:
    assert plan_for(500, "II", "1").aql == "1.0"
    assert plan_for(500, "II", 0.65).aql == "0.65"
    assert plan_for(500, "II", ".010").aql == "0.010"


def test_tighter_ac_for_the_switching_score() -> None:
    assert plan_for(501, "II", "1.0").tighter_ac == 1  # J: 2/3 at 1.0, 1/2 at 0.65
    assert plan_for(3201, "II", "2.5").tighter_ac == 7  # L: 10/11 at 2.5, 7/8 at 1.5
    assert plan_for(3201, "II", "2.5", "tightened").tighter_ac is None


DATA = Path(__file__).parent / "data" / "z14_single_resolved.txt"


def test_every_cell_matches_the_full_transcription() -> None:
    rows = [line.split() for line in DATA.read_text().splitlines() if not line.startswith("#")]
    assert len(rows) == 3 * 16
    checked = 0
    for severity, letter, *cells in rows:
        assert len(cells) == len(AQL_VALUES)
        for aql, cell in zip(AQL_VALUES, cells, strict=True):
            p = table_plan(letter, aql, severity)
            assert f"{p.n}/{p.ac}/{p.re}" == cell, f"{severity} {letter}/{aql}"
            checked += 1
    assert checked == 1248


# Published ISO 2859-1:1999 normal plans for lots of 35 001 to 500 000 (Jenkins, Peck and
# Fernando, PLOS ONE 2023, figure 22583454 on figshare): (AQL, level, n, Ac, Re).
ISO_1999 = [
    ("0.65", "S-4", 80, 1, 2),
    ("0.65", "S-3", 20, 0, 1),
    ("0.40", "S-4", 125, 1, 2),
    ("0.40", "S-3", 32, 0, 1),
    ("0.25", "S-4", 50, 0, 1),
    ("0.15", "S-4", 80, 0, 1),
]


@pytest.mark.parametrize(("aql", "level", "n", "ac", "re"), ISO_1999)
@pytest.mark.parametrize("lot", [35001, 500000])
def test_iso_1999_published_normal_plans(lot, aql, level, n, ac, re) -> None:
    plan = plan_for(lot, level, aql)
    assert (plan.n, plan.ac, plan.re) == (n, ac, re)
