"""A serial link opened from a URL, usable from asyncio.

pyserial opens the port (every URL kind pyserial knows works: device and pty
paths, loop://, socket://, rfc2217://). A port with a file descriptor is read by
the event loop itself; the others by one reader thread per connection that hands
received lines to the loop. A read or write failure marks the
link down; with `reconnect` on, it is reopened with exponential back-off. Every
line sent and received is kept in a bounded in-memory log, and appended to a
debug file when one is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import serial


class LinkError(Exception):
    """The port could not be opened or written; the message says why in plain words."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    time: float
    direction: str  # ">" sent, "<" received, "!" link event
    text: str


class SerialLink:
    def __init__(
        self,
        url: str,
        baud: int = 115_200,
        *,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.2, 5.0),
        log_size: int = 5000,
        debug_log: str | Path | None = None,
    ) -> None:
        self.url = url
        self.baud = baud
        self.reconnect = reconnect
        self.backoff = backoff
        self.log: deque[LogEntry] = deque(maxlen=log_size)
        self._debug: TextIO | None = open(debug_log, "a") if debug_log else None  # noqa: SIM115
        self.on_line: Callable[[str], None] = lambda line: None
        self.on_up: Callable[[], None] = lambda: None
        self.on_down: Callable[[str], None] = lambda reason: None
        self._port: serial.SerialBase | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._reconnect_task: asyncio.Task[None] | None = None
        self._generation = 0
        self._fd: int | None = None
        self._buf = bytearray()
        self.bytes_written = 0
        self.down_reason = ""

    @property
    def up(self) -> bool:
        return self._port is not None

    # ---- open / close --------------------------------------------------------------

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closing = False
        await self._open_once()

    async def _open_once(self) -> None:
        try:
            port = await asyncio.to_thread(self._open_port)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"cannot open {self.url}: {exc}") from exc
        self._generation += 1
        self._port = port
        self._buf = bytearray()
        self._record("!", f"link up {self.url} @ {self.baud}")
        fd = getattr(port, "fd", None)
        if isinstance(fd, int) and self._loop is not None:
            # A real file descriptor: read it from the event loop itself, no thread hop.
            self._fd = fd
            self._loop.add_reader(fd, self._readable, port, self._generation)
        else:
            self._fd = None
            self._thread = threading.Thread(
                target=self._reader, args=(port, self._generation), name="serial-reader",
                daemon=True,
            )  # fmt: skip
            self._thread.start()
        self.on_up()

    def _open_port(self) -> serial.SerialBase:
        return serial.serial_for_url(self.url, baudrate=self.baud, timeout=0.05, write_timeout=2)

    async def close(self) -> None:
        self._closing = True
        if self._reconnect_task:
            self._reconnect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reconnect_task
        self._drop("closed by the host", notify=False)
        if self._thread:
            await asyncio.to_thread(self._thread.join, 1.0)
        if self._debug:
            self._debug.close()
            self._debug = None

    # ---- I/O -----------------------------------------------------------------------

    def write(self, data: bytes, *, log: bool = True) -> None:
        port = self._port
        if port is None:
            raise LinkError(f"link to {self.url} is down: {self.down_reason or 'not open'}")
        try:
            port.write(data)
        except (serial.SerialException, OSError) as exc:
            self._drop(f"write failed: {exc}")
            raise LinkError(f"link to {self.url} lost while writing: {exc}") from exc
        self.bytes_written += len(data)
        if log:
            for part in data.decode("ascii", "replace").splitlines():
                self._record(">", part)

    def _readable(self, port: serial.SerialBase, generation: int) -> None:
        try:
            chunk = os.read(port.fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(generation, f"read failed: {exc}")
            return
        if not chunk:
            self._lost(generation, "device disconnected (end of file)")
            return
        self._buf += chunk
        if b"\n" not in self._buf:
            if len(self._buf) > 4096:
                self._buf.clear()
            return
        *lines, rest = self._buf.split(b"\n")
        self._buf = bytearray(rest)
        self._deliver(generation, [ln.rstrip(b"\r").decode("ascii", "replace") for ln in lines])

    def _current(self, port: serial.SerialBase) -> bool:
        return self._port is port

    def _reader(self, port: serial.SerialBase, generation: int) -> None:
        buf = bytearray()
        loop = self._loop
        assert loop is not None
        while self._current(port):
            try:
                chunk = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                if self._port is port:
                    loop.call_soon_threadsafe(self._lost, generation, f"read failed: {exc}")
                return
            if not chunk:
                continue
            buf += chunk
            if b"\n" not in buf:
                if len(buf) > 4096:  # a device talking without newlines: do not grow forever
                    buf.clear()
                continue
            *lines, rest = buf.split(b"\n")
            buf = bytearray(rest)
            texts = [ln.rstrip(b"\r").decode("ascii", "replace") for ln in lines]
            loop.call_soon_threadsafe(self._deliver, generation, texts)

    def _deliver(self, generation: int, texts: list[str]) -> None:
        if generation != self._generation or self._port is None:
            return
        for text in texts:
            self._record("<", text)
            self.on_line(text)

    def _lost(self, generation: int, reason: str) -> None:
        if generation == self._generation:
            self._drop(reason)

    def _drop(self, reason: str, *, notify: bool = True) -> None:
        port, self._port = self._port, None
        if port is None:
            return
        if self._fd is not None and self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._fd = None
        self.down_reason = reason
        with contextlib.suppress(Exception):
            port.close()
        self._record("!", f"link down: {reason}")
        if notify:
            self.on_down(reason)
        if self.reconnect and not self._closing and self._loop is not None:
            self._reconnect_task = self._loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = self.backoff[0]
        while not self._closing and self._port is None:
            await asyncio.sleep(delay)
            try:
                await self._open_once()
            except LinkError as exc:
                self._record("!", f"reconnect failed: {exc}")
                delay = min(delay * 2, self.backoff[1])

    def _record(self, direction: str, text: str) -> None:
        entry = LogEntry(time.time(), direction, text)
        self.log.append(entry)
        if self._debug:
            stamp = time.strftime("%H:%M:%S", time.localtime(entry.time))
            self._debug.write(f"{stamp}.{int(entry.time * 1000) % 1000:03d} {direction} {text}\n")
            self._debug.flush()
