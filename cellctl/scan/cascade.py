"""Frame decoding: a plain pass, then a fallback cascade inside a per-frame time budget.

The plain pass is the primary decoder on the (region of interest of the) grayscale
frame. Only when it finds nothing do the fallbacks run, cheapest and likeliest first:
code-like regions cut out, turned level (tilted 1D codes), enlarged and equalised,
read by every configured decoder; then the second decoder over the whole frame; then
the whole frame equalised with inverted symbols tried. Each stage is skipped when its
running cost no longer fits in what is left of the budget.

The budget is counted in the decoding thread's CPU time, not wall time: it bounds
what decoding costs the machine, and a busy machine pausing the thread does not make
a frame give up early (the measured `ms` of a frame stays wall time).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from cellctl.scan.decoders import DECODERS, Read, read_zbar, read_zxing

CONFIRM = ("EAN-13", "UPC-A", "EAN-8")

Roi = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class FrameResult:
    reads: list[Read]
    ms: float
    stage: str  # "plain", a fallback's name, "static" (fallbacks skipped) or "none"


def to_gray(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return frame
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def crop_roi(gray: np.ndarray, roi: Roi | None) -> np.ndarray:
    if roi is None:
        return gray
    h, w = gray.shape[:2]
    x, y, rw, rh = roi
    return gray[int(y * h) : int((y + rh) * h), int(x * w) : int((x + rw) * w)]


def candidate_regions(gray: np.ndarray, limit: int = 4) -> list[tuple]:
    """Rotated rectangles (cv2.minAreaRect form, full-scale) around dense edge texture."""
    small = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)
    grad = cv2.morphologyEx(small, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    _, mask = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((7, 7), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    scored = []
    for c in contours:
        area = cv2.contourArea(c)
        if area < 250:
            continue
        rect = cv2.minAreaRect(c)
        (cx, cy), (rw, rh), angle = rect
        # Below 20 px (40 at full scale) it is a word of text, not a symbol we can read.
        if min(rw, rh) < 20 or max(rw, rh) > 0.9 * max(small.shape):
            continue
        fill = area / max(rw * rh, 1.0)
        if fill < 0.5:
            continue
        scored.append((area * fill, ((cx * 2, cy * 2), (rw * 2, rh * 2), angle)))
    scored.sort(key=lambda s: s[0], reverse=True)
    return [r for _, r in scored[:limit]]


def level_crop(gray: np.ndarray, rect: tuple, margin: float = 0.25) -> np.ndarray:
    """Cut the rectangle out turned so its long side is horizontal, with a quiet margin."""
    (cx, cy), (rw, rh), angle = rect
    if rw < rh:
        rw, rh, angle = rh, rw, angle - 90
    size = (int(rw * (1 + margin) + 16), int(rh * (1 + margin) + 16))
    m = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    m[0, 2] += size[0] / 2 - cx
    m[1, 2] += size[1] / 2 - cy
    crop = cv2.warpAffine(gray, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    short = min(crop.shape[:2])
    if short < 160:
        f = min(3.0, 160 / max(short, 1))
        crop = cv2.resize(crop, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
    return crop


_CLAHE = cv2.createCLAHE(clipLimit=2.5, tileGridSize=(8, 8))


@dataclass
class Pipeline:
    """Decode frames with the configured decoders, region of interest and budget."""

    decoders: Sequence[str] = ("zxing", "zbar")
    roi: Roi | None = None
    budget_ms: float = 30.0
    cascade: bool = True
    # Live video: after a fruitless cascade, run it again only when the picture has
    # changed, or every `static_every` frames; a still bench then costs a plain pass.
    static_every: int = 0
    _thumb: np.ndarray | None = field(default=None, repr=False)
    _static_frames: int = field(default=0, repr=False)
    _cost: dict[str, float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        unknown = [d for d in self.decoders if d not in DECODERS]
        if unknown or not self.decoders:
            raise ValueError(f"decoders must be some of {', '.join(DECODERS)}; got {unknown}")
        self.decoders = tuple(self.decoders)

    @classmethod
    def from_config(cls, camera, live: bool = True) -> Pipeline:
        """The pipeline a station's `[camera]` asks for; `live` for a video stream."""
        return cls(
            decoders=camera.decoders,
            roi=camera.roi,
            budget_ms=camera.budget_ms,
            static_every=10 if live else 0,
        )

    def _read_all(self, gray: np.ndarray, density: int = 1) -> list[Read]:
        reads: list[Read] = []
        for name in self.decoders:
            if name == "zxing":
                reads += read_zxing(gray)
            else:
                reads += read_zbar(gray, density=density)
            if reads:
                break
        return reads

    def _stages(self, gray: np.ndarray) -> list[tuple[str, Callable[[], list[Read]]]]:
        stages: list[tuple[str, Callable[[], list[Read]]]] = [
            ("regions", lambda: self._regions(gray)),
        ]
        if "zbar" in self.decoders and self.decoders[0] != "zbar":
            stages.append(("zbar-frame", lambda: read_zbar(gray, density=2)))
        if "zxing" in self.decoders:
            stages.append(("equalised", lambda: read_zxing(_CLAHE.apply(gray), thorough=True)))
        return stages

    def _regions(self, gray: np.ndarray) -> list[Read]:
        for rect in self._candidates:
            crop = level_crop(gray, rect)
            for img in (crop, _CLAHE.apply(crop)):
                for name in self.decoders:
                    reads = self._settle(read_zxing(img) if name == "zxing" else read_zbar(img))
                    if reads:
                        return reads
                    if _cpu() > self._deadline:
                        return []
        return []

    def _confirm(self, gray: np.ndarray, reads: list[Read]) -> list[Read]:
        """EAN/UPC from the plain pass: read the spot again (other decoder, equalised)
        and keep what a second read agrees with; else the fallbacks get their turn."""
        self._settle(reads)
        h, w = gray.shape[:2]
        for r in reads:
            if r.box is None:
                continue
            x, y, bw, bh = r.box
            mx, my = bw // 3 + 20, bh // 3 + 20
            crop = gray[max(0, y - my) : min(h, y + bh + my), max(0, x - mx) : min(w, x + bw + mx)]
            if crop.size == 0:
                continue
            for img in (crop, _CLAHE.apply(crop)):
                for name in self.decoders:
                    if name == r.decoder and img is crop:
                        continue
                    sure = self._settle(read_zxing(img) if name == "zxing" else read_zbar(img))
                    if sure:
                        return sure
        return []

    def _settle(self, reads: list[Read]) -> list[Read]:
        """The reads a fallback may report: EAN/UPC only once two reads agree."""
        sure = [r for r in reads if r.format not in CONFIRM]
        if sure:
            return sure
        for r in reads:
            self._tally[r.key] = self._tally.get(r.key, 0) + 1
            if self._tally[r.key] >= 2:
                return [r]
        return []

    def decode(self, frame: np.ndarray) -> FrameResult:
        start = time.perf_counter()
        self._deadline = _cpu() + self.budget_ms / 1000
        # Warped, enlarged or equalised pictures can turn a smudged EAN into another
        # number that passes its one check digit: a fallback's EAN/UPC read counts
        # only when a second read (other decoder or other variant) agrees.
        self._tally: dict[tuple[str, str], int] = {}
        gray = crop_roi(to_gray(frame), self.roi)
        first = self.decoders[0]
        reads = read_zxing(gray) if first == "zxing" else read_zbar(gray)
        if reads and all(r.format in CONFIRM for r in reads) and self.cascade:
            reads = self._confirm(gray, reads)
        if reads or not self.cascade:
            self._thumb = None
            return _result(reads, start, "plain" if reads else "none")
        if self.static_every:
            thumb = cv2.resize(gray, (64, 36), interpolation=cv2.INTER_AREA).astype(np.int16)
            same = self._thumb is not None and float(np.abs(thumb - self._thumb).mean()) < 3.0
            if same and self._static_frames < self.static_every:
                self._static_frames += 1
                return _result([], start, "static")
            self._thumb, self._static_frames = thumb, 0
        # No code-like texture anywhere: the fallbacks would only burn the budget.
        self._candidates = candidate_regions(gray)
        if not self._candidates:
            return _result([], start, "none")
        for name, stage in self._stages(gray):
            now = _cpu()
            if now + self._cost.get(name, 0.0) > self._deadline:
                continue
            reads = stage()
            if name != "regions":
                reads = self._settle(reads)
            took = _cpu() - now
            # A running estimate of each stage's cost decides whether it still fits.
            old = self._cost.get(name, took)
            self._cost[name] = 0.8 * old + 0.2 * took
            if reads:
                self._thumb = None
                return _result(reads, start, name)
        return _result([], start, "none")


def _cpu() -> float:
    return time.thread_time()


def _result(reads: list[Read], start: float, stage: str) -> FrameResult:
    unique: dict[tuple[str, str], Read] = {}
    for r in reads:
        unique.setdefault(r.key, r)
    return FrameResult(list(unique.values()), (time.perf_counter() - start) * 1000, stage)
