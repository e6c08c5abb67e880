"""Run one simulator until interrupted, printing the port path a sender should open."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from firmware_bridge.sim import make_sim


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=("grbl", "marlin", "line"))
    p.add_argument("--baud", type=int, default=115_200, help="paced byte rate (default 115200)")
    p.add_argument(
        "--latency", type=float, default=0.002, help="one-way latency in s (default 0.002)"
    )
    p.add_argument("--time-scale", type=float, default=1.0, help="motion/dwell time factor")
    p.add_argument("--link", metavar="PATH", help="stable symlink path to create for the port")
    p.add_argument("--noise", type=float, default=0.0, help="marlin/line: line-noise probability")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--homing", action="store_true", help="grbl: homing enabled (starts locked)")
    p.add_argument("--alarm-after", type=int, help="grbl: hard-limit alarm after N lines")
    p.add_argument(
        "--realtime",
        action="store_true",
        help="ask for real-time scheduling, as a board has its own CPU (needs privileges)",
    )


def options_from(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "baud": args.baud,
        "latency": args.latency,
        "time_scale": args.time_scale,
        "link_path": args.link,
    }
    if args.kind in ("marlin", "line"):
        opts["noise"] = args.noise
        opts["seed"] = args.seed
    if args.kind == "grbl":
        opts["homing"] = args.homing
        opts["alarm_after_lines"] = args.alarm_after
    return opts


def _realtime() -> str:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except (AttributeError, OSError) as exc:
        return f"real-time scheduling refused ({exc}); timing may jitter on a busy host"
    return "real-time scheduling on"


def run(args: argparse.Namespace) -> int:
    note = _realtime() if getattr(args, "realtime", False) else ""
    sim = make_sim(args.kind, **options_from(args)).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(sim.path, flush=True)
    print(
        f"{args.kind} simulator at {args.baud} baud, {args.latency * 1000:g} ms latency; "
        f"Ctrl-C to stop {note}".rstrip(),
        file=sys.stderr,
        flush=True,
    )
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        print(f"simulator stats: {sim.stats()}", file=sys.stderr, flush=True)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m firmware_bridge.sim", description=__doc__)
    add_arguments(p)
    return run(p.parse_args())
