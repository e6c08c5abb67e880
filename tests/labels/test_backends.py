"""Backends: a raw TCP printer port on loopback, URL parsing, unreachable printers."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from PIL import Image

from cellctl.labels.backends import (
    DeviceBackend,
    FileBackend,
    FolderBackend,
    NetworkBackend,
    PrinterUnreachable,
    UsbBackend,
    open_backend,
)
from cellctl.labels.decode import with_zxing
from cellctl.labels.errors import LabelError
from cellctl.labels.raster import build_job, read_back
from cellctl.labels.render import render
from cellctl.labels.samples import sample_values
from cellctl.labels.template import find_template


@pytest.fixture
def port_9100():
    """A listener that keeps what one connection sends, as a printer's raw port does."""
    srv = socket.create_server(("127.0.0.1", 0))
    got: list[bytes] = []
    done = threading.Event()

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            chunks = []
            while data := conn.recv(65536):
                chunks.append(data)
        got.append(b"".join(chunks))
        done.set()

    threading.Thread(target=serve, daemon=True).start()
    yield srv.getsockname()[1], got, done
    srv.close()


def test_network_printer_receives_the_whole_job(port_9100):
    port, got, done = port_9100
    t = find_template("batch_traveller")
    r = render(t, sample_values())
    job = build_job([r.image, r.image], "QL-820NWB", t.media)
    backend = open_backend(f"tcp://127.0.0.1:{port}")
    assert isinstance(backend, NetworkBackend) and backend.status() is None
    result = backend.send("j", job, page_count=2)
    assert done.wait(10)
    assert got == [job] and not result.confirmed
    pages = read_back(got[0])
    assert len(pages) == 2
    assert {f.text for f in with_zxing(pages[1])} == {"CB:B0042", "CR:R-2026-0042/1"}


def test_an_unreachable_network_printer_fails_fast():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        t0 = time.monotonic()
        with pytest.raises(PrinterUnreachable, match="does not answer"):
            NetworkBackend("127.0.0.1", port, timeout=2).send("j", b"x")
        assert time.monotonic() - t0 < 3


def test_urls(tmp_path):
    assert isinstance(open_backend("tcp://printer.local"), NetworkBackend)
    assert open_backend("tcp://printer.local").port == 9100
    assert isinstance(open_backend("usb://0x04f9:0x209b"), UsbBackend)
    assert isinstance(open_backend("file:///dev/usb/lp0"), DeviceBackend)
    assert isinstance(open_backend("file://var/labels", tmp_path), FolderBackend)
    assert open_backend("file://var/labels", tmp_path).folder == tmp_path / "var/labels"
    assert isinstance(open_backend(f"file://{tmp_path}/job.bin"), FileBackend)
    for bad in ("lpr://x", "file://", "tcp://host:port"):
        with pytest.raises(LabelError):
            open_backend(bad)


def test_folder_backend_write_is_atomic_and_tells_what_arrived(tmp_path):
    b = FolderBackend(tmp_path / "out")
    assert b.delivered("j1") is False
    b.send("j1", b"raster", [Image.new("L", (10, 10), 255)])
    assert b.delivered("j1") is True
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["j1-001.png", "j1.bin"]
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "x").write_text("file, not a folder")
    with pytest.raises(PrinterUnreachable, match="cannot write labels"):
        FolderBackend(tmp_path / "ro" / "x").send("j2", b"raster")
