"""Protocol-faithful device simulators on real pseudo-terminals."""

from __future__ import annotations

from firmware_bridge.sim.wire import SimDevice


def make_sim(kind: str, **options: object) -> SimDevice:
    """Build (not start) the simulator for `kind`: grbl, marlin or line."""
    if kind == "grbl":
        from firmware_bridge.sim.grbl import GrblSim

        return GrblSim(**options)  # type: ignore[arg-type]  # options from the sim:// URL
    if kind == "marlin":
        from firmware_bridge.sim.marlin import MarlinSim

        return MarlinSim(**options)  # type: ignore[arg-type]  # options from the sim:// URL
    if kind == "line":
        from firmware_bridge.sim.linedev import LineDeviceSim

        return LineDeviceSim(**options)  # type: ignore[arg-type]  # options from the sim:// URL
    raise ValueError(f"no simulator for {kind!r}: choose grbl, marlin or line")


__all__ = ["SimDevice", "make_sim"]
