"""The camera scanner: a grabber thread, a decode thread on the newest frame, and
de-duplication, handing each new scan to a callback (the hub) from that thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cellctl.scan.capture import FrameSource, Grabber, StateListener
from cellctl.scan.cascade import FrameResult, Pipeline
from cellctl.scan.dedup import Deduplicator
from cellctl.scan.scans import Scan, make_scan


class CameraScanner:
    """Decodes the newest frame, never a backlog: a slow decode skips frames, not time."""

    def __init__(
        self,
        source: FrameSource,
        on_scan: Callable[[Scan], None],
        pipeline: Pipeline | None = None,
        dedup_s: float = 2.0,
        public_key: Ed25519PublicKey | None = None,
        on_state: StateListener | None = None,
        on_frame: Callable[[FrameResult, float], None] | None = None,
    ) -> None:
        self.grabber = Grabber(source, on_state)
        self.pipeline = pipeline or Pipeline(static_every=10)
        self.dedup = Deduplicator(dedup_s)
        self.origin = f"camera:{source.name}"
        self.public_key = public_key
        self._on_scan = on_scan
        self._on_frame = on_frame
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.decoded = 0
        self.errors = 0

    @property
    def state(self) -> str:
        return self.grabber.state

    def start(self) -> None:
        self._stop.clear()
        self.grabber.start()
        self._thread = threading.Thread(target=self._run, name="scan-decode", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.grabber.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        seq = 0
        while not self._stop.is_set():
            frame = self.grabber.latest(seq, timeout=0.2)
            if frame is None:
                if self.grabber.state == "ended":
                    return
                continue
            seq = frame.seq
            try:
                result = self.pipeline.decode(frame.image)
            except Exception:  # one bad frame must not end scanning
                self.errors += 1
                continue
            self.decoded += 1
            if self._on_frame is not None:
                self._on_frame(result, frame.t)
            for read in self.dedup.feed(result.reads, frame.t):
                self._on_scan(
                    make_scan(self.origin, read.text, read.format, self.public_key, frame.t)
                )

    def wait_ended(self, timeout: float) -> bool:
        """For recordings: wait until every frame was read and the decoder caught up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._thread is not None and not self._thread.is_alive():
                return True
            self._stop.wait(0.02)
        return False
