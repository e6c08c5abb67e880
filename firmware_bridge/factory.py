"""`open_machine` / `make_machine`: a Machine for a driver name and a port URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from firmware_bridge.link import SerialLink
from firmware_bridge.machine import Machine

DRIVERS = ("grbl", "marlin", "line")


def make_machine(
    driver: str,
    port: str,
    baud: int = 115_200,
    *,
    reconnect: bool = True,
    debug_log: str | None = None,
    sim_options: dict[str, Any] | None = None,
    **options: Any,
) -> Machine:
    """Build the machine object without touching the port (see `open_machine`)."""
    sim = None
    url = port
    if port.startswith("sim://"):
        from firmware_bridge.sim import make_sim

        kind, _, query = port[len("sim://") :].partition("?")
        opts: dict[str, Any] = {"baud": baud, **_sim_query(query), **(sim_options or {})}
        sim = make_sim(kind.strip("/") or driver, **opts).start()
        url = sim.path
    link = SerialLink(url, baud, reconnect=reconnect, debug_log=debug_log)
    if driver == "grbl":
        from firmware_bridge.grbl import GrblMachine

        machine: Machine = GrblMachine(link, **options)
    elif driver == "marlin":
        from firmware_bridge.marlin import MarlinMachine

        machine = MarlinMachine(link, **options)
    elif driver == "line":
        from firmware_bridge.linemachine import LineMachine

        machine = LineMachine(link, **options)
    else:
        if sim is not None:
            sim.stop()
        raise ValueError(f"unknown driver {driver!r}: choose one of {', '.join(DRIVERS)}")
    if sim is not None:
        machine.sim = sim  # type: ignore[attr-defined]  # the simulator rides along
        machine._owned.append(sim)
    return machine


def _sim_query(query: str) -> dict[str, Any]:
    """`time_scale=0.1&noise=0.01` -> options for the simulator."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(query):
        if value.lower() in ("true", "false"):
            out[key] = value.lower() == "true"
        else:
            try:
                out[key] = int(value)
            except ValueError:
                try:
                    out[key] = float(value)
                except ValueError:
                    out[key] = value
    return out


async def open_machine(driver: str, port: str, baud: int = 115_200, **options: Any) -> Machine:
    """Open the port, greet the controller and return the connected Machine.

    `port` is a device or pty path, `loop://`, `socket://host:port`,
    `rfc2217://host:port`, or `sim://grbl|marlin|line[?option=value&...]` (starts that
    simulator on a pseudo-terminal inside this process, e.g. `sim://grbl?time_scale=0.1`).
    Raises LinkError with a reason.
    """
    machine = make_machine(driver, port, baud, **options)
    try:
        await machine.connect()
    except BaseException:
        await machine.close()
        raise
    return machine
