"""The work behind `cellctl machine`: kept apart so `cellctl --help` imports nothing heavy."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from cellctl.errors import CliError
from firmware_bridge import JobError, JobRefused, LinkError, Machine, MachineEvent
from firmware_bridge.machine import wait_for


def _bar(ev: MachineEvent) -> str:
    d = ev.data
    width = 30
    filled = int(width * d["fraction"])
    eta = d["eta_s"]
    eta_text = "--:--" if eta is None else f"{int(eta) // 60}:{int(eta) % 60:02d}"
    return (
        f"\r[{'#' * filled}{'.' * (width - filled)}] {d['fraction'] * 100:5.1f}%  "
        f"{d['lines_acked']}/{d['lines_total']} lines  ETA {eta_text} "
    )


def _show(ev: MachineEvent) -> None:
    if ev.kind == "progress":
        if not sys.stderr.isatty():
            return
        sys.stderr.write(_bar(ev))
        sys.stderr.flush()
    elif ev.kind in ("alarm", "error", "reset", "link_down", "link_up", "message", "fault"):
        sys.stderr.write(f"\n{ev.kind}: {ev.message}\n")
    elif ev.kind == "cycle_complete":
        sys.stderr.write(f"\ncycle complete: count {ev.data['count']}\n")


async def final_status(m: Machine) -> str:
    """A fresh status from the controller; an old one only marked as stale, with its age."""
    try:
        if m.driver == "grbl":
            before = m.state.reported
            if m.link_up and m._write(b"?", log=False):
                await wait_for(lambda: m.state.reported > before, 1.0)
            if m.state.reported > before and not m.state.stale:
                return m.state.raw
            why = (
                "no answer to a status request"
                if m.link_up
                else f"link down: {m.link.down_reason or 'not open'}"
            )
            if not m.state.raw:
                return f"unavailable ({why})"
            age = time.time() - m.state.reported
            return f"stale ({why}): the last report, {age:.1f} s old, was {m.state.raw}"
        if m.driver == "marlin":
            reply = await m.command("M114", timeout=3.0)
            temps = " ".join(f"{k}:{c:.1f}/{t:.1f}" for k, (c, t) in m.state.temperatures.items())
            return " ".join([*(r for r in reply if r.startswith("X:")), temps]).strip()
        return (await m.command("STATUS", timeout=3.0))[0]
    except (JobRefused, LinkError, TimeoutError) as exc:
        return f"unavailable ({exc})"


async def stream(m: Machine, path: str, *, as_json: bool) -> int:
    try:
        lines = m.load_job(path)
    except JobError as exc:
        await m.close()  # a sim:// port started a simulator: stop it
        raise CliError(str(exc)) from exc
    try:
        await m.connect()
    except LinkError as exc:
        await m.close()
        raise CliError(str(exc)) from exc
    m.subscribe(_show)
    interrupted = False
    try:
        try:
            await m.start_job(lines, name=path)
        except JobRefused as exc:
            raise CliError(f"job refused: {exc.reason}") from exc
        try:
            result = await m.wait_job()
        except (KeyboardInterrupt, asyncio.CancelledError):
            interrupted = True
            await m.stop()
            result = await m.wait_job(timeout=10)
        sys.stderr.write("\n")
        status = await final_status(m)
    finally:
        await m.close()
    summary: dict[str, Any] = {
        "driver": m.driver,
        "port": m.link.url,
        "outcome": result.outcome,
        "reason": result.reason,
        "lines_total": result.lines_total,
        "lines_sent": result.lines_sent,
        "lines_acknowledged": result.lines_acked,
        "last_acknowledged_file_line": result.last_acked_line,
        "errors": result.errors,
        "alarms": result.alarms,
        "position_lost": result.position_lost,
        "elapsed_s": round(result.elapsed_s, 3),
        "final_status": status,
        "status_stale": status.startswith("stale"),
        "machine_position_lost": m.state.position_lost,
    }
    if as_json:
        print(json.dumps(summary))
    else:
        print(f"{result.outcome}: {result.reason}")
        print(f"lines sent {result.lines_sent}, acknowledged {result.lines_acked} of "
              f"{result.lines_total} in {result.elapsed_s:.1f} s")  # fmt: skip
        for e in result.errors:
            print(f"error {e['code']} at line {e['line']}: {e['message']}")
        for a in result.alarms:
            print(f"alarm {a['code']}: {a['message']}")
        print(f"final status: {status}")
        if m.state.position_lost and not result.position_lost:
            print("machine position lost: home it, or set and confirm its work zero, before "
                  "the next job")  # fmt: skip
    if interrupted:
        return 130
    return 0 if result.outcome == "finished" else 1


HELP = """? status  ! hold  ~ resume  reset  stop  unlock  home  zero  stream FILE  log  quit
anything else is sent as one line; the reply is printed when it comes"""


async def console(m: Machine) -> int:
    try:
        await m.connect()
    except LinkError as exc:
        await m.close()
        raise CliError(str(exc)) from exc
    m.subscribe(_show)
    print(f"connected to {m.driver} on {m.link.url}; type help for commands", flush=True)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            word = line.strip()
            if not word:
                continue
            try:
                await _console_line(m, word)
            except (JobRefused, JobError, LinkError) as exc:
                print(f"refused: {exc}", flush=True)
            except TimeoutError:
                print("no answer within the timeout", flush=True)
            if word in ("quit", "exit"):
                break
    finally:
        await m.close()
    return 0


async def _console_line(m: Machine, word: str) -> None:
    low = word.lower()
    if low in ("quit", "exit"):
        return
    if low == "help":
        print(HELP, flush=True)
    elif word == "?":
        print(await final_status(m), flush=True)
    elif word == "!":
        await m.hold()
    elif word == "~":
        await m.resume()
    elif low == "stop":
        await m.stop()
    elif low == "reset" and m.driver == "grbl":
        await m.command("\x18")
    elif low == "unlock":
        await m.unlock()
        print("unlocked: check the machine before moving it", flush=True)
    elif low == "home":
        await m.home()
        print("homed", flush=True)
    elif low == "zero" and hasattr(m, "set_zero"):
        await m.set_zero()
        print("work zero set at the current position (G54)", flush=True)
    elif low == "log":
        for e in list(m.link.log)[-40:]:
            print(f"{e.direction} {e.text}", flush=True)
    elif low.startswith("stream "):
        await m.start_job(word.split(None, 1)[1])
        result = await m.wait_job()
        print(f"\n{result.outcome}: {result.reason}", flush=True)
    else:
        for reply in await m.command(word, timeout=30.0):
            print(reply, flush=True)
        print("ok", flush=True)
