"""Drive a cell's machine over serial: GRBL cutters, Marlin printers, line-protocol devices.

The station controller needs one call, `open_machine`, and the `Machine` it returns
(see README.md in this package). Names load on first use, so importing a
submodule (the simulators, the CLI's argument definitions) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "DRIVERS": "factory", "make_machine": "factory", "open_machine": "factory",
    "Job": "jobs", "JobError": "jobs", "JobLine": "jobs", "JobProgress": "jobs",
    "JobRefused": "jobs", "JobResult": "jobs",
    "LinkError": "link", "SerialLink": "link",
    "Machine": "machine", "MachineEvent": "machine", "MachineState": "machine",
}  # fmt: skip

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'firmware_bridge' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"firmware_bridge.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
