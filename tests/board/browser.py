"""Headless Chromium driven over the DevTools protocol, to read what a page shows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0", "--window-size=1400,900",
]  # fmt: skip

# xterm.js draws textual-serve's terminal on a WebGL or 2D canvas, so its text is in
# no DOM node and the Terminal object is private to textual.js. We tap the page's
# WebSocket (injected before any script of the page runs) and keep the text the
# terminal was given to draw; the terminal's own "-first-byte" mark on <body> tells
# it started drawing.
TAP = """
(() => {
  window.__tty = "";
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener("message", (e) => {
      if (typeof e.data !== "string") window.__tty += decoder.decode(e.data, {stream: true});
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, Native);
})();
"""
READ_TEXT = """
(() => [document.body ? document.body.className : "", document.body ? document.body.innerText : "",
         (window.__tty || "").replace(/\\x1b\\[[0-9;?]*[A-Za-z]/g, "")].join("\\n"))()
"""


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    def __init__(self, url: str) -> None:
        self.url = url
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.devtools = ""
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._id = 0

    def start(self, timeout: float = 30.0) -> Chromium:
        exe = chromium_path()
        assert exe is not None
        scratch = self.profile / "tmp"  # chromium's own temp files: gone with the profile
        scratch.mkdir()
        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
            env={**os.environ, "TMPDIR": str(scratch)},
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline().decode(errors="replace")
            if not line and self.proc.poll() is not None:
                raise RuntimeError("chromium exited before DevTools listened")
            m = re.search(r"DevTools listening on ws://([\d.]+:\d+)/", line)
            if m:
                self.devtools = m.group(1)
                # Keep draining stderr so chromium never blocks on a full pipe.
                subprocess.Popen(["cat"], stdin=self.proc.stderr, stdout=subprocess.DEVNULL)
                return self
        raise RuntimeError("chromium did not start DevTools in time")

    async def page_ws(self, session: aiohttp.ClientSession) -> str:
        async with session.get(f"http://{self.devtools}/json/list") as r:
            targets = await r.json()
        pages = [t for t in targets if t.get("type") == "page"]
        return pages[0]["webSocketDebuggerUrl"]

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command on the page, on the session `open` made; its result."""
        assert self._ws is not None, "open() first"
        self._id += 1
        await self._ws.send_str(json.dumps({"id": self._id, "method": method, "params": params}))
        async for msg in self._ws:
            data = json.loads(msg.data)
            if data.get("id") == self._id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return data.get("result", {})
        raise RuntimeError("the DevTools connection closed")

    async def open(self) -> None:
        """Attach to the page, tap its WebSocket (for this session's life), load the URL."""
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(await self.page_ws(self._session), max_msg_size=0)
        await self.call("Page.enable")
        await self.call("Page.addScriptToEvaluateOnNewDocument", source=TAP)
        await self.call("Page.navigate", url=self.url)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        self._ws = self._session = None

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def screenshot(self, path: Path) -> None:
        import base64

        result = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(result["data"]))

    async def wait_for_text(self, needle: str, timeout: float = 40.0) -> str:
        """Poll the page's text until it contains `needle` (no event tells us it rendered)."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            try:
                text = await self.evaluate(READ_TEXT) or ""
            except (aiohttp.ClientError, KeyError, IndexError):
                text = ""
            if needle in text and "-first-byte" in text.split("\n", 1)[0]:
                return text
            await asyncio.sleep(0.25)
        raise AssertionError(f"{needle!r} never appeared on the page; last text: {text[-500:]!r}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            # Its helpers (zygote, renderers, the stderr drain) are in its session: end them
            # too, or one still writing puts files back into the profile after the rmtree.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        shutil.rmtree(self.profile, ignore_errors=True)
