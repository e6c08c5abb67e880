"""A Brother QL printer on a pseudo-terminal, speaking the raster protocol.

It answers status requests with the 32-byte reply, checks each job's media
against the roll loaded, reports no media / cover open / wrong media as the real
printer does, and keeps every job it printed (bytes, readable by brother_ql's
reader). The demo and the tests print to it through `file:///dev/pts/N`.
"""

from __future__ import annotations

import os
import pty
import select
import struct
import threading
import tty
from dataclasses import dataclass

from cellctl.labels.status import build_status

# opcode -> bytes after the opcode (None: raster row with its own length byte)
_OPS: list[tuple[bytes, int | None]] = [
    (b"\x1b\x69\x55\x77\x01", 127),
    (b"\x1b\x69\x55\x4a", 14),
    (b"\x1b\x69\x58\x47", 0),
    (b"\x1b\x69\x53", 0),
    (b"\x1b\x69\x61", 1),
    (b"\x1b\x69\x21", 1),
    (b"\x1b\x69\x7a", 10),
    (b"\x1b\x69\x4d", 1),
    (b"\x1b\x69\x41", 1),
    (b"\x1b\x69\x4b", 1),
    (b"\x1b\x69\x64", 2),
    (b"\x1b\x40", 0),
    (b"\x4d", 1),
    (b"\x67", None),
    (b"\x77", None),
    (b"\x0c", 0),
    (b"\x1a", 0),
    (b"\x5a", 0),
]


@dataclass
class Roll:
    width_mm: int = 62
    length_mm: int = 0
    die_cut: bool = False

    @property
    def media_type(self) -> int:
        return 0x0B if self.die_cut else 0x0A


class QLPrinterSim:
    def __init__(self, model_code: int = 0x38, roll: Roll | None = None) -> None:
        self.model_code = model_code
        self.roll: Roll | None = roll if roll is not None else Roll()
        self.cover_open = False
        self.labels_left: int | None = None
        """Labels left on the roll; None for plenty. At 0 the roll is empty."""
        self.jobs: list[bytes] = []
        self.pages_printed = 0
        self.status_requests = 0
        self._lock = threading.Lock()
        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave)  # no line discipline: raster bytes pass unchanged
        self.path = os.ttyname(self._slave)
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="ql-sim", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def load(self, roll: Roll | None) -> None:
        with self._lock:
            self.roll = roll

    def set_cover_open(self, is_open: bool) -> None:
        with self._lock:
            self.cover_open = is_open

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._master, self._slave, self._stop_r, self._stop_w):
            os.close(fd)

    def __enter__(self) -> QLPrinterSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- protocol --------------------------------------------------------------

    def _status(self, status_type: int = 0, phase: int = 0, e1: int = 0, e2: int = 0) -> bytes:
        roll = self.roll
        # A real QL sets these bits in every reply, not only in error replies.
        if roll is None:
            e1 |= 0x01
            return build_status(
                model_code=self.model_code,
                media_width_mm=0,
                media_type=0,
                error1=e1,
                error2=e2,
                status_type=status_type,
                phase=phase,
            )
        if self.cover_open:
            e2 |= 0x10
        return build_status(
            model_code=self.model_code,
            media_width_mm=roll.width_mm,
            media_length_mm=roll.length_mm,
            media_type=roll.media_type,
            error1=e1,
            error2=e2,
            status_type=status_type,
            phase=phase,
        )

    def _reply(self, data: bytes) -> None:
        os.write(self._master, data)

    def _run(self) -> None:
        buf = b""
        job = b""
        media: tuple[int, int, int] | None = None
        failed = False
        while True:
            ready = select.select([self._master, self._stop_r], [], [])[0]
            if self._stop_r in ready:
                return
            try:
                chunk = os.read(self._master, 65536)
            except OSError:
                return
            buf += chunk
            while buf:
                if buf[0] == 0:
                    job += buf[:1]
                    buf = buf[1:]
                    continue
                op = next((o for o in _OPS if buf.startswith(o[0])), None)
                if op is None:
                    buf = buf[1:]  # unknown byte: the real printer ignores it too
                    continue
                code, extra = op
                if extra is None:
                    if len(buf) < 3:
                        break
                    n = len(code) + 2 + buf[2]
                else:
                    n = len(code) + extra
                if len(buf) < n:
                    break
                instr, buf = buf[:n], buf[n:]
                job += instr
                with self._lock:
                    if code == b"\x1b\x40":
                        job, media, failed = instr, None, False
                    elif code == b"\x1b\x69\x53":
                        self.status_requests += 1
                        self._reply(self._status())
                    elif code == b"\x1b\x69\x7a":
                        media = (instr[4], instr[5], instr[6])  # type, width, length
                    elif code in (b"\x0c", b"\x1a") and not failed:
                        problem = self._problem(media)
                        if problem:
                            failed = True
                            self._reply(self._status(2, 0, *problem))
                            continue
                        self.pages_printed += 1
                        if self.labels_left is not None:
                            self.labels_left -= 1
                        if code == b"\x1a":
                            self.jobs.append(job)
                        self._reply(self._status(1, 1))
                        if code == b"\x1a":
                            self._reply(self._status(6, 0))

    def _problem(self, media: tuple[int, int, int] | None) -> tuple[int, int] | None:
        if self.roll is None:
            return (0x01, 0)
        if self.labels_left is not None and self.labels_left <= 0:
            return (0x01 if not self.roll.die_cut else 0x02, 0)
        if self.cover_open:
            return (0, 0x10)
        if media is not None:
            mtype, width, length = media
            r = self.roll
            wrong_length = r.die_cut and length != r.length_mm
            if width != r.width_mm or mtype != r.media_type or wrong_length:
                return (0, 0x01)
        return None


def raster_rows(job: bytes) -> int:
    """Rows announced in a job's media/quality commands (for quick checks)."""
    total, i = 0, 0
    while (i := job.find(b"\x1b\x69\x7a", i)) >= 0:
        total += struct.unpack("<L", job[i + 7 : i + 11])[0]
        i += 3
    return total
