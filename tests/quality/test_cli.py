"""`cellctl qa plan`: text, JSON, the inspect-everything note and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cellctl.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_text_output(capsys) -> None:
    assert main(["qa", "plan", "--lot", "500", "--level", "II", "--aql", "0.65"]) == 0
    out = capsys.readouterr().out
    assert "code letter  H" in out
    assert "plan letter  J (arrow down)" in out
    assert "sample n     80" in out and "accept Ac    1" in out and "reject Re    2" in out
    assert "inspect every unit" not in out


def test_json_has_exactly_the_issue_keys(capsys) -> None:
    args = ["qa", "plan", "--lot", "600000", "--aql", "0.025", "--severity", "tightened"]
    assert main([*args, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {
        "code_letter": "Q",
        "plan_letter": "S",
        "n": 3150,
        "ac": 1,
        "re": 2,
    }
    assert captured.err == ""


def test_says_when_n_is_at_least_the_lot(capsys) -> None:
    assert main(["qa", "plan", "--lot", "6", "--aql", "1.0"]) == 0
    out = capsys.readouterr().out
    assert "n = 13 >= lot size 6: inspect every unit" in out
    assert main(["qa", "plan", "--lot", "6", "--aql", "1.0", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n"] == 13  # stdout stays pure JSON
    assert "inspect every unit" in captured.err


def test_reduced_and_levels(capsys) -> None:
    assert main(["qa", "plan", "--lot", "1000", "--level", "S-4", "--aql", "1.0",
                 "--severity", "reduced", "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out) == {
        "code_letter": "F", "plan_letter": "E", "n": 5, "ac": 0, "re": 1,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lot", "100", "--aql", "1.2"], "not a column of ISO 2859-1"),
        (["--lot", "100", "--aql", "1.0", "--level", "IV"], "inspection level"),
    ],
)
def test_bad_input_is_a_message_not_a_traceback(argv, message) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "cellctl", "qa", "plan", *argv],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1
    assert message in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_bad_lot_is_refused_by_the_parser(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["qa", "plan", "--lot", "0", "--aql", "1.0"])
    assert exc.value.code == 2
    assert "at least 1" in capsys.readouterr().err
