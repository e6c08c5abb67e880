"""The two decoders behind one call: zxing-cpp (primary) and pyzbar (second opinion).

Both return `Read`s with the same format names and raw text, so the cascade can
merge them and tests can compare them. `symbologies` narrows what either decoder
looks for (a station's setting): fewer formats is faster and leaves fewer ways to
read a texture as a code.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

# What a station can ask for. EAN-13 and UPC-A share one decoder setting (a UPC-A
# is an EAN-13 with a leading 0); GS1-128 is Code 128 with FNC1; "DataBar" covers
# GS1 DataBar omnidirectional, stacked, limited and expanded.
SYMBOLOGIES = (
    "QR",
    "DataMatrix",
    "Code128",
    "EAN-13",
    "UPC-A",
    "EAN-8",
    "Code39",
    "ITF",
    "DataBar",
)
# Every format name a Read can carry.
FORMATS = (
    "QR",
    "DataMatrix",
    "Code128",
    "GS1-128",
    "EAN-13",
    "UPC-A",
    "EAN-8",
    "Code39",
    "ITF",
    "DataBar",
    "DataBar-Expanded",
)
DECODERS = ("zxing", "zbar")
# A Read's format -> the setting that enables it.
SETTING = {"GS1-128": "Code128", "DataBar-Expanded": "DataBar"}
# Fewer characters than this in a Code 39 or ITF read is more likely a texture or a
# line of text than a label: neither symbology has a compulsory check character.
MIN_LENGTH = {"Code39": 4, "ITF": 6}


@dataclass(frozen=True, slots=True)
class Read:
    """One decoded symbol: normalised format name, raw text, and who read it."""

    format: str
    text: str
    decoder: str
    box: tuple[int, int, int, int] | None = field(default=None, compare=False)  # x, y, w, h

    @property
    def key(self) -> tuple[str, str]:
        # GS1-128 is Code 128 with FNC1; zbar cannot tell, so agree on the text alone.
        return ("Code128" if self.format == "GS1-128" else self.format, self.text)


def check_symbologies(names: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(names)
    unknown = sorted(chosen - set(SYMBOLOGIES))
    if unknown or not chosen:
        raise ValueError(f"symbologies must be some of {', '.join(SYMBOLOGIES)}; got {unknown}")
    return chosen


def _keep(fmt: str, text: str, wanted: frozenset[str]) -> bool:
    if SETTING.get(fmt, fmt) not in wanted:
        return False
    return len(text) >= MIN_LENGTH.get(fmt, 1)


def _ean_or_upc(text: str) -> tuple[str, str]:
    # A 13-digit EAN starting with 0 is a UPC-A; report the 12 digits printed on it.
    if len(text) == 13 and text.startswith("0"):
        return "UPC-A", text[1:]
    return "EAN-13", text


@cache
def _zxing_formats(wanted: frozenset[str]) -> Any:
    """zxing-cpp's formats for the wanted symbologies, joined into one flag set."""
    import zxingcpp

    f = zxingcpp.BarcodeFormat
    table = {
        "QR": (f.QRCode,),
        "DataMatrix": (f.DataMatrix,),
        "Code128": (f.Code128,),
        "EAN-13": (f.EAN13, f.UPCA),
        "UPC-A": (f.EAN13, f.UPCA),
        "EAN-8": (f.EAN8,),
        # Standard Code 39 only: the "full ASCII" pairs turn "+A" on a label into "a".
        "Code39": (f.Code39Std,),
        "ITF": (f.ITF,),
        "DataBar": (f.DataBar, f.DataBarExp, f.DataBarLtd),
    }
    formats = list(dict.fromkeys(x for name in sorted(wanted) for x in table[name]))
    return functools.reduce(operator.or_, formats[1:], zxingcpp.BarcodeFormats(formats[0]))


_ZXING_NAMES = {
    "QRCode": "QR",
    "DataMatrix": "DataMatrix",
    "EAN8": "EAN-8",
    "Code39": "Code39",
    "ITF": "ITF",
    "DataBar": "DataBar",
    "DataBarExp": "DataBar-Expanded",
    "DataBarLtd": "DataBar",
}
ALL = frozenset(SYMBOLOGIES)


