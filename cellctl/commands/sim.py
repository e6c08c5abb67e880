"""`cellctl sim grbl|marlin|line`: run a device simulator on a pseudo-terminal."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from firmware_bridge.sim.standalone import add_arguments

    p = sub.add_parser(
        "sim",
        help="run a GRBL, Marlin or line-protocol device simulator on a pseudo-terminal",
        description="Start a protocol-faithful simulator, print the port path to open "
        "(point the kiosk or any G-code sender at it) and run until Ctrl-C.",
    )
    add_arguments(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from firmware_bridge.sim.standalone import run

    return run(args)
