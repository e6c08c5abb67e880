"""`cellctl runs ...`: clear errors for unknown runs, bad fields and missing rights."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cellctl.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def site(tmp_path: Path) -> list[str]:
    shutil.copy(ROOT / "stations/demo/site.toml", tmp_path / "site.toml")
    return ["--site", str(tmp_path / "site.toml")]


def _submit(site: list[str], run_id: str, *extra: str) -> int:
    fields = ["--sku", "MUG", "--quantity", "4", "--margin", "2", "--due", "2026-12-01T09:00Z"]
    return main(["runs", "submit", *site, "--id", run_id, *fields, "--routing", "cut>qa", *extra])


def test_runs_commands(site: list[str], capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert _submit(site, "R1") == 0
    assert _submit(site, "R1") == 1
    assert "exists already" in capsys.readouterr().err
    assert main(["runs", "submit", *site, "--id", "R2", "--sku", "MUG", "--quantity", "0",
                 "--margin", "x", "--due", "soon", "--routing", "cut>weld"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    for part in ("quantity must be at least 1", "unit_margin", "due 'soon'", "'weld'"):
        assert part in err
    assert "Traceback" not in err
    assert main(["runs", "prioritise", *site, "R1", "3", "--by", "OP-ADA"]) == 1
    assert "needs a supervisor" in capsys.readouterr().err
    assert main(["runs", "prioritise", *site, "NOPE", "3", "--by", "OP-SAM"]) == 1
    assert "no run 'NOPE'" in capsys.readouterr().err
    assert main(["runs", "prioritise", *site, "R1", "3", "--by", "OP-SAM"]) == 0
    csv = tmp_path / "plan.csv"
    csv.write_text(
        "id,sku,quantity,unit_margin,due,routing\n"
        "C1,CUP,5,2,2026-12-01T10:00Z,print>qa\n"
        "C2,CUP,-1,2,2026-12-01,qa\n"
    )
    assert main(["runs", "import", *site, str(csv)]) == 1
    assert "plan.csv:3: quantity" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["runs", "list", *site]) == 0
    out = capsys.readouterr().out
    assert "R1" in out and "C1" not in out  # the bad file imported nothing
    assert main(["runs", "cancel", *site, "R1", "--by", "OP-SAM"]) == 0
    assert main(["runs", "cancel", *site, "R1", "--by", "OP-SAM"]) == 1
    assert "cancelled already" in capsys.readouterr().err