def read_zxing(
    gray: np.ndarray,
    *,
    thorough: bool = False,
    symbologies: frozenset[str] = ALL,
    histogram: bool = False,
) -> list[Read]:
    """zxing-cpp on a grayscale array; `thorough` also tries inverted symbols,
    `histogram` binarizes with one global threshold (evenly lit, low-contrast prints)."""
    import zxingcpp

    found = zxingcpp.read_barcodes(
        gray,
        formats=_zxing_formats(symbologies),
        try_rotate=True,
        try_downscale=True,
        try_invert=thorough,
        text_mode=zxingcpp.TextMode.Plain,
        binarizer=zxingcpp.Binarizer.GlobalHistogram
        if histogram
        else zxingcpp.Binarizer.LocalAverage,
    )
    reads = []
    for bc in found:
        if not bc.valid:
            continue
        name = bc.format.name
        text = bc.text
        if name == "Code128":
            fmt = "GS1-128" if bc.symbology_identifier == "]C1" else "Code128"
        elif name == "EAN13":
            fmt, text = _ean_or_upc(text)
        elif name == "UPCA":
            fmt, text = "UPC-A", text[-12:]
        elif name.startswith("DataBar"):
            # Omni, stacked and their variants are one symbology to the floor.
            fmt = "DataBar-Expanded" if name.startswith("DataBarExp") else "DataBar"
        elif name.startswith("Code39"):
            fmt = "Code39"
        elif name in _ZXING_NAMES:
            fmt = _ZXING_NAMES[name]
        else:
            continue
        if not _keep(fmt, text, symbologies):
            continue
        p = bc.position
        xs = (p.top_left.x, p.top_right.x, p.bottom_left.x, p.bottom_right.x)
        ys = (p.top_left.y, p.top_right.y, p.bottom_left.y, p.bottom_right.y)
        box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
        reads.append(Read(fmt, text, "zxing", box))
    return reads


@cache
def _zbar_symbols(wanted: frozenset[str]) -> tuple:
    from pyzbar.pyzbar import ZBarSymbol as Z

    table = {
        "QR": (Z.QRCODE,),
        "DataMatrix": (),  # zbar has no DataMatrix
        "Code128": (Z.CODE128,),
        "EAN-13": (Z.EAN13, Z.UPCA),
        "UPC-A": (Z.EAN13, Z.UPCA),
        "EAN-8": (Z.EAN8,),
        "Code39": (Z.CODE39,),
        "ITF": (Z.I25,),
        "DataBar": (Z.DATABAR, Z.DATABAR_EXP),
    }
    return tuple(dict.fromkeys(x for name in sorted(wanted) for x in table[name]))


_ZBAR_NAMES = {
    "QRCODE": "QR",
    "CODE128": "Code128",
    "EAN8": "EAN-8",
    "UPCA": "UPC-A",
    "CODE39": "Code39",
    "I25": "ITF",
    "DATABAR": "DataBar",
    "DATABAR_EXP": "DataBar-Expanded",
}


def read_zbar(
    gray: np.ndarray, *, density: int = 1, symbologies: frozenset[str] = ALL
) -> list[Read]:
    """pyzbar on a grayscale array (zbar reads only the first channel of colour arrays).

    `density` > 1 scans every n-th row and column: zbar's cost grows with the edges
    in the picture, and a busy bench at full density costs several zxing passes.
    """
    from ctypes import c_void_p, cast

    from pyzbar import pyzbar as pz
    from pyzbar.wrapper import ZBarConfig, zbar_image_scanner_set_config

    if gray.ndim != 2:
        raise ValueError("read_zbar needs a grayscale (2-D) array")
    symbols = _zbar_symbols(symbologies)
    if not symbols:
        return []
    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    height, width = gray.shape
    pixels = gray.tobytes()
    decoded = []
    # pyzbar.decode cannot set the scan density, so this is its body with that one knob.
    with pz._image_scanner() as scanner:
        zbar_image_scanner_set_config(scanner, 0, ZBarConfig.CFG_ENABLE, 0)
        for symbol in symbols:
            zbar_image_scanner_set_config(scanner, symbol, ZBarConfig.CFG_ENABLE, 1)
        zbar_image_scanner_set_config(scanner, 0, ZBarConfig.CFG_X_DENSITY, density)
        zbar_image_scanner_set_config(scanner, 0, ZBarConfig.CFG_Y_DENSITY, density)
        with pz._image() as img:
            pz.zbar_image_set_format(img, pz._FOURCC["L800"])
            pz.zbar_image_set_size(img, width, height)
            pz.zbar_image_set_data(img, cast(pixels, c_void_p), len(pixels), None)  # type: ignore[arg-type]  # ctypes casts bytes to a pointer; the stub lists no bytes
            if pz.zbar_scan_image(scanner, img) < 0:
                raise RuntimeError("zbar refused the image format")
            decoded.extend(pz._decode_symbols(pz._symbols_for_image(img)))
    reads = []
    for sym in decoded:
        try:
            text = sym.data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if sym.type == "EAN13":
            fmt, text = _ean_or_upc(text)
        elif sym.type in _ZBAR_NAMES:
            fmt = _ZBAR_NAMES[sym.type]
            if fmt == "UPC-A":
                text = text[-12:]
        else:
            continue
        if not _keep(fmt, text, symbologies):
            continue
        reads.append(Read(fmt, text, "zbar", tuple(sym.rect)))
    return reads


def decoder(name: str) -> Callable[[np.ndarray], list[Read]]:
    if name == "zxing":
        return read_zxing
    if name == "zbar":
        return read_zbar
    raise ValueError(f"unknown decoder {name!r}; known: {', '.join(DECODERS)}")
