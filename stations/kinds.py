"""The cell kinds this installation knows: the four of the demo, and any registered.

from stations.kinds import register, spec
register(CellKind("laser", ...))       # a new kind: its module calls this
spec("cut").machine_start("grbl", has_job=True)
"""

from __future__ import annotations

from stations import cut, finish, print_cell, qa
from stations.kind import GCODE_DRIVERS, CellKind

__all__ = ["GCODE_DRIVERS", "KINDS", "CellKind", "check_driver", "names", "register", "spec"]

KINDS: dict[str, CellKind] = {k.name: k for k in (cut.KIND, print_cell.KIND, finish.KIND, qa.KIND)}


def register(kind: CellKind) -> None:
    """Make a new kind known (a second registration of a name replaces the first)."""
    KINDS[kind.name] = kind


def unregister(name: str) -> None:
    KINDS.pop(name, None)


def names() -> tuple[str, ...]:
    return tuple(KINDS)


def spec(kind: str) -> CellKind:
    """The kind of this name; KeyError names the known ones."""
    try:
        return KINDS[kind]
    except KeyError:
        raise KeyError(
            f"{kind!r} is not a cell kind this cellctl knows ({', '.join(KINDS)})"
        ) from None


def check_driver(kind: str, driver: str) -> str | None:
    """A reason when a station file pairs a kind with a machine it cannot drive."""
    return spec(kind).check_driver(driver)
