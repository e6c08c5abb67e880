"""One asyncio stream of scans from every scanner of a station.

Scanner threads hand scans to the event loop with `call_soon_threadsafe`; the station
controller reads them with `await hub.get()` or `async for scan in hub`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cellctl.scan.capture import FrameSource, GeneratedSource, source_from_spec
from cellctl.scan.cascade import FrameResult, Pipeline
from cellctl.scan.scans import Scan, make_scan
from cellctl.scan.serial_scanner import SerialScanner
from cellctl.scan.wedge import WedgeDetector
from cellctl.scan.worker import CameraScanner

StatusListener = Callable[[str, str, str], None]  # (origin, state, detail)


class ScanHub:
    def __init__(
        self,
        public_key: Ed25519PublicKey | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        maxsize: int = 256,
    ) -> None:
        self.public_key = public_key
        self._loop = loop or asyncio.get_running_loop()
        self._queue: asyncio.Queue[Scan] = asyncio.Queue(maxsize)
        self.cameras: list[CameraScanner] = []
        self.serials: list[SerialScanner] = []
        self.wedge = WedgeDetector()
        self.status: dict[str, tuple[str, str]] = {}
        self._status_listeners: list[StatusListener] = []
        self.dropped = 0

    # Feeding -----------------------------------------------------------------------
    def put(self, scan: Scan) -> None:
        """Thread-safe: any thread may hand a scan to the stream."""
        try:
            self._loop.call_soon_threadsafe(self._put_now, scan)
        except RuntimeError:  # the loop has closed: the station is shutting down
            self.dropped += 1

    def _put_now(self, scan: Scan) -> None:
        try:
            self._queue.put_nowait(scan)
        except asyncio.QueueFull:
            self.dropped += 1  # nobody is reading; the oldest scans stay, as typed

    def _state(self, origin: str) -> Callable[[str, str], None]:
        def listener(state: str, detail: str) -> None:
            self.status[origin] = (state, detail)
            for cb in self._status_listeners:
                try:
                    self._loop.call_soon_threadsafe(cb, origin, state, detail)
                except RuntimeError:
                    return

        return listener

    def on_status(self, listener: StatusListener) -> None:
        """`listener(origin, state, detail)` on the loop when a scanner changes state."""
        self._status_listeners.append(listener)

    def attach_camera(
        self,
        source: FrameSource,
        pipeline: Pipeline | None = None,
        dedup_s: float = 2.0,
        on_frame: Callable[[FrameResult, float], None] | None = None,
    ) -> CameraScanner:
        """Start decoding `source`; `on_frame(result, captured)` hears every decoded frame
        (from the decode thread), e.g. to show the operator that the camera sees."""
        origin = f"camera:{source.name}"
        cam = CameraScanner(
            source, self.put, pipeline, dedup_s, self.public_key, self._state(origin), on_frame
        )
        self.cameras.append(cam)
        cam.start()
        return cam

    def attach_serial(self, port: str, baud: int = 9600) -> SerialScanner:
        origin = f"serial:{port}"

        def on_text(text: str) -> None:
            self.put(make_scan(origin, text, None, self.public_key))

        scanner = SerialScanner(port, on_text, baud, self._state(origin))
        self.serials.append(scanner)
        scanner.start()
        return scanner

    def wedge_key(self, char: str, t: float | None = None) -> str:
        """Feed one key from the kiosk; returns the keys a person typed (to pass on)."""
        t = time.monotonic() if t is None else t
        result = self.wedge.key(char, t)
        if result.scan is not None:
            self._put_now(make_scan("wedge", result.scan, None, self.public_key, t))
        return result.typed

    def attach_config(self, station) -> None:
        """Attach what a `StationConfig` lists: its camera and its serial scanners."""
        cam = station.camera
        if cam is not None and cam.source is not None:
            src = source_from_spec(
                cam.source, cam.width, cam.height, cam.fps, focus=cam.focus, exposure=cam.exposure
            )
            self.attach_camera(src, Pipeline.from_config(cam), cam.dedup_s)
        for sc in station.scanners:
            if sc.kind == "serial":
                self.attach_serial(sc.port, sc.baud)

    @property
    def generated(self) -> GeneratedSource | None:
        """The demo camera, when the station uses one (to `show()` payloads on it)."""
        for cam in self.cameras:
            if isinstance(cam.grabber.source, GeneratedSource):
                return cam.grabber.source
        return None

    # Reading -----------------------------------------------------------------------
    async def get(self) -> Scan:
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[Scan]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Scan]:
        while True:
            yield await self._queue.get()

    def close(self) -> None:
        for cam in self.cameras:
            cam.stop()
        for s in self.serials:
            s.stop()
