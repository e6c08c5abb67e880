"""Frame decoding: a plain pass, then a fallback cascade inside a per-frame time budget.

The plain pass is the primary decoder on the (region of interest of the) grayscale
frame. Only when it finds nothing do the fallbacks run, cheapest and likeliest first.

Live video (a few ms per frame): code-like regions cut out, turned level (tilted 1D
codes), enlarged and equalised, read by every configured decoder; then the second
decoder over the whole frame; then the whole frame equalised with inverted symbols
tried. Each stage is skipped when its running cost no longer fits in what is left of
the budget.

A still image (a file, a photo) may spend more, as a person holding a code still
allows (`still_budget_ms`): the deep stages add the second decoder at full density,
the picture enlarged (blurred, small or distant 1D codes), local contrast (glare),
sharpening (defocus) and a global threshold, each read by both decoders, before the
regions. A live scene that has held still for STILL_AFTER frames gets the same deep
stages, spread a frame's budget at a time, so a video frame never costs more.

EAN/UPC, Code 39 and ITF reads must be confirmed by a second read (see CONFIRM).

The budget is counted in the decoding thread's CPU time, not wall time: it bounds
what decoding costs the machine, and a busy machine pausing the thread does not make
a frame give up early (the measured `ms` of a frame stays wall time).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from cellctl.scan.decoders import DECODERS, SYMBOLOGIES, Read, check_symbologies
from cellctl.scan.decoders import read_zbar as _zbar
from cellctl.scan.decoders import read_zxing as _zxing

# Formats without a check strong enough to trust a read from an altered picture
# (enlarged, sharpened, equalised, warped): EAN/UPC's one check digit lets about one
# smudged read in ten pass as another number, Code 39 and ITF carry none at all.
# A fallback's read of these counts only once a second, independent read agrees.
CONFIRM = ("EAN-13", "UPC-A", "EAN-8", "Code39", "ITF")
SOLO_AGREE = 3

Roi = tuple[float, float, float, float]
Stage = tuple[str, str, Callable[[], list[Read]]]  # name, picture, run


@dataclass(frozen=True, slots=True)
class FrameResult:
    reads: list[Read]
    ms: float
    stage: str  # "plain", a fallback's name, "static" (fallbacks skipped) or "none"


def to_gray(frame: np.ndarray) -> np.ndarray:
    """Grayscale; a picture with an alpha channel is laid over white first (a code
    drawn on a transparent background would otherwise read as black on black)."""
    if frame.ndim == 2:
        return frame
    if frame.shape[2] == 4:
        gray = cv2.cvtColor(frame[:, :, :3], cv2.COLOR_BGR2GRAY).astype(np.uint16)
        alpha = frame[:, :, 3].astype(np.uint16)
        return ((gray * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def crop_roi(gray: np.ndarray, roi: Roi | None) -> np.ndarray:
    if roi is None:
        return gray
    h, w = gray.shape[:2]
    x, y, rw, rh = roi
    return gray[int(y * h) : int((y + rh) * h), int(x * w) : int((x + rw) * w)]


def candidate_regions(gray: np.ndarray, limit: int = 4) -> list[tuple]:
    """Rotated rectangles (cv2.minAreaRect form, full-scale) around dense edge texture.

    A region may fill the whole frame: a code held close to a small camera, or a
    photo cropped to its label, is the likeliest picture of all.
    """
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
        if min(rw, rh) < 20:
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


def enlarge(gray: np.ndarray, factor: float = 2.0) -> np.ndarray:
    return cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)


def sharpen(gray: np.ndarray, sigma: float = 2.0, amount: float = 1.5) -> np.ndarray:
    """Unsharp mask: steepens the edges a defocused lens spreads over several pixels."""
    blurred = cv2.GaussianBlur(gray, (0, 0), sigma)
    return cv2.addWeighted(gray, 1 + amount, blurred, -amount, 0)


# Frames without change before a live scene counts as still (about 0.15 s at 30 fps):
# a code passing by must not wait behind a deep search of the bench it left.
STILL_AFTER = 5
# Enlarging pays only while the picture is small; a large one is cut into regions.
ENLARGE_BELOW = 800


@dataclass
class Pipeline:
    """Decode frames with the configured decoders, symbologies, region and budget."""

    decoders: Sequence[str] = ("zxing", "zbar")
    roi: Roi | None = None
    budget_ms: float = 30.0
    cascade: bool = True
    # Live video: after a fruitless cascade, run it again only when the picture has
    # changed, or every `static_every` frames; a still bench then costs a plain pass.
    static_every: int = 0
    # Every frame is a still image (a file, a photo): the deep stages always run.
    still: bool = False
    symbologies: frozenset[str] = frozenset(SYMBOLOGIES)
    # A live scene that stopped moving gets one deep search with this CPU budget.
    still_budget_ms: float = 150.0
    _thumb: np.ndarray | None = field(default=None, repr=False)
    _static_frames: int = field(default=0, repr=False)
    _pending: list = field(default_factory=list, repr=False)
    _cost: dict[tuple[str, int], float] = field(default_factory=dict, repr=False)
    # What a held-still scene's deep search has read so far: it spans several frames.
    _scene_tally: dict = field(default_factory=dict, repr=False)
    _scene_solo: dict = field(default_factory=dict, repr=False)
    _scene_solo_texts: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        unknown = [d for d in self.decoders if d not in DECODERS]
        if unknown or not self.decoders:
            raise ValueError(f"decoders must be some of {', '.join(DECODERS)}; got {unknown}")
        self.decoders = tuple(self.decoders)
        self.symbologies = check_symbologies(self.symbologies)

    @classmethod
    def from_config(cls, camera, live: bool = True) -> Pipeline:
        """The pipeline a station's `[camera]` asks for; `live` for a video stream."""
        return cls(
            decoders=camera.decoders,
            roi=camera.roi,
            budget_ms=camera.budget_ms if live else camera.still_budget_ms,
            static_every=10 if live else 0,
            still=not live,
            symbologies=camera.symbologies,
            still_budget_ms=camera.still_budget_ms,
        )

    # One decoder call on one picture ------------------------------------------------
    def _read_made(self, name: str, make: Callable[[], np.ndarray]) -> list[Read]:
        return self._read(name, make())

    def _read(self, name: str, img: np.ndarray, **kw) -> list[Read]:
        if name == "zxing":
            return _zxing(img, symbologies=self.symbologies, **kw)
        return _zbar(img, symbologies=self.symbologies, **kw)

    def _read_hist(self, make: Callable[[], np.ndarray]) -> list[Read]:
        return self._read("zxing", make(), histogram=True)

    def _first(self, img: np.ndarray, picture: str) -> list[Read]:
        for name in self.decoders:
            reads = self._settle(self._read(name, img), picture)
            if reads:
                return reads
            if _cpu() > self._deadline:
                break
        return []

    # Stages -------------------------------------------------------------------------
    def _live_stages(self, gray: np.ndarray) -> list[Stage]:
        stages: list[Stage] = [("regions", "", lambda: self._regions(gray))]
        if "zbar" in self.decoders and self.decoders[0] != "zbar":
            stages.append(("zbar-frame", "frame", lambda: self._read("zbar", gray, density=2)))
        if "zxing" in self.decoders:
            stages.append(
                (
                    "equalised",
                    "equalised",
                    lambda: self._read("zxing", _CLAHE.apply(gray), thorough=True),
                )
            )
        return stages

    def _deep_stages(self, gray: np.ndarray) -> list[Stage]:
        """Whole-picture variants, in the order they paid off on real photos, read by
        zxing-cpp (the sharpened ones with its global threshold too), then the same
        pictures by zbar (its reads confirm what zxing-cpp found, and zbar costs two to
        three times as much on an enlarged photo); then the regions, then inverted
        symbols."""
        first, *others = self.decoders
        stages: list[Stage] = [
            (f"{n}-frame", "frame", functools.partial(self._read, n, gray)) for n in others
        ]
        small = max(gray.shape[:2]) <= ENLARGE_BELOW
        variants: list[tuple[str, Callable[[], np.ndarray]]] = []
        if small:
            variants.append(("enlarged", lambda: enlarge(gray)))
        variants.append(("equalised", lambda: _CLAHE.apply(gray)))
        if small:
            variants.append(("sharpened", lambda: sharpen(enlarge(gray))))
            # Glare and blur together: local contrast first, then the edges steepened.
            variants.append(("equalised-enlarged", lambda: _CLAHE.apply(enlarge(gray))))
            variants.append(("sharpened-equalised", lambda: sharpen(_CLAHE.apply(enlarge(gray)))))
            # Strong defocus (a fixed-focus camera too close): a wider, harder unsharp mask.
            variants.append(("sharpened-hard", lambda: sharpen(enlarge(gray), 3.0, 2.5)))
            variants.append(("sharpened-hard-1.5", lambda: sharpen(enlarge(gray, 1.5), 3.0, 2.5)))
        else:
            variants.append(("sharpened", lambda: sharpen(gray, 1.0, 1.0)))
        later: list[Stage] = []
        for label, make in variants:
            cache: dict[str, np.ndarray] = {}

            def picture(make=make, cache=cache) -> np.ndarray:
                if "img" not in cache:
                    cache["img"] = make()
                return cache["img"]

            for n in self.decoders:
                # Full density: zbar at every other row (half the cost) read GS1 DataBar in
                # five of the generated no-code pictures.
                (later if n == "zbar" else stages).append(
                    (f"{label}-{n}", label, functools.partial(self._read_made, n, picture))
                )
            if label.startswith("sharpened") and "zxing" in self.decoders:
                # One global threshold on the steepened edges: another read of the same
                # picture for a 1D code only zxing-cpp can read (see _settle).
                stages.append(
                    (f"{label}-histogram", f"{label}+histogram",
                     functools.partial(self._read_hist, picture)),
                )  # fmt: skip
        stages.extend(later)
        if "zxing" in self.decoders:
            stages.append(
                ("histogram", "histogram", lambda: self._read("zxing", gray, histogram=True))
            )
        stages.append(("regions", "", lambda: self._regions(gray)))
        if "zxing" in self.decoders:
            stages.append(
                ("inverted", "inverted", lambda: self._read("zxing", gray, thorough=True))
            )
        return stages

    def _regions(self, gray: np.ndarray) -> list[Read]:
        for i, rect in enumerate(self._candidates):
            crop = level_crop(gray, rect)
            for variant, img in (("crop", crop), ("equalised", _CLAHE.apply(crop))):
                reads = self._first(img, f"region{i}-{variant}")
                if reads or _cpu() > self._deadline:
                    return reads
        return []

    # Agreement ----------------------------------------------------------------------
    def _confirm(self, gray: np.ndarray, reads: list[Read]) -> list[Read]:
        """An EAN/UPC/ITF/Code 39 from the plain pass: read the spot again (the other
        decoder, then both on it equalised) and keep what a second read agrees with;
        else the fallbacks get their turn. Even on the unaltered picture zxing-cpp
        now and then reads a second, wrong number beside the right one."""
        keys = {r.key for r in reads}
        h, w = gray.shape[:2]
        for r in reads:
            if r.box is None:
                continue
            x, y, bw, bh = r.box
            mx, my = bw // 3 + 20, bh // 3 + 20
            crop = gray[max(0, y - my) : min(h, y + bh + my), max(0, x - mx) : min(w, x + bw + mx)]
            if crop.size == 0:
                continue
            for variant, img in (("spot", crop), ("spot-equalised", _CLAHE.apply(crop))):
                for name in self.decoders:
                    if name == r.decoder and variant == "spot":
                        continue
                    sure = [s for s in self._read(name, img) if s.key in keys]
                    if sure:
                        return sure[:1]
        return []

    def _settle(self, reads: list[Read], picture: str) -> list[Read]:
        """The reads a fallback may report: the CONFIRM formats only once the other
        decoder agrees (with one decoder configured: a read of another picture).

        Weighed on the photos and generated frames: a decoder tends to repeat its own
        misread on an altered copy of a picture (zbar on enlarged and equalised
        copies, zxing-cpp on four enhanced copies of one blurred UPC-A), while the two
        decoders never agreed on a wrong number.

        A still image may also settle on zxing-cpp alone: the same text on SOLO_AGREE
        altered pictures while it read no other text of that format in the frame (its
        repeated misreads came with a conflicting read each time). On the 150 photos
        this read three more UPC-A that zbar never reads, with no misread; on the 144
        no-code pictures it reads nothing. zbar alone never settles: it repeated a wrong
        UPC-A on three copies of upca-2__38 with nothing to contradict it."""
        sure = [r for r in reads if r.format not in CONFIRM]
        if sure:
            return sure
        for r in {r.key: r for r in reads}.values():
            seen = self._tally.setdefault(r.key, set())
            seen.add(r.decoder if len(self.decoders) > 1 else picture)
            if len(seen) >= 2:
                return [r]
            deep = self.still or self._deepening
            if deep and len(self.decoders) > 1 and r.decoder == "zxing":
                texts = self._solo_texts.setdefault((r.decoder, r.format), set())
                texts.add(r.text)
                votes = self._solo.setdefault(r.key, set())
                votes.add(picture)
                if len(votes) >= SOLO_AGREE and len(texts) == 1:
                    return [r]
        return []

    @staticmethod
    def _trusted(reads: list[Read]) -> bool:
        return all(r.format not in CONFIRM for r in reads)

    # The frame ----------------------------------------------------------------------
    def decode(self, frame: np.ndarray) -> FrameResult:
        start = time.perf_counter()
        cpu0 = _cpu()
        self._deadline = cpu0 + self.budget_ms / 1000
        self._tally: dict[tuple[str, str], set] = {}
        self._solo: dict[tuple[str, str], set[str]] = {}
        self._solo_texts: dict[tuple[str, str], set[str]] = {}
        self._deepening = False
        gray = crop_roi(to_gray(frame), self.roi)
        self._size = int(np.log2(max(gray.size, 1)) * 2)  # steps of sqrt(2) in pixels
        changed, thumb = True, None
        if self.static_every and self.cascade and not self.still:
            # The picture as it was when a whole search last found nothing: reading it
            # again finds nothing again, so a still bench costs a thumbnail, not a
            # decode, until `static_every` frames. A code coming into view changes a
            # patch of the thumbnail a lot even where the mean moves little.
            thumb = cv2.resize(gray, (160, 90), interpolation=cv2.INTER_AREA).astype(np.int16)
            same = self._thumb is not None and _unchanged(thumb, self._thumb)
            if same and self._static_frames < self.static_every:
                self._static_frames += 1
                if self._pending and self._static_frames >= STILL_AFTER:
                    return self._deepen(start)
                return _result([], start, "static")
            changed = not same
        reads = self._read(self.decoders[0], gray)
        if reads and not self._trusted(reads) and self.cascade:
            reads = self._confirm(gray, reads)
        if reads or not self.cascade:
            self._thumb = None
            return _result(reads, start, "plain" if reads else "none")
        if self.still:
            self._candidates = candidate_regions(gray)
            return self._run(self._deep_stages(gray), start)
        if thumb is not None:
            self._thumb, self._static_frames = thumb, 0
        self._candidates = candidate_regions(gray)
        # No code-like texture anywhere: the fallbacks would only burn the budget.
        result = _result([], start, "none")
        if self._candidates:
            result = self._run(self._live_stages(gray), start)
        if not result.reads and changed and self.static_every:
            # If the scene now holds still, search it as a still image: the deep
            # stages, one frame's budget at a time, up to the still budget in all;
            # a code coming into view meanwhile still costs one frame's wait.
            self._pending = self._deep_stages(gray)
            self._pending_left = self.still_budget_ms / 1000
            self._scene_tally = {}
            self._scene_solo, self._scene_solo_texts = {}, {}
        return result

    def _deepen(self, start: float) -> FrameResult:
        cpu0 = _cpu()
        self._deadline = cpu0 + min(self.budget_ms / 1000, self._pending_left)
        self._tally = self._scene_tally
        # A scene held still is searched as a still image, a frame's budget at a time.
        self._solo, self._solo_texts = self._scene_solo, self._scene_solo_texts
        self._deepening = True
        per_frame = self.budget_ms / 1000
        reads: list[Read] = []
        name, ran = "none", False
        while self._pending and not reads:
            name, picture, stage = self._pending[0]
            key = (name, self._size)
            cost = self._cost.get(key)
            if cost is not None and cost > per_frame:
                self._pending.pop(0)  # dearer than a frame may spend: not in a video
                continue
            now = _cpu()
            if ran and now + (cost or 0.0) > self._deadline:
                break  # the next frame goes on
            self._pending.pop(0)
            ran = True
            reads = stage()
            if name != "regions":
                reads = self._settle(reads, picture)
            took = _cpu() - now
            self._cost[key] = max(took, 0.8 * self._cost.get(key, took) + 0.2 * took)
        self._pending_left -= _cpu() - cpu0
        if reads or self._pending_left <= 0:
            self._pending = []
        if reads:
            self._thumb = None
            return _result(reads, start, f"still-{name}")
        return _result([], start, "deepening")

    def _guess(self, key: tuple[str, int]) -> float:
        """A stage's expected cost at this picture size; one never run at this size is
        guessed as dear as the dearest that has (so it does not start on the budget's
        last milliseconds and run far past it)."""
        cost = self._cost.get(key)
        if cost is None:
            cost = max((c for (_, size), c in self._cost.items() if size == key[1]), default=0.0)
        return cost

    def _run(self, stages: list[Stage], start: float) -> FrameResult:
        for name, picture, stage in stages:
            now = _cpu()
            key = (name, self._size)
            if now + self._guess(key) > self._deadline:
                continue
            reads = stage()
            if name != "regions":
                reads = self._settle(reads, picture)
            took = _cpu() - now
            # A running estimate of each stage's cost at this picture size decides
            # whether it still fits; it follows a dearer run at once, a cheaper slowly.
            old = self._cost.get(key, took)
            self._cost[key] = max(took, 0.8 * old + 0.2 * took)
            if reads:
                self._thumb = None
                return _result(reads, start, name)
        return _result([], start, "none")


def _unchanged(thumb: np.ndarray, before: np.ndarray) -> bool:
    """Sensor noise and a slow change of light, not a new object: the mean moved under 3
    levels and under 0.2 % of the thumbnail's pixels moved more than 25."""
    diff = np.abs(thumb - before)
    return float(diff.mean()) < 3.0 and int(np.count_nonzero(diff > 25)) < thumb.size // 500


def _cpu() -> float:
    return time.thread_time()


def _result(reads: list[Read], start: float, stage: str) -> FrameResult:
    unique: dict[tuple[str, str], Read] = {}
    for r in reads:
        unique.setdefault(r.key, r)
    return FrameResult(list(unique.values()), (time.perf_counter() - start) * 1000, stage)
