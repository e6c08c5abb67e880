"""Every command answers --help, and the set-up command is idempotent."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from cellctl.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def _all_command_paths() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    paths.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return paths


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    paths = _all_command_paths()
    assert ["config", "check"] in paths and ["store", "rebuild"] in paths
    for path in paths:
        with pytest.raises(SystemExit) as exit_info:
            main([*path, "--help"])
        assert exit_info.value.code == 0, path
        out = capsys.readouterr().out
        assert out.startswith("usage: cellctl " + " ".join(path)), path


def test_python_dash_m_cellctl() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "cellctl", "--version"], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stdout.startswith("cellctl ")


def test_setup_is_idempotent_and_skips_work_done() -> None:
    r = subprocess.run(["./dev", "setup"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    again = subprocess.run(["./dev", "setup"], cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0
    assert "setup:" not in again.stderr, again.stderr


def test_errors_print_on_one_line_or_as_an_indented_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = tmp_path / "one.toml"
    one.write_text('[station]\nid = "c"\nkind = "cut"\ncolour = 1\n')
    assert main(["kiosk", "--station", str(one)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"cellctl kiosk: {one}: station.colour")
    two = tmp_path / "two.toml"
    two.write_text('[station]\nid = "c"\nkind = "cut"\ncolour = 1\nshape = 2\n')
    assert main(["kiosk", "--station", str(two)]) == 1
    head, *block = capsys.readouterr().err.splitlines()
    assert head == f"cellctl kiosk: {two}: 2 problems"
    assert len(block) == 2 and all(b.startswith("  station.") for b in block)
