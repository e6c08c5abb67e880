"""Start-up probe for bench.kiosk: prints the seconds from process start to the first
interactive screen of the real kiosk (station runtime included: broker link, printer,
machine bridge, camera), then exits.

    python -m cellctl.tui.kiosk.probe STATION.toml
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path


def process_age_s() -> float:
    """Seconds since this process started (exec), from /proc: interpreter start-up and
    every import count, as they do for the person waiting at the kiosk."""
    # /proc/self/stat field 22 is the start time in clock ticks since boot.
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - ticks / os.sysconf("SC_CLK_TCK")


async def _run(station: str) -> float:
    from cellctl.tui.kiosk.app import build_kiosk

    app = build_kiosk(station)
    running = asyncio.create_task(app.run_async(headless=True, size=(80, 24)))
    ready = asyncio.create_task(app.ready.wait())
    await asyncio.wait({running, ready}, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        await running  # raises what stopped the kiosk before its first screen
        raise SystemExit("the kiosk exited before its first screen")
    age = process_age_s()
    app.exit()
    await running
    return age


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m cellctl.tui.kiosk.probe STATION.toml")
    print(f"{asyncio.run(_run(sys.argv[1])):.3f}")


if __name__ == "__main__":
    main()
