"""Where raster goes: a network printer, a USB printer, a kernel device, or a folder.

Only the kernel device and USB answer with status. A folder (`file://var/labels`)
never waits for one: brother_ql's own send() would block ~10 s on a plain file.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from cellctl.labels.errors import LabelError, PrinterError
from cellctl.labels.status import STATUS_LEN, STATUS_REQUEST, PrinterStatus, parse_status


class PrinterUnreachable(PrinterError):
    """Nothing was sent: the job can simply be tried again later."""


class PrinterFailed(PrinterError):
    """The printer took (part of) the job and then reported an error."""

    def __init__(self, message: str, status: PrinterStatus | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class SendResult:
    confirmed: bool
    """The printer reported every page printed (False: sent, no read-back possible)."""
    detail: str


class Backend:
    url: str = ""
    reads_status = False

    def status(self, timeout: float = 1.0) -> PrinterStatus | None:
        """The printer's status, or None where this backend cannot read it."""
        return None

    def send(
        self,
        job_id: str,
        data: bytes,
        pages: Sequence[Image.Image] = (),
        *,
        page_count: int | None = None,
    ) -> SendResult:
        raise NotImplementedError

    def delivered(self, job_id: str) -> bool | None:
        """Whether a job sent before a crash arrived (None: cannot tell)."""
        return None

    def close(self) -> None:
        pass


class FolderBackend(Backend):
    """Writes `{job}.bin` (the raster) and `{job}-NNN.png` previews; for demos and tests."""

    def __init__(self, folder: Path, url: str = "") -> None:
        self.folder = folder
        self.url = url or f"file://{folder}"

    def raster_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.bin"

    def send(
        self,
        job_id: str,
        data: bytes,
        pages: Sequence[Image.Image] = (),
        *,
        page_count: int | None = None,
    ) -> SendResult:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for i, page in enumerate(pages, 1):
                page.save(self.folder / f"{job_id}-{i:03}.png")
            part = self.folder / f".{job_id}.bin.part"
            with open(part, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            # The rename is the moment of printing: a crash before it leaves no .bin.
            os.replace(part, self.raster_path(job_id))
        except OSError as exc:
            msg = f"cannot write labels to {self.folder}: {exc.strerror}"
            raise PrinterUnreachable(msg) from None
        return SendResult(True, f"written to {self.raster_path(job_id)}")

    def delivered(self, job_id: str) -> bool | None:
        return self.raster_path(job_id).exists()


class FileBackend(Backend):
    """A plain file: the raster of the last job, nothing read back."""

    def __init__(self, path: Path, url: str = "") -> None:
        self.path = path
        self.url = url or f"file://{path}"

    def send(
        self,
        job_id: str,
        data: bytes,
        pages: Sequence[Image.Image] = (),
        *,
        page_count: int | None = None,
    ) -> SendResult:
        try:
            self.path.write_bytes(data)
        except OSError as exc:
            raise PrinterUnreachable(f"cannot write {self.path}: {exc.strerror}") from None
        return SendResult(False, f"written to {self.path}")


class _StatusReader:
    """Splits a byte stream into 32-byte status replies (they start 80 20 42)."""

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[PrinterStatus]:
        self.buf += data
        out: list[PrinterStatus] = []
        while True:
            start = self.buf.find(b"\x80\x20\x42")
            if start < 0:
                self.buf = self.buf[-2:]
                return out
            if len(self.buf) - start < STATUS_LEN:
                self.buf = self.buf[start:]
                return out
            frame, self.buf = self.buf[start : start + STATUS_LEN], self.buf[start + STATUS_LEN :]
            with contextlib.suppress(LabelError):
                out.append(parse_status(frame))


class DeviceBackend(Backend):
    """A kernel printer device (/dev/usb/lp0) or any character device speaking the protocol."""

    reads_status = True

    def __init__(self, path: Path, url: str = "", *, page_timeout: float = 4.0) -> None:
        self.path = path
        self.url = url or f"file://{path}"
        self.page_timeout = page_timeout

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_NOCTTY)
        except OSError as exc:
            raise PrinterUnreachable(
                f"no printer at {self.path} ({exc.strerror}): check its USB cable and power"
            ) from None

    @staticmethod
    def _drain(fd: int) -> None:
        while select.select([fd], [], [], 0)[0]:
            if not os.read(fd, 4096):
                return

    @staticmethod
    def _replies(fd: int, reader: _StatusReader, deadline: float):
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([fd], [], [], left)[0]:
                return
            chunk = os.read(fd, 256)
            if not chunk:
                return
            yield from reader.feed(chunk)

    def status(self, timeout: float = 1.0) -> PrinterStatus | None:
        fd = self._open()
        try:
            self._drain(fd)
            os.write(fd, b"\x00" * 200 + b"\x1b\x40" + STATUS_REQUEST)
            for reply in self._replies(fd, _StatusReader(), time.monotonic() + timeout):
                return reply
            return None
        except OSError as exc:
            raise PrinterUnreachable(f"printer at {self.path}: {exc.strerror}") from None
        finally:
            os.close(fd)

    def send(
        self,
        job_id: str,
        data: bytes,
        pages: Sequence[Image.Image] = (),
        *,
        page_count: int | None = None,
    ) -> SendResult:
        fd = self._open()
        try:
            self._drain(fd)
            try:
                _write_all(fd, data)
            except OSError as exc:
                raise PrinterFailed(f"the printer stopped taking the job: {exc.strerror}") from None
            want = page_count or len(pages) or 1
            done = 0
            deadline = time.monotonic() + self.page_timeout * want
            for reply in self._replies(fd, _StatusReader(), deadline):
                if reply.errors or reply.status_type == "error":
                    msgs = reply.problems() or ["the printer reported an error"]
                    raise PrinterFailed(" ".join(msgs), reply)
                if reply.status_type == "printing completed":
                    done += 1
                    if done >= want:
                        return SendResult(True, f"{done} label(s) printed")
            return SendResult(False, f"sent; {done} of {want} page(s) confirmed")
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view[:4096])
        view = view[n:]


