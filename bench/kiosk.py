"""Kiosk responsiveness: start-up, key-to-screen latency, memory after a shift.

- startup_s: what a person waits for when the kiosk starts: a fresh process
  (`python -m cellctl.tui.kiosk.probe`) from process start to the first drawn
  interactive screen of the real kiosk of the demo cut cell, station runtime included
  (broker link, label printer, GRBL simulator, demo camera); no broker needs to be
  reachable. Median of 3.
- keypress_p95_ms: `g` (+1 good, a durable store commit) pressed 300 times in a
  headless run, each timed from the key to the refreshed screen. It includes the wait
  for the wedge detector's verdict (a hotkey acts once the scanner gap, 35 ms, has
  passed with no further key); the baseline is a bare Textual app whose key handler
  only updates a label, in the same run; keypress_after_wedge_verdict_p95_ms is the
  part after the verdict (the action, its store commit and the redraw).
- rss_mb: resident memory after a simulated 8-hour shift (a count every 6 s,
  a scrap every few minutes, defects and downtime) pushed through the kiosk.

With `--history N` (e.g. 1000000) only the start-up against a long history is run:
the demo cut cell's store is filled with about 10,000 events and then with about N
(`bench.station_history`, through the store's own `append_many`), and for each the
kiosk probe is started 3 times: startup_s_10k / startup_s_1m (median seconds to the
first screen) and rss_mb_10k / rss_mb_1m (the probe process's peak RSS, the worst of
the 3). open_s_* / open_rss_mb_* are the station controller alone opening the store
in a fresh process (in-process seconds, median of 3; peak RSS), as the issue measured.
The suffix `1m` names the long run whatever N is; `history_events` says how long it was.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.peak_rss import run_module
from bench.report import Report, parser

ROOT = Path(__file__).resolve().parent.parent


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def startup(station: Path) -> float:
    times = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-m", "cellctl.tui.kiosk.probe", str(station)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


async def keypress_latencies(station: Path, presses: int) -> tuple[list[float], list[float]]:
    """Key to refreshed screen, and the part of it after the wedge detector's verdict
    (the action and the redraw), in ms."""
    from cellctl.station.runtime import open_station
    from cellctl.tui.kiosk.app import KioskApp

    class Timed(KioskApp):
        done: asyncio.Event
        acted_at = 0.0

        def action_good(self) -> None:
            self.acted_at = time.perf_counter()
            super().action_good()
            self.call_after_refresh(self.done.set)

    controller = open_station(station)
    controller.sign_in_badge("OP-ADA")
    controller.offer_assignment(_assignment())
    app = Timed(controller)
    app.done = asyncio.Event()
    out, after_verdict = [], []
    async with app.run_test(size=(80, 24)) as pilot:
        await _accept_and_start(app, pilot)
        for _ in range(presses):
            app.done.clear()
            t = time.perf_counter()
            app.simulate_key("g")
            await app.done.wait()
            now = time.perf_counter()
            out.append((now - t) * 1000)
            after_verdict.append((now - app.acted_at) * 1000)
    good, _ = controller.counts()
    assert good == presses, f"expected {presses} good, counted {good}"
    return out, after_verdict


async def baseline_latencies(presses: int) -> list[float]:
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Bare(App[None]):
        n = 0
        done: asyncio.Event

        def compose(self) -> ComposeResult:
            yield Static("0", id="n")

        def on_key(self) -> None:
            self.n += 1
            self.query_one("#n", Static).update(str(self.n))
            self.call_after_refresh(self.done.set)

    app = Bare()
    app.done = asyncio.Event()
    out = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for _ in range(presses):
            app.done.clear()
            t = time.perf_counter()
            app.simulate_key("g")
            await app.done.wait()
            out.append((time.perf_counter() - t) * 1000)
    return out


async def _accept_and_start(app, pilot) -> None:  # noqa: ANN001
    """Press A and S, and wait until the wedge detector has let them through (a key
    alone acts once the scanner gap has passed)."""
    await app.ready.wait()
    await pilot.press("a", "s")
    deadline = time.monotonic() + 5
    while app.controller.state.value != "running":
        assert time.monotonic() < deadline, f"the step did not start: {app.controller.message}"
        await pilot.pause(0.01)


def _assignment() -> dict[str, object]:
    return {
        "run_id": "R-BENCH",
        "step": 0,
        "kind": "cut",
        "sku": "MUG-ENAMEL",
        "title": "Bench mug",
        "quantity": 5000,
        "due": "2026-11-23T14:00:00Z",
        "batch": "B-BENCH",
    }


async def shift_rss(station: Path) -> float:
    from cellctl.station.runtime import open_station
    from cellctl.tui.kiosk.app import KioskApp

    now = [0.0]
    controller = open_station(station)
    controller.clock = lambda: now[0]
    controller.sign_in_badge("OP-ADA")
    controller.offer_assignment(_assignment())
    app = KioskApp(controller)
    async with app.run_test(size=(80, 24)) as pilot:
        await _accept_and_start(app, pilot)
        for i in range(8 * 3600 // 6):
            now[0] += 6
            if i % 40 == 39:
                controller.count_scrap("BURN")
            else:
                controller.count_good()
            if i % 400 == 399:
                controller.record_defect("SCRATCH", note="bench")
            if i % 1200 == 1199:
                controller.machine_stopped("bench stop")
                controller.record_downtime("JAM")
                controller.end_downtime()
                controller.start_step()
            if i % 50 == 0:
                await pilot.pause()
        await pilot.pause()
        rss = _rss_mb()
    return rss


def _probe(station: Path) -> tuple[float, float]:
    """One kiosk start-up in a fresh process: seconds to the first screen, peak RSS MB."""
    rc, out, err, peak = run_module("cellctl.tui.kiosk.probe", str(station), cwd=ROOT)
    if rc:
        raise SystemExit(f"the kiosk probe failed ({rc}): {err.strip()}")
    return float(out.strip().splitlines()[-1]), peak


def _open_only(station: Path) -> tuple[float, float]:
    """The station controller alone opening its store in a fresh process: in-process
    seconds, and the process's peak RSS MB."""
    rc, out, err, peak = run_module("bench.kiosk", "--open-only", str(station), cwd=ROOT)
    if rc:
        raise SystemExit(f"opening the station failed ({rc}): {err.strip()}")
    return float(out.strip().splitlines()[-1]), peak


