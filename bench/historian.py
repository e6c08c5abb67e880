"""The site historian: ingest through Mosquitto, and trace and report on a large history,
on SQLite and on PostgreSQL side by side.

- ingest_events_per_s: 20 cells publish events at QoS 1 through a real Mosquitto (from
  another process) as fast as they can; the historian stores them (sustained: events over
  the time from the first publish until the last event is stored); ingest_events_per_cpu_s:
  the same events over the CPU time the historian's process spent (on a shared machine
  the wall-clock figure says more about the neighbours);
- trace_unit_p50_ms / _p95_ms, trace_batch_p50_ms / _p95_ms: the genealogy of one serial
  and of one batch (the historian's indexed query and the domain trace), over a sample
  of serials and batches, on a history of --history events (default 5 million: a year of
  a ten-cell site), loaded in bulk, not through the bus;
- trace_growth_ratio: the same queries' median on the full history over the median on a
  tenth of it (the cost follows the answer, not the history: target <= 1.5);
- report_month_cell_s / report_month_s: a month's report for one cell and for the site;
- the same names with a `_pg` suffix for PostgreSQL (a throwaway cluster on a free port);
- store_mb_90d_retained / store_mb_90d_unbounded / store_90d_ratio: a busy cell's station
  store after 90 simulated days (about 2,740 events a day, through `append_many`), pruned
  with a 30-day retention and the historian's confirmation up to the end, against kept
  whole; both after VACUUM (bench/store_retention.py; --quick: a quarter of the rate).

    python -m bench.historian            # the full run (loads 5M events per backend)
    python -m bench.historian --quick    # 200k events, a smaller ingest
    python -m bench.historian --store-only [--quick]   # the station store figures only
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.report import Report, parser
from cellctl.domain import metrics
from cellctl.historian import queries
from cellctl.historian.backends import open_store
from cellctl.historian.store import HistorianStore
from cellctl.historian.synth import SiteHistory

ALL_DAY = [metrics.ShiftSpec("all day", "00:00", "00:00", days=metrics.WEEKDAYS)]
SITE = "bench"
CELLS = 20


# -- ingest through the broker -----------------------------------------------------------


def _publisher(url: str, per_cell: int, ready: mp.Event, go: mp.Event) -> None:  # type: ignore[valid-type]
    asyncio.run(_publish_all(url, per_cell, ready, go))


async def _publish_all(url: str, per_cell: int, ready, go) -> None:  # noqa: ANN001
    import aiomqtt

    from cellctl.bus.codec import encode_event
    from cellctl.bus.topics import Topics
    from cellctl.domain.events import Event

    topics = Topics(SITE)
    port = int(url.rsplit(":", 1)[1])
    payloads = {
        f"cell-{c:02}": [
            encode_event(
                Event(
                    "units_counted",
                    f"cell-{c:02}",
                    {"run_id": f"R{c}-{i // 100}", "step": 0, "good": 1, "scrap": 0},
                    "OP-ADA",
                    seq=i + 1,
                )
            )  # fmt: skip
            for i in range(per_cell)
        ]
        for c in range(CELLS)
    }
    clients = [
        aiomqtt.Client("127.0.0.1", port, identifier=f"bench-{cell}", max_inflight_messages=200)
        for cell in payloads
    ]
    for client in clients:
        await client.__aenter__()
        client.pending_calls_threshold = 1_000_000
    ready.set()
    await asyncio.to_thread(go.wait)

    async def one(client: aiomqtt.Client, cell: str) -> None:
        topic = topics.cell_events(cell)
        batch = 100
        body = payloads[cell]
        for i in range(0, len(body), batch):
            await asyncio.gather(*(client.publish(topic, p, qos=1) for p in body[i : i + batch]))

    await asyncio.gather(*(one(c, cell) for c, cell in zip(clients, payloads, strict=True)))
    for client in clients:
        await client.__aexit__(None, None, None)


async def _ingest(target: str, total: int) -> tuple[float, float]:
    """(events/s of wall-clock time, events per CPU second of the historian's process)."""
    from cellctl.bus.broker_process import Mosquitto
    from cellctl.config.models import MqttConfig
    from cellctl.historian.answers import SiteContext
    from cellctl.historian.service import Historian

    broker = Mosquitto(extra_config="max_inflight_messages 1000\n").start()
    store = open_store(target)
    historian = Historian(store, context=SiteContext(site_id=SITE), mqtt=MqttConfig(url=broker.url))
    ctx = mp.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    per_cell = total // CELLS
    proc = ctx.Process(target=_publisher, args=(broker.url, per_cell, ready, go))
    try:
        await historian.start()
        await historian.wait_connected()
        proc.start()
        await asyncio.to_thread(ready.wait, 120)
        started = time.perf_counter()
        cpu = time.process_time()
        go.set()
        want = per_cell * CELLS
        deadline = started + 600
        while historian.counters.stored < want and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        if historian.counters.stored < want:
            raise RuntimeError(f"only {historian.counters.stored} of {want} events stored")
        if store.count() != want:
            raise RuntimeError(f"{store.count()} events stored, {want} sent")
        return want / elapsed, want / cpu
    finally:
        await historian.stop()
        await asyncio.to_thread(proc.join, 60)
        store.close()
        broker.stop()


# -- a large history ---------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _trace_times(store: HistorianStore, questions: list[str]) -> list[float]:
    for q in questions[:5]:  # warm the caches as a running historian's are
        queries.trace(store, q)
    out = []
    for q in questions:
        t = time.perf_counter()
        result = queries.trace(store, q)
        out.append((time.perf_counter() - t) * 1000)
        assert result["timeline"], q
    return out


def _sample(items: list[str], n: int) -> list[str]:
    step = max(1, len(items) // n)
    return items[::step][:n]


def _history_figures(
    rep: Report, target: str, total: int, sfx: str, month: tuple[datetime, datetime]
) -> None:
    store = open_store(target)
    history = SiteHistory(run_every_s=220)
    events = history.events(total)
    small = total // 10
    t = time.perf_counter()
    loaded = store.bulk_load(_take(events, small))
    units = _sample(history.serials, 100)
    batches = _sample(history.batches, 100)
    # Both sizes are asked on a fresh connection (the database's own cache empty, the
    # system's warm), as a historian answers after a while of ingesting other events.
    store.close()
    store = open_store(target)
    small_unit = _trace_times(store, units)
    small_batch = _trace_times(store, batches)
    loaded += store.bulk_load(events)
    load_s = time.perf_counter() - t
    rep.add(f"history_events{sfx}", loaded, "events")
    rep.add(f"load_events_per_s{sfx}", round(loaded / load_s), "events/s")
    store.close()
    store = open_store(target)
    unit = _trace_times(store, units)
    batch = _trace_times(store, batches)
    for name, small_ms, ms in (("unit", small_unit, unit), ("batch", small_batch, batch)):
        rep.add(f"trace_{name}_p50_ms{sfx}", round(statistics.median(ms), 2), "ms")
        rep.add(f"trace_{name}_p95_ms{sfx}", round(_percentile(ms, 0.95), 2), "ms")
        rep.add(f"trace_{name}_p95_ms_at_tenth{sfx}", round(_percentile(small_ms, 0.95), 2), "ms")
    growth = (statistics.median(unit) + statistics.median(batch)) / (
        statistics.median(small_unit) + statistics.median(small_batch)
    )
    rep.add(f"trace_growth_ratio{sfx}", round(growth, 3), "x")
    start, end = month
    cell = "print-01"
    t = time.perf_counter()
    one = queries.report(store, start=start, end=end, cells=[cell], shifts=ALL_DAY)
    rep.add(f"report_month_cell_s{sfx}", round(time.perf_counter() - t, 3), "s")
    t = time.perf_counter()
    site = queries.report(store, start=start, end=end, shifts=ALL_DAY)
    rep.add(f"report_month_s{sfx}", round(time.perf_counter() - t, 3), "s")
    rep.add(f"report_month_events{sfx}", site["events"], "events")
    assert one["events"] and site["events"] > one["events"]
    store.close()


def _store_figures(rep: Report, work: Path, *, quick: bool) -> None:
    from bench.store_retention import EVENTS_PER_DAY, store_sizes

    per_day = EVENTS_PER_DAY // 4 if quick else EVENTS_PER_DAY
    got = store_sizes(work, per_day=per_day)
    rep.add("store_events_90d", got["events"], "events")
    rep.add("store_events_kept_90d", got["kept"], "events")
    rep.add("store_prune_s", round(got["prune_s"], 2), "s")
    rep.add("store_vacuum_s", round(got["vacuum_s"], 2), "s")
    rep.add("store_mb_90d_unbounded", round(got["unbounded_mb"], 2), "MB")
    rep.add("store_mb_90d_retained", round(got["retained_mb"], 2), "MB")
    rep.add("store_90d_ratio", round(got["ratio"], 3), "x")


def _take(events, n: int):  # noqa: ANN001, ANN202
    for _ in range(n):
        try:
            yield next(events)
        except StopIteration:
            return


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a small history and ingest")
    p.add_argument("--history", type=int, help="events in the large history (5,000,000)")
    p.add_argument("--ingest", type=int, help="events sent through the broker (100,000)")
    p.add_argument("--no-pg", action="store_true", help="SQLite only")
    p.add_argument("--store-only", action="store_true", help="only the station store's 90-day size")
    args = p.parse_args()
    total = args.history or (200_000 if args.quick else 5_000_000)
    ingest = args.ingest or (20_000 if args.quick else 100_000)
    # Runs every 220 s: about 5 M events a year. The month is inside even a quick history.
    month = (datetime(2026, 1, 8, tzinfo=UTC), datetime(2026, 2, 8, tzinfo=UTC))
    if total >= 2_000_000:
        month = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
    rep = Report()
    work = Path(tempfile.mkdtemp(prefix="bench-historian-"))
    cluster = None
    try:
        _store_figures(rep, work, quick=args.quick)
        backends: list[tuple[str, str]] = [] if args.store_only else [("", "sqlite")]
        if not args.no_pg and not args.store_only:
            from tests.fixtures.postgres import PostgresCluster, postgres_available

            reason = postgres_available()
            if reason:
                print(f"# PostgreSQL skipped: {reason}")
            else:
                cluster = PostgresCluster(
                    settings={
                        "shared_buffers": "1GB",
                        "max_wal_size": "4GB",
                        "checkpoint_timeout": "30min",
                    }  # fmt: skip
                ).start()
                backends.append(("_pg", "postgres"))
        for sfx, backend in backends:
            if backend == "sqlite":
                ingest_target, history_target = str(work / "ingest.db"), str(work / "history.db")
            else:
                assert cluster is not None
                ingest_target = cluster.create_database("ingest")
                history_target = cluster.create_database("history")
            rate, per_cpu = asyncio.run(_ingest(ingest_target, ingest))
            rep.add(f"ingest_events_per_s{sfx}", round(rate), "events/s")
            # The machine is shared: what one core of the historian's process stores.
            rep.add(f"ingest_events_per_cpu_s{sfx}", round(per_cpu), "events/cpu-s")
            _history_figures(rep, history_target, total, sfx, month)
    finally:
        if cluster is not None:
            cluster.remove()
        shutil.rmtree(work, ignore_errors=True)
    name = "store_90d_ratio" if args.store_only else "trace_unit_p95_ms"
    headline = next(f for f in rep.figures if f[0] == name)
    rep.figures.remove(headline)
    rep.emit(headline, args.json)


if __name__ == "__main__":
    main()
