"""The board in a browser: textual-serve starts one `cellctl board` process per viewer,
so each viewer has its own broker connection and nothing is shared by accident.

Every viewer process must end with its viewer and with the server. textual-serve
alone leaves them behind: a SIGTERM waits for aiohttp's 60 s graceful shutdown with
viewers still connected, a killed server orphans them, and a viewer whose shutdown
hangs stays forever. So the server here terminates its children when it stops, and a
viewer process (`watch_viewer`) dies with the server and has a deadline to exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

# How long a viewer process or the server's children get to exit before being killed.
EXIT_DEADLINE_S = 5.0


def board_command(site: str | None, broker: str | None, badge: str | None = None) -> str:
    argv = [sys.executable, "-m", "cellctl", "board"]
    if site:
        argv += ["--site", site]
    if broker:
        argv += ["--broker", broker]
    if badge:
        argv += ["--badge", badge]
    # textual-serve runs the command through a shell: `exec` makes the board the server's
    # own child, so it can be signalled and dies with the server (no shell in between).
    return "exec " + shlex.join(argv)


def children(parent: int) -> list[int]:
    """The live (not zombie) child processes of `parent`, from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def stop_children(parent: int, deadline_s: float = EXIT_DEADLINE_S) -> list[int]:
    """SIGTERM every child of `parent`, wait up to `deadline_s`, SIGKILL the rest.

    Returns the children that had to be killed.
    """
    pids = children(parent)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and set(pids) & set(children(parent)):
        time.sleep(0.05)
    killed = sorted(set(pids) & set(children(parent)))
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return killed


def serve(command: str, *, host: str, port: int, public_url: str | None = None) -> None:
    from aiohttp import web
    from textual_serve.server import Server

    class BoardServer(Server):
        """textual-serve's server, stopping its viewers' processes when it stops."""

        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            self.sockets: set[asyncio.Task[Any]] = set()

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            task = asyncio.current_task()
            assert task is not None
            self.sockets.add(task)
            try:
                return await super().handle_websocket(request)
            finally:
                self.sockets.discard(task)

        async def on_startup(self, app: web.Application) -> None:
            print(f"cellctl board: serving on {self.public_url} (Ctrl-C to stop)", flush=True)

        async def on_shutdown(self, app: web.Application) -> None:
            # The viewers first (each closes its socket as it exits), then any socket left.
            await asyncio.to_thread(stop_children, os.getpid())
            for task in list(self.sockets):
                task.cancel()

    server = BoardServer(
        command, host=host, port=port, title="cellctl board", public_url=public_url
    )
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.request_exit)
    try:
        web.run_app(
            server._make_app(),
            host=host,
            port=port,
            handle_signals=False,
            loop=loop,
            print=lambda *args: None,
            shutdown_timeout=EXIT_DEADLINE_S,
        )
    finally:
        stop_children(os.getpid())  # whatever way the server ended


def under_web_driver() -> bool:
    return "web_driver" in os.environ.get("TEXTUAL_DRIVER", "")


def watch_viewer() -> None:
    """In a viewer's board process: die with the server (even a killed one)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the server died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def exit_deadline(seconds: float = EXIT_DEADLINE_S) -> None:
    """The viewer is leaving: if shutting down takes longer than `seconds`, end anyway."""

    def force() -> None:
        time.sleep(seconds)
        os._exit(0)

    threading.Thread(target=force, name="exit-deadline", daemon=True).start()