def history_startup(n: int, report: Report) -> None:
    from bench.station_history import fill
    from cellctl.config.load import load_station
    from cellctl.store.station_store import StationStore

    with tempfile.TemporaryDirectory() as tmp:
        for label, size in (("10k", 10_000), ("1m", n)):
            site = Path(tmp) / label
            shutil.copytree(ROOT / "stations" / "demo", site, ignore=shutil.ignore_patterns("var"))
            station = site / "cut-01.toml"
            loaded = load_station(station)
            loaded.store_path().parent.mkdir(parents=True, exist_ok=True)
            store = StationStore(loaded.store_path(), loaded.id, synchronous="OFF")
            t = time.perf_counter()
            count = fill(store, size)
            store.close()
            fill_s = time.perf_counter() - t
            runs = [_probe(station) for _ in range(3)]
            opens = [_open_only(station) for _ in range(3)]
            if label == "1m":
                report.add("history_events", count, "events")
                report.add("history_fill_s", round(fill_s, 1), "s")
                mb = loaded.store_path().stat().st_size / 1e6
                report.add("history_store_mb", round(mb, 1), "MB")
            else:
                report.add("history_events_10k", count, "events")
            report.add(f"open_s_{label}", round(statistics.median(s for s, _ in opens), 3), "s")
            report.add(f"open_rss_mb_{label}", round(max(r for _, r in opens), 1), "MB")
            report.add(f"rss_mb_{label}", round(max(r for _, r in runs), 1), "MB")
            report.add(f"startup_s_{label}", round(statistics.median(s for s, _ in runs), 3), "s")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--open-only":
        from cellctl.station.runtime import open_station

        t = time.perf_counter()
        open_station(Path(sys.argv[2]))
        print(f"{time.perf_counter() - t:.4f}")
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--shift-only":
        print(asyncio.run(shift_rss(Path(sys.argv[2]))))
        return
    p = parser(__doc__ or "")
    p.add_argument("--history", type=int, metavar="N", help="only the start-up against N events")
    args = p.parse_args()
    report = Report()
    if args.history:
        history_startup(args.history, report)
        report.emit(report.figures.pop(), args.json)  # startup_s_1m
        return
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "demo"
        shutil.copytree(ROOT / "stations" / "demo", site, ignore=shutil.ignore_patterns("var"))
        station = site / "cut-01.toml"
        report.add("startup_s", round(startup(station), 3), "s")
        base = asyncio.run(baseline_latencies(300))
        kiosk, after_verdict = asyncio.run(keypress_latencies(station, 300))
        p95 = statistics.quantiles(kiosk, n=20)[-1]
        base_p95 = statistics.quantiles(base, n=20)[-1]
        report.add("baseline_keypress_p95_ms", round(base_p95, 2), "ms")
        after_p95 = statistics.quantiles(after_verdict, n=20)[-1]
        report.add("keypress_after_wedge_verdict_p95_ms", round(after_p95, 2), "ms")
        report.add("keypress_vs_baseline_ratio", round(p95 / base_p95, 2))
        fresh = Path(tmp) / "fresh"
        shutil.copytree(ROOT / "stations" / "demo", fresh, ignore=shutil.ignore_patterns("var"))
        shift = subprocess.run(
            [sys.executable, "-m", "bench.kiosk", "--shift-only", str(fresh / "cut-01.toml")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        report.add("rss_mb", round(float(shift.stdout.strip().splitlines()[-1]), 1), "MB")
    report.emit(("keypress_p95_ms", round(p95, 2), "ms"), args.json)


if __name__ == "__main__":
    main()
