"""Synthetic codes and camera frames: rendered symbols, distortions, busy backgrounds.

The generated camera source, the tests and the benchmark all draw from here, so the
demo camera and the measured set show the same kind of pictures.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SYMBOLOGIES = ("QR", "DataMatrix", "Code128", "GS1-128", "EAN-13", "UPC-A", "EAN-8")


def render(text: str, symbology: str, module_px: int = 3) -> np.ndarray:
    """A clean grayscale symbol with its quiet zone, `module_px` pixels per module.

    For GS1-128 give the element string with parentheses, e.g. "(01)09501101530003(10)L7".
    EAN/UPC take the digits without the check digit (it is added) or with a correct one.
    """
    import zxingcpp

    fmt = {
        "QR": zxingcpp.BarcodeFormat.QRCode,
        "DataMatrix": zxingcpp.BarcodeFormat.DataMatrix,
        "Code128": zxingcpp.BarcodeFormat.Code128,
        "GS1-128": zxingcpp.BarcodeFormat.Code128,
        "EAN-13": zxingcpp.BarcodeFormat.EAN13,
        "UPC-A": zxingcpp.BarcodeFormat.UPCA,
        "EAN-8": zxingcpp.BarcodeFormat.EAN8,
        "Code39": zxingcpp.BarcodeFormat.Code39,
        "ITF": zxingcpp.BarcodeFormat.ITF,
        "DataBar": zxingcpp.BarcodeFormat.DataBar,
        "DataBar-Expanded": zxingcpp.BarcodeFormat.DataBarExp,
    }[symbology]
    kwargs = {"gs1": True} if symbology == "GS1-128" else {}
    symbol = zxingcpp.create_barcode(text, fmt, **kwargs)
    img: np.ndarray = np.array(symbol.to_image(scale=module_px), dtype=np.uint8)
    if symbology in ("Code128", "GS1-128", "EAN-13", "UPC-A", "EAN-8", "Code39", "ITF"):
        # 1D symbols come out one module tall per row of scale; give them label height.
        height = max(img.shape[0], 40 * module_px)
        img = cv2.resize(img, (img.shape[1], height), interpolation=cv2.INTER_NEAREST)
    pad = 4 * module_px
    return np.pad(img, pad, constant_values=255)


def busy_background(rng: np.random.Generator, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    """A cluttered BGR workbench: gradient, boxes, lines, print-like text, noise."""
    w, h = size
    base = np.linspace(60, 190, w, dtype=np.float32)[None, :].repeat(h, axis=0)
    img = cv2.merge([base, base * 0.9, base * 0.8]).astype(np.uint8)
    for _ in range(14):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(
            img,
            (x, y),
            (x + int(rng.integers(30, 300)), y + int(rng.integers(20, 200))),
            colour,
            -1,
        )
    for _ in range(20):
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(
            img, p1, p2, tuple(int(c) for c in rng.integers(0, 255, 3)), int(rng.integers(1, 4))
        )
    for _ in range(10):
        org = (int(rng.integers(0, w - 200)), int(rng.integers(20, h)))
        word = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(4, 12))))
        cv2.putText(
            img, word, org, cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.5, 1.5)), (20, 20, 20), 2
        )
    noise = np.asarray(rng.normal(0, 6, img.shape)).astype(np.int16)
    return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Distortion:
    """How hard a picture is: each field scales with the level (0 = clean)."""

    angle_deg: float
    perspective: float
    blur_sigma: float
    noise_sigma: float
    darken: float
    glare: float

    @classmethod
    def level(cls, level: int, rng: np.random.Generator) -> Distortion:
        k = level / 4
        return cls(
            angle_deg=float(rng.uniform(-1, 1) * 35 * k),
            perspective=float(rng.uniform(0, 0.12) * k),
            blur_sigma=float(rng.uniform(0.3, 1.6) * k),
            noise_sigma=float(rng.uniform(2, 14) * k),
            darken=float(rng.uniform(0, 0.6) * k),
            glare=float(rng.uniform(0, 0.7) * k),
        )


def place(
    symbol: np.ndarray,
    background: np.ndarray,
    distortion: Distortion,
    rng: np.random.Generator,
    scale: float = 1.0,
) -> np.ndarray:
    """Paste `symbol` onto a copy of `background` warped, blurred, noised, darkened, glared."""
    h, w = background.shape[:2]
    sym = symbol
    if scale != 1.0:
        sym = cv2.resize(sym, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    sh, sw = sym.shape[:2]
    # Symbol corners, centred, then rotated and pulled into a trapezoid.
    cx = float(rng.uniform(0.3, 0.7) * w)
    cy = float(rng.uniform(0.3, 0.7) * h)
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], dtype=np.float32)
    corners = src - np.array([sw / 2, sh / 2], dtype=np.float32)
    p = distortion.perspective
    corners = corners * np.array([[1 - p, 1], [1 + p, 1], [1 + p, 1], [1 - p, 1]], dtype=np.float32)
    a = np.deg2rad(distortion.angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], dtype=np.float32)
    dst = corners @ rot.T + np.array([cx, cy], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    warped = cv2.warpPerspective(sym, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    mask = cv2.warpPerspective(np.full_like(sym, 255), m, (w, h), flags=cv2.INTER_NEAREST)
    out = background.copy()
    out[mask > 0] = cv2.merge([warped, warped, warped])[mask > 0]
    if distortion.blur_sigma > 0.05:
        out = cv2.GaussianBlur(out, (0, 0), distortion.blur_sigma)
    out = out.astype(np.float32)
    if distortion.darken > 0:
        out *= 1 - distortion.darken
    if distortion.glare > 0:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        gx, gy = cx + rng.uniform(-0.5, 0.5) * sw, cy + rng.uniform(-0.5, 0.5) * sh
        r = max(sw, sh) * float(rng.uniform(0.3, 0.6))
        spot = np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * r * r)) * 255 * distortion.glare
        out += spot[..., None]
    if distortion.noise_sigma > 0:
        out += rng.normal(0, distortion.noise_sigma, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def sample_payload(symbology: str, rng: np.random.Generator) -> tuple[str, str]:
    """(what to render, the text a correct decoder returns) for one random code."""
    n = int(rng.integers(0, 10**6))
    if symbology in ("QR", "DataMatrix"):
        kind = ("CB", "CR", "CO", "CM")[n % 4]
        text = f"{kind}:X{n:06d}"
        return text, text
    if symbology == "Code128":
        text = f"CB:B{n:06d}"
        return text, text
    if symbology == "GS1-128":
        gtin = _with_check(f"0950110{n:06d}")
        return f"(01){gtin}(10)L{n % 1000}", f"01{gtin}10L{n % 1000}"
    if symbology == "EAN-13":
        digits = _with_check(f"40{n:06d}{n % 10000:04d}")
        return digits, digits
    if symbology == "UPC-A":
        digits = _with_check(f"03{n:06d}{n % 1000:03d}")
        return digits, digits
    digits = _with_check(f"9{n:06d}")
    return digits, digits


def _with_check(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)
