"""Pictures with no code in them, for checking that the cascade reads nothing there.

The kinds ZXing's "false positive" set holds, generated so they need no download:
textures (noise, wood grain, fabric weave, stripes and gratings, which look most
like bars), lines of print and digits, and packaging without a code (panels, logos,
small print, a nutrition table), each also photographed badly (blur, glare, tilt).
"""

from __future__ import annotations

import cv2
import numpy as np

KINDS = ("noise", "grain", "weave", "stripes", "grating", "text", "digits", "package", "busy")
_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_TRIPLEX,
)
_WORDS = (
    "NET WT 250 g",
    "Ingredients: water, sugar, citric acid",
    "Best before 12/2027",
    "Made in EU",
    "LOT 4471-B",
    "Keep dry",
    "Serial No. 0045821",
    "Part 300-1123 rev C",
    "||| III lll 111",
    "Store below 25 C",
    "Recycle",
)


def decoy(kind: str, rng: np.random.Generator, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """One BGR picture of `kind` (one of KINDS), with no barcode in it."""
    w, h = size
    img = _KIND[kind](rng, w, h)
    return _photographed(img, rng)


def decoys(per_kind: int, seed: int = 0, size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [decoy(k, rng, size) for k in KINDS for _ in range(per_kind)]


def _noise(rng, w, h):
    scale = int(rng.integers(2, 16))
    small = rng.integers(0, 256, (h // scale + 1, w // scale + 1), dtype=np.uint8)
    g = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)


def _grain(rng, w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    warp = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 25) * 400
    freq = float(rng.uniform(0.05, 0.3))
    g = 128 + 60 * np.sin((x + warp) * freq) + rng.normal(0, 8, (h, w))
    g = np.clip(g, 0, 255).astype(np.uint8)
    return cv2.merge([g // 2, (g * 0.7).astype(np.uint8), g])


def _weave(rng, w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    p = float(rng.uniform(3, 9))
    g = 128 + 50 * np.sign(np.sin(x / p)) * np.sign(np.sin(y / p)) + rng.normal(0, 10, (h, w))
    return cv2.cvtColor(np.clip(g, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def _stripes(rng, w, h):
    # Irregular bars: the picture most like a 1D code that is not one.
    g = np.full((h, w), 235, np.uint8)
    x = int(rng.integers(0, 40))
    while x < w:
        bar = int(rng.integers(1, 12))
        if rng.random() < 0.5:
            g[:, x : x + bar] = int(rng.integers(0, 80))
        x += bar + int(rng.integers(1, 12))
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-30, 30)), 1.0)
    g = cv2.warpAffine(g, m, (w, h), borderValue=235)
    return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)


def _grating(rng, w, h):
    # A regular grille or keyboard-like grid: evenly spaced bars.
    g = np.full((h, w), 220, np.uint8)
    period = int(rng.integers(4, 20))
    bar = max(1, period // int(rng.integers(2, 4)))
    for x in range(0, w, period):
        g[:, x : x + bar] = 40
    if rng.random() < 0.5:
        for y in range(0, h, period * 3):
            g[y : y + bar, :] = 220
    return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)


def _print(rng, w, h, lines: list[str]):
    img = np.full((h, w, 3), int(rng.integers(200, 250)), np.uint8)
    y = int(rng.integers(20, 40))
    for line in lines:
        scale = float(rng.uniform(0.5, 1.4))
        font = _FONTS[int(rng.integers(len(_FONTS)))]
        cv2.putText(
            img,
            line,
            (int(rng.integers(5, 40)), y),
            font,
            scale,
            (20, 20, 20),
            1 + int(rng.integers(0, 2)),
            cv2.LINE_AA,
        )
        y += int(30 * scale) + int(rng.integers(6, 20))
        if y > h - 10:
            break
    return img


def _text(rng, w, h):
    return _print(rng, w, h, [_WORDS[int(i)] for i in rng.integers(0, len(_WORDS), 16)])


def _digits(rng, w, h):
    lines = [
        "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(6, 20)))) for _ in range(14)
    ]
    return _print(rng, w, h, lines)


def _package(rng, w, h):
    colour = tuple(int(c) for c in rng.integers(40, 255, 3))
    img = np.full((h, w, 3), colour, np.uint8)
    cv2.rectangle(img, (w // 10, h // 10), (w * 9 // 10, h // 3), (250, 250, 250), -1)
    cv2.putText(
        img,
        "FRUIT FOOD",
        (w // 8, h // 4),
        cv2.FONT_HERSHEY_TRIPLEX,
        1.6,
        (30, 30, 160),
        3,
        cv2.LINE_AA,
    )
    cv2.circle(img, (w * 3 // 4, h * 2 // 3), h // 6, (0, 200, 255), -1)
    # A nutrition table: ruled lines and small print, dense like a symbol's edges.
    x0, y0 = w // 10, h * 4 // 10
    for i in range(8):
        y = y0 + i * 18
        cv2.line(img, (x0, y), (x0 + w // 2, y), (0, 0, 0), 1 + (i % 3 == 0))
        cv2.putText(
            img,
            f"{_WORDS[i % len(_WORDS)][:14]} {int(rng.integers(1, 99))} g",
            (x0 + 4, y + 14),
            cv2.FONT_HERSHEY_PLAIN,
            0.9,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return img


def _busy(rng, w, h):
    from cellctl.scan.synth import busy_background

    return busy_background(rng, (w, h))


_KIND = {
    "noise": _noise,
    "grain": _grain,
    "weave": _weave,
    "stripes": _stripes,
    "grating": _grating,
    "text": _text,
    "digits": _digits,
    "package": _package,
    "busy": _busy,
}


def _photographed(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    angle = float(rng.uniform(-20, 20))
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, float(rng.uniform(0.9, 1.2)))
    img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 2.5)))
    if rng.random() < 0.4:
        y, x = np.mgrid[0:h, 0:w]
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        glare = 160 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * (min(w, h) / 5) ** 2))
        img = np.clip(img.astype(np.float32) + glare[..., None], 0, 255).astype(np.uint8)
    noise = rng.normal(0, float(rng.uniform(1, 6)), img.shape)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
