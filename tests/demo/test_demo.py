"""`cellctl demo --headless`: a whole factory runs, totals agree, nothing is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _mosquittos_in(workdir: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "mosquitto" in line and str(workdir) in line]


def test_headless_demo_completes_runs_and_totals_agree(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    r = subprocess.run(
        [sys.executable, "-m", "cellctl", "demo", "--headless", "--duration", "30",
         "--dir", str(workdir)],
        cwd=ROOT, capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    done_line = next(line for line in out.splitlines() if line.startswith("runs completed"))
    assert int(done_line.split(":")[1].split()[0]) >= 1, out
    assert "totals at the scheduler equal the cells' totals: yes" in out
    assert "errors logged: 0" in out
    labels = list((workdir / "site" / "var" / "labels").rglob("*.png"))
    assert labels, "the demo should have printed labels as PNG files"
    assert _mosquittos_in(workdir) == []


def test_ctrl_c_stops_everything_and_a_second_demo_starts(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    for _ in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-m", "cellctl", "demo", "--headless", "--dir", str(workdir)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("[") and "runs done" in line:
                break  # the factory is up and reporting
        children = _children_of(proc.pid)
        assert children, "the demo should have started a broker"
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, "".join(lines) + rest
        assert "totals at the scheduler equal the cells' totals: yes" in rest
        for child in children:
            assert not os.path.exists(f"/proc/{child}") or _is_zombie(child)
        assert _mosquittos_in(workdir) == []


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True
