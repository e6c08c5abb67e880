"""Start-up probe for bench.kiosk: prints seconds from interpreter start to the
first drawn interactive kiosk screen, then exits."""

from __future__ import annotations

import sys
import time
from pathlib import Path


def _process_age_s() -> float:
    # /proc/self/stat field 22 is the start time in clock ticks since boot.
    import os

    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    from cellctl.services.station_runtime import open_station
    from cellctl.tui.kiosk.app import KioskApp

    controller = open_station(sys.argv[1])
    app = KioskApp(controller)

    def ready() -> None:
        app.exit(_process_age_s())

    app.call_after_refresh(ready)
    result = app.run(headless=True, size=(80, 24))
    print(f"{result:.3f}" if isinstance(result, float) else "nan")


if __name__ == "__main__":
    start = time.monotonic()
    main()
