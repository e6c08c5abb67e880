"""Stream short CAM lines to the GRBL simulator: send-response versus character counting.

The simulator runs in its own process (as a board would), paced at 115,200 baud
with 2 ms one-way latency, with a real 127-byte receive ring that drops bytes on
overflow. Moves are 0.05-0.1 mm at F6000 (at most 1 ms each), so the link, not
motion, is the bottleneck. Both modes run in the same invocation, on the same
machine load. Lines go out without their spaces (as the driver sends them), and
the byte figures count what went on the wire. Link utilisation = job bytes sent
per second / (baud / 10), timed
from the start of the job to its last `ok`. The simulator process asks for
real-time scheduling (a controller has its own CPU; on this shared host a
descheduled simulator would otherwise idle the simulated wire); `--no-realtime`
shows the figures without it.
"""

from __future__ import annotations

import ast
import asyncio
import math
import random
import re
import subprocess
import sys
import time

from bench.report import Report, parser
from firmware_bridge import make_machine

BAUD = 115_200
LATENCY = 0.002


def cam_job(n: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    x = y = 1.0  # start next to the origin: no long first move
    lines = ["G21 G90"]
    for _ in range(n - 1):
        angle = rng.uniform(0, 6.283)
        step = rng.uniform(0.05, 0.1)
        x = min(199.0, max(0.5, x + step * math.cos(angle)))
        y = min(199.0, max(0.5, y + step * math.sin(angle)))
        lines.append(f"G1 X{x:.3f} Y{y:.3f} F6000")
    return lines


async def stream(mode: str, lines: list[str], realtime: bool) -> dict[str, float]:
    cmd = [sys.executable, "-m", "firmware_bridge.sim", "grbl", "--baud", str(BAUD),
           "--latency", str(LATENCY)] + (["--realtime"] if realtime else [])  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stats: dict[str, float] = {}
    try:
        path = proc.stdout.readline().strip()  # type: ignore[union-attr]
        m = make_machine("grbl", path, BAUD, mode=mode, reconnect=False)
        await m.connect()
        try:
            await m.wait_connected()
            start = time.monotonic()
            job = await m.start_job(lines, name=f"bench-{mode}")
            result = await m.wait_job(timeout=600)
            elapsed = (job.all_acked_at or time.monotonic()) - start
            if result.outcome != "finished":
                raise SystemExit(f"{mode}: job {result.outcome}: {result.reason}")
            status = await m.command("$G")  # proves the controller still answers
            assert status
            stats.update(
                lines_per_s=len(lines) / elapsed,
                bytes_per_s=job.bytes_total / elapsed,
                elapsed_s=elapsed,
                max_inflight=m.max_inflight_bytes,
            )
        finally:
            await m.close()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=5)
    found = re.search(r"simulator stats: (\{.*\})", err)
    if not found:
        raise SystemExit(f"simulator did not report its stats: {err}")
    stats.update(ast.literal_eval(found.group(1)))
    if stats["rx_overflows"] or stats["lines_executed"] != len(lines) + 1:  # + the $G
        raise SystemExit(f"{mode}: the controller lost input: {stats}")
    return stats


async def main(json_path: str | None, lines_cc: int, lines_sr: int, realtime: bool) -> None:
    job_cc = cam_job(lines_cc)
    job_sr = job_cc[:lines_sr]
    sizes = [len(x.replace(" ", "")) + 1 for x in job_cc]  # on the wire GRBL lines lose spaces
    sr = await stream("send_response", job_sr, realtime)
    cc = await stream("char_counting", job_cc, realtime)
    byte_rate = BAUD / 10
    report = Report()
    report.add("line_bytes_mean", sum(sizes) / len(sizes), "bytes")
    report.add("link_limit_lines_per_s", byte_rate / (sum(sizes) / len(sizes)), "lines/s")
    report.add("send_response_lines_per_s", sr["lines_per_s"], "lines/s")
    report.add("char_counting_lines_per_s", cc["lines_per_s"], "lines/s")
    report.add("speedup", cc["lines_per_s"] / sr["lines_per_s"], "x")
    report.add("char_counting_max_inflight_bytes", cc["max_inflight"], "bytes")
    report.add("char_counting_rx_max_used", cc["rx_max_used"], "bytes")
    report.add("rx_overflows", sr["rx_overflows"] + cc["rx_overflows"], "bytes")
    report.add("sim_wake_late_max_ms", max(sr["wake_late_max_ms"], cc["wake_late_max_ms"]), "ms")
    report.add("send_response_link_utilization", sr["bytes_per_s"] / byte_rate)
    report.emit(("link_utilization", cc["bytes_per_s"] / byte_rate, ""), json_path)


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=3000, help="lines in the char-counting run")
    p.add_argument("--sr-lines", type=int, default=1000, help="lines in the send-response run")
    p.add_argument(
        "--no-realtime",
        action="store_true",
        help="do not ask real-time priority for the simulator process",
    )
    a = p.parse_args()
    asyncio.run(main(a.json, a.lines, a.sr_lines, not a.no_realtime))