class NetworkBackend(Backend):
    """tcp://host:9100 (raw port). Brother's network port gives no status back."""

    def __init__(self, host: str, port: int, url: str = "", *, timeout: float = 3.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.url = url or f"tcp://{host}:{port}"

    def send(
        self,
        job_id: str,
        data: bytes,
        pages: Sequence[Image.Image] = (),
        *,
        page_count: int | None = None,
    ) -> SendResult:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise PrinterUnreachable(
                f"printer {self.host}:{self.port} does not answer ({exc}): "
                "check it is switched on and on the network"
            ) from None
        with sock:
            try:
                sock.settimeout(30)
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
            except OSError as exc:
                raise PrinterFailed(f"the printer dropped the connection: {exc}") from None
        return SendResult(False, f"sent {len(data)} bytes to {self.host}:{self.port}")


class UsbBackend(Backend):
    """usb://0x04f9:0x209b through brother_ql's pyusb backend (needs the pyusb package)."""

    reads_status = True

    def __init__(self, url: str) -> None:
        self.url = url

    def _printer(self):
        try:
            from brother_ql.backends.pyusb import BrotherQLBackendPyUSB
        except ImportError:
            raise LabelError("USB printing needs pyusb: pip install pyusb") from None
        try:
            return BrotherQLBackendPyUSB(self.url)
        except Exception as exc:
            raise PrinterUnreachable(f"no USB printer {self.url}: {exc}") from None

    def status(self, timeout: float = 1.0) -> PrinterStatus | None:
        p = self._printer()
        try:
            p.write(b"\x00" * 200 + b"\x1b\x40" + STATUS_REQUEST)
            deadline = time.monotonic() + timeout
            reader = _StatusReader()
            while time.monotonic() < deadline:
                for reply in reader.feed(p.read() or b""):
                    return reply
            return None
        finally:
            p.dispose()

    def send(
        self,
        job_id: str,
        data: bytes,
        pages: Sequence[Image.Image] = (),
        *,
        page_count: int | None = None,
    ) -> SendResult:
        p = self._printer()
        try:
            p.write(data)
            want, done = page_count or len(pages) or 1, 0
            deadline = time.monotonic() + 4.0 * want
            reader = _StatusReader()
            while time.monotonic() < deadline:
                for reply in reader.feed(p.read() or b""):
                    if reply.errors:
                        raise PrinterFailed(" ".join(reply.problems()), reply)
                    if reply.status_type == "printing completed":
                        done += 1
                if done >= want:
                    return SendResult(True, f"{done} label(s) printed")
            return SendResult(False, f"sent; {done} of {want} page(s) confirmed")
        finally:
            p.dispose()


def open_backend(url: str, base_dir: str | Path | None = None) -> Backend:
    """tcp://host[:port], usb://..., file:///dev/usb/lp0, file://dir (folder) or file://x.bin."""
    if url.startswith("tcp://"):
        rest = url[6:].rstrip("/")
        host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "9100")
        if not host or not port.isdigit():
            raise LabelError(f"printer {url!r}: expected tcp://host:9100")
        return NetworkBackend(host, int(port), url)
    if url.startswith("usb://"):
        return UsbBackend(url)
    if url.startswith("file://"):
        rest = url[7:]
        if not rest:
            raise LabelError("printer 'file://' needs a path: file:///dev/usb/lp0 or file://dir")
        path = Path(rest)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        try:
            mode = path.stat().st_mode
        except OSError:
            mode = 0
        if stat.S_ISCHR(mode) or str(path).startswith("/dev/"):
            return DeviceBackend(path, url)
        if stat.S_ISDIR(mode) or rest.endswith("/") or not path.suffix:
            return FolderBackend(path, url)
        return FileBackend(path, url)
    raise LabelError(
        f"printer {url!r}: expected tcp://host:9100, usb://VID:PID, file:///dev/usb/lp0 "
        "or file://folder"
    )
