"""Board latency and CPU: 50 simulated cells × 10 events/s through Mosquitto.

Three processes besides the broker: a load process (the cells: one MQTT client
each, a status heartbeat every 2 s and 10 `units_counted` events per second
carrying their publish time), then, one after the other so they do not compete
for the cores, a baseline subscriber and the board.

- baseline: a bare aiomqtt subscriber that only decodes and validates each
  event — the floor set by the broker, the client library and this machine now.
- board: the real Textual app headless (`run_test`), with its feed. An event's
  latency runs from its publish to the end of the first screen refresh after the
  board drew it (`call_after_refresh`); the board's CPU is the process CPU time
  over wall time in the measuring window.

`python -m bench.board [--cells 50] [--rate 10] [--seconds 30] [--json PATH]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.report import Report, parser

SITE = "bench"


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# -- the simulated cells --------------------------------------------------------------------


async def _cell(url: str, cell: str, rate: float, stop_at: float, phase: float) -> int:
    import aiomqtt

    from cellctl.bus.codec import encode
    from cellctl.bus.topics import Topics
    from cellctl.config.models import MqttConfig
    from cellctl.domain.events import Event

    mqtt = MqttConfig(url=url)
    topics = Topics(SITE)
    sent = 0
    async with aiomqtt.Client(mqtt.host, mqtt.port, identifier=f"bench-{cell}") as client:
        status = {"v": 1, "cell": cell, "kind": "cut", "state": "running", "online": True,
                  "run_id": "R-BENCH", "step": 0, "operator": "OP-SIM", "outbox": 0}  # fmt: skip
        await asyncio.sleep(phase)
        next_status = 0.0
        period = 1.0 / rate
        t = time.monotonic()
        seq = 0
        while time.monotonic() < stop_at:
            now = time.monotonic()
            if now >= next_status:
                status["time"] = Event("cell_started", cell).time
                await client.publish(topics.cell_status(cell), encode(status), qos=1, retain=True)
                next_status = now + 2.0
            seq += 1
            e = Event("units_counted", cell, {"run_id": "R-BENCH", "step": 0, "good": 1,
                      "scrap": 0, "sent_at": time.time()}, seq=seq)  # fmt: skip
            await client.publish(topics.cell_events(cell), encode(e.to_dict()), qos=1)
            sent += 1
            t += period
            await asyncio.sleep(max(0.0, t - time.monotonic()))
    return sent


async def _load(url: str, cells: int, rate: float, seconds: float) -> None:
    stop_at = time.monotonic() + seconds
    sent = await asyncio.gather(
        *(_cell(url, f"cell-{i:02d}", rate, stop_at, i / cells / rate) for i in range(cells))
    )
    print(json.dumps({"sent": sum(sent)}), flush=True)


# -- the two measured processes -----------------------------------------------------------------


async def _baseline(url: str, warmup: float, seconds: float) -> dict[str, float]:
    import aiomqtt

    from cellctl.bus.codec import decode_event
    from cellctl.bus.topics import Topics
    from cellctl.config.models import MqttConfig

    mqtt = MqttConfig(url=url)
    topics = Topics(SITE)
    lat: list[float] = []
    async with aiomqtt.Client(mqtt.host, mqtt.port) as client:
        await client.subscribe(topics.all_events, qos=1)
        await client.subscribe(topics.all_status, qos=1)
        start = time.monotonic() + warmup
        end = start + seconds
        cpu0 = None
        async for m in client.messages:
            now = time.monotonic()
            if cpu0 is None and now >= start:
                cpu0, wall0 = time.process_time(), now
            if now >= end:
                break
            where = topics.cell_of(str(m.topic))
            if where and where[1] == "events":
                e = decode_event(m.payload, where[0])  # type: ignore[arg-type]
                if cpu0 is not None:
                    lat.append(time.time() - e.payload["sent_at"])
        cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0) if cpu0 is not None else 0
    return {"p50": _pct(lat, 0.5), "p95": _pct(lat, 0.95), "n": len(lat), "cpu": cpu}


async def _board(url: str, warmup: float, seconds: float) -> dict[str, float]:
    from cellctl.board.feed import BoardFeed
    from cellctl.config.models import MqttConfig
    from cellctl.tui.board.app import BoardApp

    feed = BoardFeed(SITE, MqttConfig(url=url))
    feed.measure = True
    app = BoardApp(feed)
    # Tall enough that all 50 tiles are on screen, so every update is really painted.
    async with app.run_test(size=(200, 66)) as pilot:
        await feed.wait_connected()
        await asyncio.sleep(warmup)
        app.latencies.clear()
        renders0 = app.renders
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
        lat = list(app.latencies)
        renders = app.renders - renders0
        cells = len(feed.cells)
        await pilot.pause()
    return {
        "p50": _pct(lat, 0.5),
        "p95": _pct(lat, 0.95),
        "max": max(lat) if lat else float("nan"),
        "n": len(lat),
        "cpu": cpu,
        "renders_per_s": renders / seconds,
        "cells": cells,
        "dropped": feed.dropped,
    }


def _child(args: argparse.Namespace) -> None:
    if args.child == "load":
        asyncio.run(_load(args.url, args.cells, args.rate, args.seconds))
        return
    run = _baseline if args.child == "baseline" else _board
    print(json.dumps(asyncio.run(run(args.url, args.warmup, args.seconds))), flush=True)


def _spawn(args: argparse.Namespace, child: str, seconds: float) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "bench.board", "--child", child, "--url", args.url,
            "--cells", str(args.cells), "--rate", str(args.rate), "--seconds", str(seconds),
            "--warmup", str(args.warmup)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)


def _result(proc: subprocess.Popen[str]) -> dict[str, float]:
    out, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"bench child failed ({proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=50)
    p.add_argument("--rate", type=float, default=10.0, help="events per second per cell")
    p.add_argument("--seconds", type=float, default=30.0, help="the board's measuring window")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--child", choices=("load", "baseline", "board"), help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args)
        return

    from cellctl.bus.broker_process import Mosquitto

    broker = Mosquitto().start()
    args.url = broker.url
    base_s = min(10.0, args.seconds)
    try:
        total = args.warmup + base_s + 2 + args.warmup + args.seconds + 5
        load = _spawn(args, "load", total)
        base = _result(_spawn(args, "baseline", base_s))
        board = _result(_spawn(args, "board", args.seconds))
        sent = _result(load)["sent"]
    finally:
        broker.stop()

    r = Report()
    r.add("cells", args.cells)
    r.add("offered_events_per_s", args.cells * args.rate, "events/s")
    r.add("events_sent", sent)
    r.add("baseline_p50_ms", base["p50"] * 1000, "ms")
    r.add("baseline_p95_ms", base["p95"] * 1000, "ms")
    r.add("baseline_cpu_core_fraction", base["cpu"])
    r.add("board_events_measured", board["n"])
    r.add("board_events_per_s", board["n"] / args.seconds, "events/s")
    r.add("board_cells_shown", board["cells"])
    r.add("board_renders_per_s", board["renders_per_s"], "/s")
    r.add("update_p50_ms", board["p50"] * 1000, "ms")
    r.add("update_max_ms", board["max"] * 1000, "ms")
    r.add("p95_over_baseline_ms", (board["p95"] - base["p95"]) * 1000, "ms")
    r.add("cpu_core_fraction", board["cpu"])
    r.add("target_p95_ms", 250.0, "ms")
    r.add("target_cpu_core_fraction", 0.5)
    ok = board["p95"] <= 0.25 and board["cpu"] <= 0.5
    r.add("meets_target", int(ok))
    r.emit(("update_p95_ms", board["p95"] * 1000, "ms"), args.json)
    if board["n"] == 0:
        raise SystemExit("the board measured no events")


if __name__ == "__main__":
    main()
