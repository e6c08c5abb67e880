"""`cellctl board --web`: the board in a browser through textual-serve, read in Chromium."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cellctl.bus.broker_process import free_port
from tests.board.browser import Chromium, chromium_path
from tests.board.conftest import SITE, Publisher

# `./dev test` installs chromium, so under CI a missing browser is a failure, not a skip.
pytestmark = pytest.mark.skipif(
    chromium_path() is None and not os.environ.get("CI"),
    reason="chromium is not installed (apt-get install -y --no-install-recommends chromium)",
)


def _serve(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen(
        [sys.executable, "-m", "cellctl", "board", "--web", "--port", str(port),
         "--broker", url, "--site-id", SITE],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "cellctl board --web exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the web board never listened")


async def test_two_browsers_each_get_their_own_board(publisher: Publisher, mosquitto) -> None:
    await publisher.status("web-cell-7", "running", run_id="R-WEB", step=1)
    port = free_port()
    server = _serve(mosquitto.url, port)
    browsers: list[Chromium] = []
    try:
        _wait_listening(port, server)
        first = Chromium(f"http://127.0.0.1:{port}/").start()
        browsers.append(first)
        await first.open()
        text = await first.wait_for_text("web-cell-7")
        assert "RUNNING" in text and "R-WEB" in text
        if os.environ.get("BOARD_WEB_SCREENSHOT"):
            await first.screenshot(Path(os.environ["BOARD_WEB_SCREENSHOT"]))
        board_procs = _children_running("cellctl board", server.pid)
        second = Chromium(f"http://127.0.0.1:{port}/").start()
        browsers.append(second)
        await second.open()
        await second.wait_for_text("web-cell-7")
        # One board process (with its own broker connection) per viewer.
        assert len(_children_running("cellctl board", server.pid)) == len(board_procs) + 1
    finally:
        for b in browsers:
            await b.close()
            b.stop()
        server.terminate()
        server.wait(10)


def _children_running(needle: str, parent: int) -> list[int]:
    """Descendant processes of `parent` whose command line runs `-m cellctl board` (not --web)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in cmd if a]
        if "board" in args and "--web" not in args and _descends(int(entry.name), parent):
            out.append(int(entry.name))
        del stat
    return out


def _descends(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


async def _wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    """The processes of `pids` still alive after `timeout` (none, when all went)."""
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return left


async def _open_viewer(port: int) -> Chromium:
    browser = Chromium(f"http://127.0.0.1:{port}/").start()
    try:
        await browser.open()
        await browser.wait_for_text("web-cell-7")
    except BaseException:
        await browser.close()
        browser.stop()
        raise
    return browser


async def test_viewers_leave_no_process_and_stopping_the_server_stops_them(
    publisher: Publisher, mosquitto
) -> None:
    await publisher.status("web-cell-7", "running", run_id="R-WEB", step=1)
    port = free_port()
    server = _serve(mosquitto.url, port)
    seen: list[int] = []
    try:
        _wait_listening(port, server)
        for i in range(3):  # viewers come and go
            browser = await _open_viewer(port)
            mine = _children_running("cellctl board", server.pid)
            assert mine, "no board process for the viewer"
            seen += mine
            if i == 2:  # a viewer's process obeys SIGTERM, its browser still there
                os.kill(mine[0], signal.SIGTERM)
                assert await _wait_gone(mine, timeout=8.0) == [], "SIGTERM was ignored"
            await browser.close()
            browser.stop()
            assert await _wait_gone(mine) == [], "a viewer's board outlived its browser"
        assert _children_running("cellctl board", server.pid) == []
        # Nobody watching: the server idles (well under 5 % of a core over 2 s).
        before = _cpu_ticks(server.pid)
        await asyncio.sleep(2.0)
        assert _cpu_ticks(server.pid) - before < 10
        # Stopping the server (SIGTERM, as systemd or Ctrl-C would) stops the viewers too.
        watching = [await _open_viewer(port) for _ in range(2)]
        boards = _children_running("cellctl board", server.pid)
        assert len(boards) == 2
        seen += boards
        server.terminate()
        server.wait(15)
        for browser in watching:
            await browser.close()
            browser.stop()
        assert await _wait_gone(boards) == [], "stopping board --web left viewers running"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for pid in seen:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


async def test_a_killed_server_takes_its_viewers_with_it(publisher: Publisher, mosquitto) -> None:
    await publisher.status("web-cell-7", "running", run_id="R-WEB", step=1)
    port = free_port()
    server = _serve(mosquitto.url, port)
    boards: list[int] = []
    try:
        _wait_listening(port, server)
        browser = await _open_viewer(port)
        boards = _children_running("cellctl board", server.pid)
        assert boards
        server.kill()  # no chance to clean up: the viewers must notice by themselves
        server.wait()
        await browser.close()
        browser.stop()
        assert await _wait_gone(boards) == [], "a killed board --web orphaned its viewers"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for pid in boards:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
