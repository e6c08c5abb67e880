"""A pseudo-terminal whose far end behaves like a UART behind a USB-serial adapter.

Bytes the host writes are read off the pty master at once but reach the device
model only at the time a real wire would deliver them: one byte every 10/baud
seconds, plus a one-way latency. Replies travel back the same way. The device
model runs on a virtual clock driven by those delivery times, so buffer
occupancy, overflows and `ok` timing do not depend on how late the thread woke.

The master runs in packet mode, so the model learns when the host opens the port:
pyserial flushes its input on open, which the kernel reports as TIOCPKT_FLUSHREAD
(where an Arduino would see DTR drop and reset).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import shutil
import struct
import tempfile
import termios
import threading
import time
import tty
import weakref
from collections import deque
from pathlib import Path

MAX_IDLE_WAKE = 0.02


class SimDevice:
    """Base of the simulators: owns the pty and the pacing; subclasses model the device."""

    kind = "device"

    def __init__(
        self,
        *,
        baud: int = 115_200,
        latency: float = 0.002,
        link_path: str | None = None,
    ) -> None:
        self.baud = baud
        self.byte_time = 10.0 / baud
        self.latency = latency
        self.lock = threading.RLock()
        self._link_path = Path(link_path) if link_path else None
        self._tmpdir: str | None = None
        self._remove_dir: weakref.finalize | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._pty_name = ""
        self._rx_wire: deque[tuple[float, int]] = deque()
        self._rx_wake: deque[float] = deque()
        self._rx_free = 0.0
        self._out: deque[tuple[float, bytes]] = deque()
        self._out_free = 0.0
        self._pending_write = b""
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self.bytes_received = 0
        self.wire_idle = 0.0  # host-to-device wire time with nothing to carry
        self.late_max = 0.0  # how late the thread woke for a due byte, worst case
        self.late_sum = 0.0
        self.late_n = 0
        self.bytes_sent = 0

    # ---- lifecycle -------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The path a host opens: a stable symlink to the current pty slave."""
        return str(self._link_path)

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def start(self) -> SimDevice:
        if self._link_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix=f"cellctl-sim-{self.kind}-")
            self._link_path = Path(self._tmpdir) / f"tty{self.kind.upper()}"
            # Removed by stop(); also when the device is dropped or the process exits
            # without a stop() (a command that gave up early), so /tmp keeps nothing.
            self._remove_dir = weakref.finalize(
                self, shutil.rmtree, self._tmpdir, ignore_errors=True
            )
        self.plug()
        self._thread = threading.Thread(target=self._run, name=f"sim-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._poke()
        if self._thread:
            self._thread.join(timeout=2)
        self.unplug()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._remove_dir is not None:
            self._remove_dir()

    def __enter__(self) -> SimDevice:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def plug(self) -> None:
        """Connect the cable: a fresh pty pair, the stable path pointing at its slave."""
        with self.lock:
            if self._master is not None:
                return
            master, slave = os.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            fcntl.ioctl(master, termios.TIOCPKT, struct.pack("i", 1))
            self._master, self._slave = master, slave
            self._pty_name = os.ttyname(slave)
            link = self._link_path
            assert link is not None
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(self._pty_name)
            self._rx_wire.clear()
            self._rx_wake.clear()
            self._out.clear()
            self._pending_write = b""
            self.on_plug(time.monotonic())
        self._poke()

    def unplug(self) -> None:
        """Pull the cable: the host's next read or write on the port fails."""
        with self.lock:
            if self._master is None:
                return
            if self._link_path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self._link_path.unlink()
            for fd in (self._master, self._slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._master = self._slave = None
            self._rx_wire.clear()
            self._rx_wake.clear()
            self._out.clear()
            self._pending_write = b""
            self.on_unplug(time.monotonic())
        self._poke()

    # ---- what subclasses use -----------------------------------------------------------

    def send(self, data: bytes, at: float) -> None:
        """Queue bytes the device transmits, starting at virtual time `at`."""
        if self._master is None or not data:
            return
        start = max(at, self._out_free)
        self._out_free = start + len(data) * self.byte_time
        self._out.append((self._out_free + self.latency, data))
        self.bytes_sent += len(data)

    def send_line(self, text: str, at: float) -> None:
        self.send(text.encode("ascii", "replace") + b"\r\n", at)

    def stats(self) -> dict[str, float]:
        return {
            "bytes_received": self.bytes_received,
            "bytes_sent": self.bytes_sent,
            "wire_idle_s": round(self.wire_idle, 4),
            "wake_late_max_ms": round(self.late_max * 1000, 3),
            "wake_late_mean_ms": round(self.late_sum / max(1, self.late_n) * 1000, 3),
        }

    def now(self) -> float:
        return time.monotonic()

    # Subclass hooks: called with self.lock held.
    def on_plug(self, t: float) -> None:
        pass

    def on_unplug(self, t: float) -> None:
        pass

    def on_host_open(self, t: float) -> None:
        """The host opened the port (or flushed its input)."""

    def wakes_for(self, byte: int) -> bool:
        """Must the model see this byte at its exact delivery time (it triggers a reply)?"""
        return byte == 0x0A

    def deliver(self, t: float, byte: int) -> None:
        raise NotImplementedError

    def advance(self, t: float) -> None:
        """Run the model's own timers (motion, dwell, heating) up to virtual time `t`."""

    def next_timer(self) -> float | None:
        return None

    # ---- the thread ------------------------------------------------------------------

    def _poke(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.lock:
                master = self._master
                wake = self._next_wake()
            timeout = MAX_IDLE_WAKE if wake is None else max(0.0, wake - time.monotonic())
            timeout = min(timeout, MAX_IDLE_WAKE)
            rlist = [self._wake_r] + ([master] if master is not None else [])
            wlist = [master] if master is not None and self._pending_write else []
            try:
                readable, _, _ = select.select(rlist, wlist, [], timeout)
            except (OSError, ValueError):
                continue
            now = time.monotonic()
            with self.lock:
                if self._wake_r in readable:
                    with contextlib.suppress(OSError):
                        os.read(self._wake_r, 4096)
                if self._master is not None and self._master in readable:
                    self._read_master(now)
                self._tick(now)

    def _next_wake(self) -> float | None:
        times = []
        if self._rx_wake:
            times.append(self._rx_wake[0])
        if self._out:
            times.append(self._out[0][0])
        timer = self.next_timer()
        if timer is not None:
            times.append(timer)
        return min(times) if times else None

    def _read_master(self, now: float) -> None:
        master = self._master
        if master is None:  # closed under us: nothing left to read
            return
        try:
            data = os.read(master, 65536)
        except BlockingIOError:
            return
        except OSError:
            return
        if not data:
            return
        if data[0] != termios.TIOCPKT_DATA:  # a packet-mode status byte, no data
            if data[0] & termios.TIOCPKT_FLUSHREAD:
                # What the device was still transmitting is gone with the host's flush.
                self._out.clear()
                self._pending_write = b""
                self.on_host_open(now)
            return
        data = data[1:]
        if self._rx_free and now > self._rx_free:
            self.wire_idle += now - self._rx_free
        start = max(now, self._rx_free)
        for i, b in enumerate(data):
            due = start + (i + 1) * self.byte_time + self.latency
            self._rx_wire.append((due, b))
            if self.wakes_for(b):
                self._rx_wake.append(due)
        self._rx_free = start + len(data) * self.byte_time
        self.bytes_received += len(data)

    def _tick(self, now: float) -> None:
        if self._rx_wake and self._rx_wake[0] <= now:
            late = now - self._rx_wake[0]
            self.late_max = max(self.late_max, late)
            self.late_sum += late
            self.late_n += 1
        while self._rx_wire and self._rx_wire[0][0] <= now:
            due, b = self._rx_wire.popleft()
            if self._rx_wake and self._rx_wake[0] <= due:
                self._rx_wake.popleft()
            self.advance(due)
            self.deliver(due, b)
        self.advance(now)
        chunk = [self._pending_write]
        while self._out and self._out[0][0] <= now:
            chunk.append(self._out.popleft()[1])
        data = b"".join(chunk)
        if data and self._master is not None:
            try:
                n = os.write(self._master, data)
            except (BlockingIOError, OSError):
                n = 0
            self._pending_write = data[n:]
        else:
            self._pending_write = b""
