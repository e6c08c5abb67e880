"""The chaos suite's fast cases: one of each fault against a real shift of four
stations, the scheduler and Mosquitto (`python -m bench.chaos` runs them all, many
times over, and writes RELIABILITY.md)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bench.chaos import Plan, run_suite

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the full disk needs a tmpfs mount")


@pytest.mark.timeout(480)  # a real shift with eleven faults, each settled and checked
def test_every_fault_loses_nothing_and_counts_nothing_twice(tmp_path: Path) -> None:
    lines: list[str] = []
    checks = run_suite(Plan.quick(), seed=3, workdir=tmp_path, log=lines.append)
    *faults, end = checks
    assert {c.fault for c in faults} == {
        "station SIGKILL", "scheduler SIGKILL", "mosquitto SIGKILL", "broker unreachable",
        "serial cable pulled", "printer out of media", "disk full", "clock jumps backwards",
        "clock jumps forwards", "historian SIGKILL", "historian database restart",
    }  # fmt: skip
    failed = [
        line
        for line in lines
        if line.startswith("FAIL") or "store:" in line or "conservation:" in line
    ]
    assert failed == [], "\n".join(lines)
    assert all(c.ok for c in faults)
    assert [p for c in faults for p in c.conservation] == []
    # The shift did real work through the faults, and no process hit an unhandled error.
    confirmed, runs_done, pages, tracebacks = map(int, re.findall(r"\d+", end.detail))
    assert confirmed > 300 and runs_done >= 2 and pages > 0, end.detail
    assert tracebacks == 0, end.detail
    assert [c.historian_missing for c in faults] == [0] * len(faults)
    # Each cell ran from a folder of its own, holding no other cell's station file.
    for cell in ("cut-01", "print-01", "finish-01", "qa-01"):
        tomls = sorted(p.name for p in (tmp_path / "cells" / cell).glob("*.toml"))
        assert tomls == sorted(["site.toml", f"{cell}.toml"]), tomls
    disk = next(c for c in faults if c.fault == "disk full")
    assert "refused with 'disk is full'" in disk.detail
