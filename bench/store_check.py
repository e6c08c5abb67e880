"""`cellctl store check` on a long history: seconds and the process's peak RSS.

The demo cut cell's store is filled with about N events (`bench.station_history`,
through the store's own `append_many`); then `cellctl store check` runs in a fresh
process, 3 times: check_s is the median wall time, check_peak_rss_mb the largest peak
RSS. A baseline in the same run: a fresh process that only opens the station's
controller on that store (`open_peak_rss_mb`), so the check's own memory is the
difference.

    python -m bench.store_check --events 200000
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.peak_rss import run_module
from bench.report import Report, parser
from bench.station_history import fill

ROOT = Path(__file__).resolve().parent.parent


def _run(module: str, *args: str) -> tuple[float, float, int]:
    """Wall seconds, peak RSS MB and exit code of one fresh process."""
    t = time.perf_counter()
    rc, _out, _err, peak = run_module(module, *args, cwd=ROOT)
    return time.perf_counter() - t, peak, rc


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--events", type=int, default=200_000)
    args = p.parse_args()
    from cellctl.config.load import load_station
    from cellctl.store.station_store import StationStore

    report = Report()
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "demo"
        shutil.copytree(ROOT / "stations" / "demo", site, ignore=shutil.ignore_patterns("var"))
        station = site / "cut-01.toml"
        loaded = load_station(station)
        loaded.store_path().parent.mkdir(parents=True, exist_ok=True)
        store = StationStore(loaded.store_path(), loaded.id, synchronous="OFF")
        report.add("events", fill(store, args.events), "events")
        store.close()
        _s, open_rss, _rc = _run("bench.kiosk", "--open-only", str(station))
        runs = [_run("cellctl", "store", "check", "--station", str(station)) for _ in range(3)]
        if any(rc for _s, _r, rc in runs):
            raise SystemExit("store check found problems in the filled store")
        report.add("open_peak_rss_mb", round(open_rss, 1), "MB")
        report.add("check_peak_rss_mb", round(max(r for _s, r, _rc in runs), 1), "MB")
    report.emit(("check_s", round(statistics.median(s for s, _r, _rc in runs), 2), "s"), args.json)


if __name__ == "__main__":
    main()
