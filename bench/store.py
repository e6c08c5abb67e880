"""Station store throughput at the stated durability (WAL, synchronous=FULL).

Baseline in the same run: bare sqlite3 single-row commits on the same disk with
the same pragmas, so the ratio shows what the store's own work costs.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

from bench.report import Report, parser
from cellctl.domain.events import Event
from cellctl.store.station_store import StationStore


def _event(i: int) -> Event:
    return Event(
        "units_counted",
        "bench-01",
        {"run_id": f"R{i % 7}", "step": i % 3, "good": 1, "scrap": 0},
        operator="OP-BENCH",
    )


def _rate(n: int, fn) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def bare_commits(path: Path, n: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")

    def run() -> None:
        for i in range(n):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (v) VALUES (?)", (str(i),))
            conn.execute("COMMIT")

    rate = _rate(n, run)
    conn.close()
    return rate


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    report = Report()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        n_single, n_batch, batch = 3000, 100_000, 1000
        baseline = bare_commits(d / "bare.db", n_single)
        store = StationStore(d / "bench.db", "bench-01")
        single = _rate(n_single, lambda: [store.append(_event(i)) for i in range(n_single)])

        def batches() -> None:
            for b in range(n_batch // batch):
                store.append_many(_event(b * batch + i) for i in range(batch))

        batched = _rate(n_batch, batches)
        serials = _rate(
            n_single,
            lambda: [
                store.allocate_serials(1, scope=f"R{i % 5}", sku="MUG", batch=f"R{i % 5}")
                for i in range(n_single)
            ],
        )
        assert store.check() == []
        report.add("bare_sqlite_commits_per_s", round(baseline), "commits/s")
        report.add("single_commits_per_s", round(single), "commits/s")
        report.add("single_vs_bare_ratio", round(single / baseline, 3))
        report.add("serials_per_s", round(serials), "allocations/s")
        store.close()
    report.emit(("events_per_s", round(batched), "events/s"), args.json)


if __name__ == "__main__":
    main()
