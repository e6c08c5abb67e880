"""Camera capture: frame sources and a thread that keeps only the newest frame.

Every source has the same small interface (`open`, `read`, `close`), so a USB camera,
a V4L2 path, an RTSP/HTTP stream, a video file, a folder of images and the generated
demo camera all feed the same grabber and decoder.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


class SourceError(Exception):
    """The source cannot be opened or has gone; the message is for the operator."""


class FrameSource(Protocol):
    name: str
    fps: float
    live: bool  # a camera (paced by itself) rather than a recording to be replayed

    def open(self) -> None: ...
    def read(self) -> np.ndarray | None: ...  # None: dropped (live) or ended (recording)
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Frame:
    image: np.ndarray
    seq: int
    t: float  # time.monotonic() when the frame was captured


class OpenCvSource:
    """A camera index, a V4L2 device path, an RTSP/HTTP URL or a video file."""

    def __init__(
        self,
        spec: str | int,
        width: int | None = None,
        height: int | None = None,
        fps: float = 30.0,
        focus: float | None = None,
        exposure: float | None = None,
    ) -> None:
        self.spec = spec
        self.name = str(spec)
        self.width, self.height, self.fps = width, height, fps
        self.focus, self.exposure = focus, exposure
        self.live = isinstance(spec, int) or str(spec).startswith(("/dev/", "rtsp:", "http"))
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        if not self.live and not Path(str(self.spec)).exists():
            raise SourceError(f"no such video file: {self.spec}")
        cap = cv2.VideoCapture(self.spec)
        if not cap.isOpened():
            raise SourceError(f"cannot open camera {self.spec!r}")
        if self.live:
            # Only a camera takes these; a file would ignore or misreport them.
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            if self.width and self.height:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_FPS, self.fps)
            if self.focus is not None:
                cap.set(cv2.CAP_PROP_AUTOFOCUS, 0)
                cap.set(cv2.CAP_PROP_FOCUS, self.focus)
            if self.exposure is not None:
                cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, 1)
                cap.set(cv2.CAP_PROP_EXPOSURE, self.exposure)
        else:
            self.fps = cap.get(cv2.CAP_PROP_FPS) or self.fps
        self._cap = cap

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            return None
        ok, image = self._cap.read()
        return image if ok else None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FolderSource:
    """The images of a folder in name order, as a recording (for tests and replays)."""

    live = False

    def __init__(self, path: str | Path, fps: float = 30.0) -> None:
        self.path = Path(path)
        self.name = str(path)
        self.fps = fps
        self._files: list[Path] = []
        self._i = 0

    def open(self) -> None:
        if not self.path.is_dir():
            raise SourceError(f"no such folder: {self.path}")
        self._files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        self._i = 0

    def read(self) -> np.ndarray | None:
        while self._i < len(self._files):
            image = cv2.imread(str(self._files[self._i]), cv2.IMREAD_COLOR)
            self._i += 1
            if image is not None:
                return image
        return None

    def close(self) -> None:
        self._files = []


class GeneratedSource:
    """A synthetic camera for the demo and the tests: a busy bench, sensor noise, and
    whichever payload the program asks it to show. `unplug()` makes it fail like a
    camera pulled from its socket, until `plug()`."""

    live = True

    def __init__(
        self, width: int = 1280, height: int = 720, fps: float = 30.0, seed: int = 0
    ) -> None:
        from cellctl.scan import synth

        self.name = "generated"
        self.width, self.height, self.fps = width, height, fps
        rng = np.random.default_rng(seed)
        self._background = synth.busy_background(rng, (width, height))
        # Pre-drawn noise planes, cycled: fresh noise per frame would cost more than decoding.
        self._noise = [rng.integers(-6, 7, (height, width, 3), dtype=np.int16) for _ in range(4)]
        self._lock = threading.Lock()
        self._scene = self._background
        self._shown: tuple[str, str] | None = None
        self.first_frame_t: float | None = None  # when the first frame showing it was taken
        self._plugged = True
        self._opened = False
        self._n = 0
        self._next = 0.0

    @property
    def shown(self) -> tuple[str, str] | None:
        return self._shown

    def show(self, payload: str, symbology: str = "QR", module_px: int = 4) -> None:
        from cellctl.scan import synth

        symbol = synth.render(payload, symbology, module_px)
        sh, sw = symbol.shape
        scene = self._background.copy()
        y, x = (self.height - sh) // 2, (self.width - sw) // 2
        if y < 0 or x < 0:
            raise ValueError(f"a {sw}x{sh} symbol does not fit a {self.width}x{self.height} frame")
        scene[y : y + sh, x : x + sw] = symbol[..., None]
        with self._lock:
            self._scene, self._shown = scene, (payload, symbology)
            self.first_frame_t = None

    def clear(self) -> None:
        with self._lock:
            self._scene, self._shown = self._background, None

    def unplug(self) -> None:
        self._plugged = False

    def plug(self) -> None:
        self._plugged = True

    def open(self) -> None:
        if not self._plugged:
            raise SourceError("generated camera is unplugged")
        self._opened = True
        self._next = time.monotonic()

    def read(self) -> np.ndarray | None:
        if not (self._plugged and self._opened):
            self._opened = False
            return None
        # A camera delivers at its frame rate; so does this one.
        self._next += 1 / self.fps
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            self._next = time.monotonic()
        with self._lock:
            scene = self._scene
            if self._shown is not None and self.first_frame_t is None:
                self.first_frame_t = time.monotonic()
        self._n += 1
        noisy = scene.astype(np.int16) + self._noise[self._n % len(self._noise)]
        return np.clip(noisy, 0, 255).astype(np.uint8)

    def close(self) -> None:
        self._opened = False


def source_from_spec(
    spec: str | int, width: int = 1280, height: int = 720, fps: float = 30.0, **camera
) -> FrameSource:
    """The source a config value or a command-line argument names."""
    if spec == "generated":
        return GeneratedSource(width, height, fps)
    if isinstance(spec, str) and spec.isdigit():
        spec = int(spec)
    if isinstance(spec, str) and Path(spec).is_dir():
        return FolderSource(spec, fps)
    return OpenCvSource(spec, width, height, fps, camera.get("focus"), camera.get("exposure"))


StateListener = Callable[[str, str], None]  # (state, detail)


class Grabber:
    """Reads a source in its own thread and keeps only the newest frame.

    States: "connecting", "live", "reconnecting" (a live source dropped; retried with
    backoff), "ended" (a recording ran out), "stopped". Listeners hear each change
    with a sentence for the operator.
    """

    def __init__(
        self,
        source: FrameSource,
        on_state: StateListener | None = None,
        retry_s: float = 0.5,
        max_retry_s: float = 5.0,
        pace: bool = True,
    ) -> None:
        self.source = source
        self.retry_s, self.max_retry_s = retry_s, max_retry_s
        self.pace = pace
        self.state = "stopped"
        self.detail = ""
        self.frames = 0
        self.reconnects = 0
        self._listeners: list[StateListener] = [on_state] if on_state else []
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"grab:{self.source.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._set("stopped", "")

    def latest(self, after_seq: int = 0, timeout: float | None = None) -> Frame | None:
        """The newest frame newer than `after_seq`; waits up to `timeout` for one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._frame is None or self._frame.seq <= after_seq:
                if self._stop.is_set() or self.state == "ended":
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            return self._frame

    def _set(self, state: str, detail: str) -> None:
        if state == self.state and detail == self.detail:
            return
        self.state, self.detail = state, detail
        with self._cond:
            self._cond.notify_all()
        for listener in self._listeners:
            listener(state, detail)

    def _run(self) -> None:
        delay = self.retry_s
        self._set("connecting", f"opening {self.source.name}")
        while not self._stop.is_set():
            try:
                self.source.open()
            except SourceError as exc:
                self._set("reconnecting", f"{exc}; retrying in {delay:.1f} s")
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_retry_s)
                continue
            except Exception as exc:  # a driver error must not kill the kiosk
                self._set("reconnecting", f"camera error: {exc}; retrying in {delay:.1f} s")
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_retry_s)
                continue
            if self.frames:
                self.reconnects += 1
            self._set("live", f"{self.source.name} live")
            delay = self.retry_s
            ended = self._pump()
            self.source.close()
            if ended:
                self._set("ended", f"{self.source.name}: end of recording")
                return
            if not self._stop.is_set():
                self._set("reconnecting", f"{self.source.name} dropped; reconnecting")

    def _pump(self) -> bool:
        """Read until the source fails; True when a recording ended."""
        period = 1 / self.source.fps if self.source.fps > 0 else 0
        next_t = time.monotonic()
        while not self._stop.is_set():
            image = self.source.read()
            if image is None:
                return not self.source.live
            if self.pace and not self.source.live and period:
                next_t += period
                self._stop.wait(max(0.0, next_t - time.monotonic()))
            self.frames += 1
            frame = Frame(image, self.frames, time.monotonic())
            with self._cond:
                self._frame = frame
                self._cond.notify_all()
        return False
