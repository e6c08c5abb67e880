"""The HTTP API under load: p95 of `GET /runs/{id}` and `GET /trace/{serial}` with 50
concurrent clients, against the historian's own query time in the same run.

A real Mosquitto, the site historian in a process of its own on a SQLite history
(`SiteHistory`, bulk-loaded), the API (uvicorn, one worker) in another, and the clients
(httpx, one connection each) here. The baseline is the historian's own query for the
same runs and serials (`queries.run_history`, `queries.trace`) on the same file, one at a
time; the ratio says what the HTTP edge, the bus round trip and the queueing under 50
clients add to it.

    python -m bench.api            # 200k-event history, 2,000 requests per endpoint
    python -m bench.api --quick    # 50k events, 600 requests
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing as mp
import os
import random
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import Report, parser

SITE = "bench"
TOKEN = "bench-token-" + "x" * 20
CLIENTS = 50  # --clients


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20, method="inclusive")[18] if len(xs) > 1 else xs[0]


def _site(url: str, tmp: Path):  # noqa: ANN202
    from cellctl.config.api import ApiConfig, ApiToken
    from cellctl.config.models import MqttConfig, SiteConfig, SiteInfo

    token = ApiToken(name="bench", role="viewer",
                     sha256=hashlib.sha256(TOKEN.encode()).hexdigest())  # fmt: skip
    return SiteConfig(
        site=SiteInfo(id=SITE, name="bench"),
        mqtt=MqttConfig(url=url),
        api=ApiConfig(state_db=tmp / "api.db", tokens=[token]),
    )


def _historian_proc(db: str, url: str, ready, stop) -> None:  # noqa: ANN001
    async def main() -> None:
        from cellctl.config.models import MqttConfig
        from cellctl.historian.answers import SiteContext
        from cellctl.historian.backends import open_store
        from cellctl.historian.service import Historian

        h = Historian(open_store(db), context=SiteContext(site_id=SITE), mqtt=MqttConfig(url=url))
        await h.start()
        await h.wait_connected()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await h.stop()

    profile = os.environ.get("BENCH_HISTORIAN_PROFILE")  # a file for cProfile's stats
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    asyncio.run(main())
    if profile:
        prof.disable()
        prof.dump_stats(profile)


def _api_proc(site, port: int, ready, stop) -> None:  # noqa: ANN001
    import uvicorn

    from cellctl.api.app import create_app

    server = uvicorn.Server(
        uvicorn.Config(create_app(site, None), host="127.0.0.1", port=port, log_level="error")
    )

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        server.should_exit = True
        await task

    # The event loop `cellctl api` gets from uvicorn.run (uvloop when installed).
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    profile = os.environ.get("BENCH_API_PROFILE")  # a file for cProfile's stats
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())
    if profile:
        prof.disable()
        prof.dump_stats(profile)


async def _load(base: str, paths: list[str], clients: int = CLIENTS) -> tuple[list[float], int]:
    """`clients` keep-alive HTTP/1.1 connections, each sending its next GET as soon as
    the last answer is in (closed loop, no think time). A bare client on asyncio streams:
    httpx spent 3 ms of CPU per request here, more than the API itself, on the same cores."""
    host, port = base.removeprefix("http://").split(":")
    todo = list(paths)
    times: list[float] = []
    errors = 0

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while todo:
                path = todo.pop()
                t = time.perf_counter()
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
                    f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                times.append((time.perf_counter() - t) * 1000)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return times, errors


def _health(base: str) -> dict[str, Any]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base}/health", timeout=10) as r:
        answer: dict[str, Any] = json.loads(r.read())
    return answer


def measure(report: Report, *, quick: bool = False, clients: int = CLIENTS) -> None:
    """Run the whole measurement and add its figures to `report` (the two p95s last)."""
    from cellctl.bus.broker_process import Mosquitto
    from cellctl.historian import queries
    from cellctl.historian.backends import open_store
    from cellctl.historian.synth import SiteHistory

    events_n, requests = (50_000, 600) if quick else (200_000, 2_000)
    rng = random.Random(3)
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmpdir:
        tmp = Path(tmpdir)
        db = str(tmp / "historian.db")
        history = SiteHistory(run_every_s=220)
        store = open_store(db)
        every_run: list[str] = []
        every_serial: list[str] = []

        def noting_runs(events):  # noqa: ANN001, ANN202
            for e in events:
                if e.type == "serials_allocated":
                    every_run.append(e.payload["run_id"])
                    every_serial.append(e.payload["serials"][len(every_run) % 24])
                yield e

        loaded = store.bulk_load(noting_runs(history.events(events_n)))
        runs = sorted({s[3:10] for s in history.serials})
        run_ids = [f"R{n}" for n in runs]
        serials = list(history.serials)
        report.add("history_events", loaded, "events")

        # The baseline: the historian's own queries, one at a time, on the same file.
        pick_runs = [rng.choice(run_ids) for _ in range(200)]
        pick_serials = [rng.choice(serials) for _ in range(200)]
        base_run, base_trace = [], []
        for rid, serial in zip(pick_runs, pick_serials, strict=True):
            t = time.perf_counter()
            queries.run_history(store, rid)
            base_run.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            queries.trace(store, serial)
            base_trace.append((time.perf_counter() - t) * 1000)
        store.close()

        broker = Mosquitto().start()
        ctx = mp.get_context("spawn")
        stop = ctx.Event()
        h_ready, a_ready = ctx.Event(), ctx.Event()
        port = _free_port()
        procs = [
            ctx.Process(target=_historian_proc, args=(db, broker.url, h_ready, stop)),
            ctx.Process(target=_api_proc, args=(_site(broker.url, tmp), port, a_ready, stop)),
        ]
        for proc in procs:
            proc.start()
        try:
            if not (h_ready.wait(60) and a_ready.wait(60)):
                raise SystemExit("the historian or the API did not start")
            base = f"http://127.0.0.1:{port}"
            # Warm up (connections, the historian's caches), then measure.
            asyncio.run(_load(base, [f"/runs/{r}" for r in run_ids[:100]]))
            run_paths = [f"/runs/{rng.choice(run_ids)}" for _ in range(requests)]
            trace_paths = [f"/trace/{rng.choice(serials)}" for _ in range(requests)]
            # One client alone: the latency without queueing behind the other 49.
            solo_run, _ = asyncio.run(_load(base, [f"/runs/{rng.choice(run_ids)}"
                                                   for _ in range(200)], 1))  # fmt: skip
            solo_trace, _ = asyncio.run(_load(base, [f"/trace/{rng.choice(serials)}"
                                                     for _ in range(200)], 1))  # fmt: skip
            cpu0 = [_cpu_s(proc.pid) for proc in procs] + [time.process_time()]
            t = time.perf_counter()
            run_times, run_err = asyncio.run(_load(base, run_paths, clients))
            run_rps = requests / (time.perf_counter() - t)
            t = time.perf_counter()
            trace_times, trace_err = asyncio.run(_load(base, trace_paths, clients))
            trace_rps = requests / (time.perf_counter() - t)
            cpu1 = [_cpu_s(proc.pid) for proc in procs] + [time.process_time()]
            kept = _health(base)["answers"]
            # Cold: every request about another run or serial, so no kept answer can serve.
            cold = min(requests, len(every_run))
            cold_run, _ = asyncio.run(
                _load(base, [f"/runs/{r}" for r in rng.sample(every_run, cold)], clients)
            )
            cold_trace, _ = asyncio.run(
                _load(base, [f"/trace/{x}" for x in rng.sample(every_serial, cold)], clients)
            )
            per_req = [(b - a) * 1000 / (2 * requests) for a, b in zip(cpu0, cpu1, strict=True)]
        finally:
            stop.set()
            for proc in procs:
                proc.join(15)
                if proc.is_alive():
                    proc.terminate()
            broker.stop()

    report.add("historian_run_p95_ms", _p95(base_run), "ms")
    report.add("historian_trace_p95_ms", _p95(base_trace), "ms")
    report.add("api_run_1client_p95_ms", _p95(solo_run), "ms")
    report.add("api_trace_1client_p95_ms", _p95(solo_trace), "ms")
    report.add("api_run_p50_ms", statistics.median(run_times), "ms")
    report.add("api_trace_p50_ms", statistics.median(trace_times), "ms")
    report.add("api_run_errors", run_err, "")
    report.add("api_trace_errors", trace_err, "")
    report.add("api_run_rps", run_rps, "req/s")
    report.add("api_trace_rps", trace_rps, "req/s")
    # CPU per request (both phases): where the time goes on a small machine.
    report.add("historian_cpu_ms_per_req", per_req[0], "ms")
    report.add("api_cpu_ms_per_req", per_req[1], "ms")
    report.add("clients_cpu_ms_per_req", per_req[2], "ms")
    asked = kept["hits"] + kept["misses"] + kept["shared"]
    report.add("api_answers_kept_share", (kept["hits"] + kept["shared"]) / max(asked, 1), "")
    report.add("api_run_p95_ms_cold", _p95(cold_run), "ms")
    report.add("api_trace_p95_ms_cold", _p95(cold_trace), "ms")
    report.add("api_run_ratio", _p95(run_times) / _p95(base_run), "x historian")
    report.add("api_trace_ratio", _p95(trace_times) / _p95(base_trace), "x historian")
    report.add("api_run_p95_ms", _p95(run_times), "ms")
    report.add("api_trace_p95_ms", _p95(trace_times), "ms")


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smaller history and fewer requests")
    p.add_argument("--clients", type=int, default=CLIENTS, help="concurrent clients (50)")
    args = p.parse_args()
    report = Report()
    measure(report, quick=args.quick, clients=args.clients)
    headline = report.figures.pop()
    report.emit(headline, args.json)


if __name__ == "__main__":
    main()
