"""The typed seams hold: nothing outside the station controller reaches its private parts
or writes its fields (it offers `commit`, `event`, `need_role`, `say`, `note_devices`...),
and the kiosk talks to its runtime through `KioskRuntime` only, never by probing it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTROLLER = ROOT / "cellctl" / "station" / "controller.py"
# Names the controller goes by where it is used.
HOLDERS = {"c", "controller", "ctl"}


def _controller_fields() -> set[str]:
    tree = ast.parse(CONTROLLER.read_text())
    fields = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        ):
            fields.add(node.attr)
    return fields


def _is_controller(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in HOLDERS
    return isinstance(node, ast.Attribute) and node.attr in HOLDERS


def _reaches(source: str, fields: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or not _is_controller(node.value):
            continue
        private = node.attr.startswith("_") and not node.attr.startswith("__")
        if private:
            found.append(f"line {node.lineno}: uses .{node.attr}")
        elif isinstance(node.ctx, ast.Store) and node.attr in fields:
            found.append(f"line {node.lineno}: writes .{node.attr}")
    return found


def test_nothing_reaches_into_the_controller() -> None:
    fields = _controller_fields()
    assert {"message", "printer_state", "state"} <= fields  # the scan sees the fields
    offenders = {}
    for path in [*ROOT.glob("cellctl/**/*.py"), *ROOT.glob("stations/**/*.py")]:
        if path == CONTROLLER:
            continue
        found = _reaches(path.read_text(), fields)
        if found:
            offenders[str(path.relative_to(ROOT))] = found
    assert offenders == {}


def test_the_scan_sees_a_reach_in() -> None:
    fields = _controller_fields()
    bad = "def f(c, self):\n    c._commit()\n    self.controller.message = 'x'\n    c.say('ok')\n"
    assert sorted(_reaches(bad, fields)) == ["line 2: uses ._commit", "line 3: writes .message"]


def test_the_kiosk_never_probes_its_runtime() -> None:
    for path in ROOT.glob("cellctl/tui/kiosk/*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("hasattr", "getattr")
            ):
                target = ast.unparse(node.args[0]) if node.args else ""
                assert "runtime" not in target, f"{path.name}:{node.lineno}: {ast.unparse(node)}"
