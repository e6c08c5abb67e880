"""Decoding files for `cellctl scan`: images, video files and folders, in order."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from cellctl.scan.capture import IMAGE_SUFFIXES
from cellctl.scan.cascade import Pipeline
from cellctl.scan.decoders import Read

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mjpeg", ".mjpg")


@dataclass
class FileResult:
    file: str
    reads: list[Read] = field(default_factory=list)
    ms: float = 0.0
    frame: int | None = None  # the frame number inside a video file
    error: str | None = None

    def to_json(self) -> str:
        data: dict = {"file": self.file}
        if self.frame is not None:
            data["frame"] = self.frame
        data["reads"] = [{"format": r.format, "text": r.text} for r in self.reads]
        data["ms"] = round(self.ms, 2)
        if self.error:
            data["error"] = self.error
        return json.dumps(data, ensure_ascii=False)

    def to_line(self) -> str:
        where = self.file if self.frame is None else f"{self.file}#{self.frame}"
        if self.error:
            return f"{where}: error: {self.error}"
        if not self.reads:
            return f"{where}: no code ({self.ms:.1f} ms)"
        return "\n".join(f"{where}: {r.format} {r.text!r} ({self.ms:.1f} ms)" for r in self.reads)


def scan_inputs(inputs: Iterable[str], pipeline: Pipeline) -> Iterator[FileResult]:
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            files = sorted(
                p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES
            )
            if not files:
                yield FileResult(name, error="folder holds no images or videos")
            for p in files:
                yield from _one(p, pipeline)
        elif not path.exists():
            yield FileResult(name, error="no such file")
        else:
            yield from _one(path, pipeline)


def _one(path: Path, pipeline: Pipeline) -> Iterator[FileResult]:
    if path.suffix.lower() in VIDEO_SUFFIXES:
        yield from _video(path, pipeline)
        return
    image = load_image(path)
    if image is None:
        yield FileResult(str(path), error="not an image OpenCV can read")
        return
    result = pipeline.decode(image)
    yield FileResult(str(path), result.reads, result.ms)


def load_image(path: Path | str) -> np.ndarray | None:
    """An image file as 8-bit gray, BGR or BGRA (alpha kept: the cascade lays a
    transparent picture over white); None when OpenCV cannot read it."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        return None
    if image.dtype == np.uint16:
        image = np.right_shift(image, 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return image


def _video(path: Path, pipeline: Pipeline) -> Iterator[FileResult]:
    if pipeline.still:
        # A video's frames come by the thousand: each gets the per-frame cascade, not
        # a still photo's deep search.
        pipeline = Pipeline(
            pipeline.decoders,
            pipeline.roi,
            pipeline.budget_ms,
            pipeline.cascade,
            symbologies=pipeline.symbologies,
        )
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        yield FileResult(str(path), error="not a video OpenCV can read")
        return
    n = 0
    try:
        while True:
            t0 = time.perf_counter()
            ok, image = cap.read()
            if not ok:
                break
            result = pipeline.decode(image)
            ms = (time.perf_counter() - t0) * 1000
            yield FileResult(str(path), result.reads, ms, frame=n)
            n += 1
    finally:
        cap.release()
    if n == 0:
        yield FileResult(str(path), error="video has no frames")
