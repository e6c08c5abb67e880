"""Capture sources, newest-frame grabbing, camera drop and reconnect, the scan stream."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import tty

import cv2
import numpy as np
import pytest

from cellctl.config.models import CameraConfig, ScannerConfig, StationConfig, StationInfo
from cellctl.scan.capture import (
    FolderSource,
    GeneratedSource,
    Grabber,
    OpenCvSource,
    SourceError,
    source_from_spec,
)
from cellctl.scan.cascade import Pipeline
from cellctl.scan.hub import ScanHub
from cellctl.scan.payload import OwnCode, UnknownCode
from cellctl.scan.worker import CameraScanner
from tests.waiting import holds_within, wait_until

from .frames import frame_with


@pytest.fixture(scope="module")
def video(tmp_path_factory, backgrounds):
    """A short generated video: 10 empty frames, 15 with a QR, 10 empty, 15 with Code 128."""
    path = tmp_path_factory.mktemp("video") / "shift.avi"
    small = [cv2.resize(b, (640, 360)) for b in backgrounds]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 360))
    assert writer.isOpened()
    qr = cv2.resize(frame_with("CB:VID-1", "QR", backgrounds[0], 1, 3), (640, 360))
    c128 = cv2.resize(frame_with("CM:LOT-5", "Code128", backgrounds[0], 0, 4), (640, 360))
    for image in [small[0]] * 10 + [qr] * 15 + [small[1]] * 10 + [c128] * 15:
        writer.write(image)
    writer.release()
    return path


def test_video_file_through_the_camera_scanner_reports_each_code_once(video) -> None:
    scans = []
    src = OpenCvSource(str(video))
    cam = CameraScanner(src, scans.append, Pipeline(budget_ms=200), dedup_s=0.1)
    cam.grabber.pace = True
    cam.start()
    assert cam.wait_ended(20)
    cam.stop()
    assert [s.text for s in scans] == ["CB:VID-1", "CM:LOT-5"]
    assert all(s.origin == f"camera:{video}" for s in scans)


def test_folder_source_reads_images_in_name_order(tmp_path, backgrounds) -> None:
    cv2.imwrite(str(tmp_path / "b.png"), backgrounds[1])
    cv2.imwrite(str(tmp_path / "a.png"), backgrounds[0])
    (tmp_path / "notes.txt").write_text("not an image")
    src = FolderSource(tmp_path)
    src.open()
    first, second, end = src.read(), src.read(), src.read()
    assert np.array_equal(first, backgrounds[0]) and np.array_equal(second, backgrounds[1])
    assert end is None
    with pytest.raises(SourceError):
        FolderSource(tmp_path / "missing").open()
    assert isinstance(source_from_spec(str(tmp_path)), FolderSource)
    assert isinstance(source_from_spec("generated"), GeneratedSource)


def test_grabber_keeps_only_the_newest_frame() -> None:
    src = GeneratedSource(320, 240, fps=200)
    grabber = Grabber(src)
    grabber.start()
    try:
        first = grabber.latest(0, timeout=2)
        assert first is not None
        assert holds_within(lambda: grabber.frames >= first.seq + 10)
        newest = grabber.latest(first.seq, timeout=2)
        # A slow consumer skips straight to the newest frame, not the next one.
        assert newest is not None and newest.seq >= first.seq + 10
    finally:
        grabber.stop()


def test_camera_drop_is_shown_and_reconnects() -> None:
    src = GeneratedSource(640, 360, fps=60)
    states: list[str] = []
    scans = []
    cam = CameraScanner(src, scans.append, Pipeline(static_every=10), dedup_s=0.2)
    cam.grabber.add_listener(lambda state, detail: states.append(state))
    cam.grabber.retry_s = 0.05
    cam.start()
    try:
        assert holds_within(lambda: cam.state == "live")
        src.show("CB:BEFORE", "QR", 3)
        assert holds_within(lambda: [s.text for s in scans] == ["CB:BEFORE"])
        src.unplug()
        assert holds_within(lambda: cam.state == "reconnecting")
        assert holds_within(lambda: states.count("reconnecting") >= 1 and cam.grabber.detail != "")
        src.clear()
        src.plug()
        assert holds_within(lambda: cam.state == "live")
        assert cam.grabber.reconnects == 1
        src.show("CB:AFTER", "QR", 3)
        assert holds_within(lambda: [s.text for s in scans] == ["CB:BEFORE", "CB:AFTER"])
    finally:
        cam.stop()
    assert states[:2] == ["connecting", "live"] and "reconnecting" in states


def test_missing_camera_keeps_retrying_with_a_message() -> None:
    states: list[tuple[str, str]] = []
    grabber = Grabber(OpenCvSource("/tmp/no-such-video.mp4"), lambda s, d: states.append((s, d)))
    grabber.retry_s = 0.02
    grabber.start()
    try:
        assert holds_within(lambda: len([s for s in states if s[0] == "reconnecting"]) >= 1)
    finally:
        grabber.stop()
    assert any("no such video file" in d for _, d in states)


async def test_hub_streams_camera_and_serial_scans_with_origin() -> None:
    master, slave = os.openpty()
    tty.setraw(master)
    port = os.ttyname(slave)
    station = StationConfig(
        station=StationInfo(id="qa1", kind="qa"),
        camera=CameraConfig(source="generated", width=640, height=360, fps=30),
        scanners=[ScannerConfig(kind="serial", port=port, baud=9600)],
    )
    hub = ScanHub()
    statuses: list[tuple[str, str]] = []
    hub.on_status(lambda origin, state, detail: statuses.append((origin, state)))
    hub.attach_config(station)
    try:
        gen = hub.generated
        assert gen is not None
        gen.show("CO:ANNA1", "QR", 3)
        scan = await asyncio.wait_for(hub.get(), 5)
        assert (scan.origin, scan.text, scan.symbology) == ("camera:generated", "CO:ANNA1", "QR")
        assert isinstance(scan.parsed, OwnCode)
        assert time.monotonic() - scan.captured < 1.0
        await wait_until(lambda: hub.serials[0].state == "live", 5)
        os.write(master, b"CC:GOOD+1\r\nCC:NOPE\r\n")
        first = await asyncio.wait_for(hub.get(), 5)
        second = await asyncio.wait_for(hub.get(), 5)
        assert (first.origin, first.text) == (f"serial:{port}", "CC:GOOD+1")
        assert isinstance(second.parsed, UnknownCode)
        assert second.parsed.message.startswith("unknown code: unknown command card")
        assert ("camera:generated", "live") in statuses
    finally:
        await asyncio.to_thread(hub.close)
        os.close(master)
        os.close(slave)


def test_bad_frame_does_not_stop_the_worker() -> None:
    class Flaky(GeneratedSource):
        def read(self):
            image = super().read()
            self.calls = getattr(self, "calls", 0) + 1
            # Broken frames for about half a second: the worker decodes only the newest
            # frame, so a slow first decode on a loaded machine must not skip them all.
            return image[:, :, :0] if 2 <= self.calls <= 30 else image

    src = Flaky(320, 240, fps=60)
    done = threading.Event()
    cam = CameraScanner(src, lambda s: done.set(), Pipeline(budget_ms=50))
    cam.start()
    try:
        assert holds_within(lambda: cam.errors >= 1)
        src.show("CB:AFTER-BAD", "QR", 2)
        assert done.wait(5)
    finally:
        cam.stop()


def test_serial_scanner_without_its_port_says_so_and_retries() -> None:
    from cellctl.scan.serial_scanner import SerialScanner

    states: list[tuple[str, str]] = []
    scanner = SerialScanner(
        "/dev/no-such-scanner", print, 9600, lambda s, d: states.append((s, d)), retry_s=0.05
    )
    scanner.start()
    try:
        assert holds_within(lambda: scanner.state == "reconnecting")
    finally:
        scanner.stop()
    assert "no-such-scanner" in states[0][1]


def test_serial_bytes_not_utf8_become_an_unknown_code() -> None:
    from cellctl.scan.scans import make_scan

    got: list[str] = []
    master, slave = os.openpty()
    tty.setraw(master)
    from cellctl.scan.serial_scanner import SerialScanner

    scanner = SerialScanner(os.ttyname(slave), got.append)
    scanner.start()
    try:
        assert holds_within(lambda: scanner.state == "live")
        os.write(master, b"CB:\xff\xfe\r")
        assert holds_within(lambda: len(got) == 1)
    finally:
        scanner.stop()
        os.close(master)
        os.close(slave)
    parsed = make_scan("serial:x", got[0]).parsed
    assert isinstance(parsed, UnknownCode) and "unprintable" in parsed.message
