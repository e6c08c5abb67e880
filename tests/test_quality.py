"""Quality gates run with the tests: lint, format and the import contracts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_check() -> None:
    r = _run(str(BIN / "ruff"), "check", ".")
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_format() -> None:
    r = _run(str(BIN / "ruff"), "format", "--check", ".")
    assert r.returncode == 0, r.stdout + r.stderr


def test_import_contracts() -> None:
    r = _run(str(BIN / "lint-imports"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "broken" in r.stdout and "0 broken" in r.stdout


def _import_circles() -> list[list[str]]:
    """Groups of modules that import each other, directly or round a loop (Tarjan's
    strongly connected components over grimp's import graph)."""
    import grimp

    graph = grimp.build_graph("cellctl", "stations", "firmware_bridge", cache_dir=None)
    mods = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & set(mods)) for m in mods}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    for root in mods:
        if root in index:
            continue
        # Iterative, so a deep chain cannot hit the recursion limit.
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    group.append(m)
                    if m == node:
                        break
                if len(group) > 1:
                    circles.append(sorted(group))
    return circles


def test_no_import_circles() -> None:
    assert _import_circles() == []


def test_circle_finder_sees_a_circle(tmp_path: Path, monkeypatch) -> None:
    # The gate above could pass by finding nothing at all: show it finds a real circle.
    pkg = tmp_path / "cellctl"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cellctl import b\n")
    (pkg / "b.py").write_text("from cellctl import a\n")
    for name in ("stations", "firmware_bridge"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    for mod in [
        m for m in sys.modules if m.split(".")[0] in ("cellctl", "stations", "firmware_bridge")
    ]:
        monkeypatch.delitem(sys.modules, mod)
    assert _import_circles() == [["cellctl.a", "cellctl.b"]]


def test_types() -> None:
    # Strict on domain/, the cell kinds and the seams between applications; the rest at
    # mypy's default level (pyproject.toml, [tool.mypy]).
    r = _run(str(BIN / "mypy"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success: no issues found" in r.stdout


def test_every_type_ignore_names_its_reason() -> None:
    import re

    unexplained = []
    for folder in ("cellctl", "stations", "firmware_bridge"):
        for path in (ROOT / folder).rglob("*.py"):
            for n, line in enumerate(path.read_text().splitlines(), start=1):
                if "type: ignore" in line and not re.search(
                    r"# type: ignore\[[a-z-]+(, ?[a-z-]+)*\]\s+#\s*\S", line
                ):
                    unexplained.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert unexplained == []
