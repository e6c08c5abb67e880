"""Run a Python module in a fresh process and read its own peak RSS.

`ru_maxrss` from wait4 is no good here: a child started by fork/vfork carries its
parent's high-water mark over, so a bench that has just filled a big store would
be charged to the child. The child's VmHWM (per address space, fresh after exec)
is printed to stderr at exit by a small wrapper instead.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_WRAPPER = """
import atexit, runpy, sys
def _hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            print('PEAK_RSS_KB', line.split()[1], file=sys.stderr, flush=True)
atexit.register(_hwm)
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)
"""


def run_module(module: str, *args: str, cwd: Path) -> tuple[int, str, str, float]:
    """Exit code, stdout, stderr (without the RSS line) and peak RSS in MB."""
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    peak = float("nan")
    rest = []
    for line in out.stderr.splitlines():
        if line.startswith("PEAK_RSS_KB "):
            peak = int(line.split()[1]) / 1024
        else:
            rest.append(line)
    return out.returncode, out.stdout, "\n".join(rest), peak
