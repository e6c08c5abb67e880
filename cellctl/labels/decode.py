"""Reading the codes back from an image, with both decoders the project ships."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

_ZXING_KIND = {"QRCode": "qr", "DataMatrix": "datamatrix", "Code128": "code128"}
_ZBAR_KIND = {"QRCODE": "qr", "CODE128": "code128"}


@dataclass(frozen=True, slots=True)
class Found:
    decoder: str
    kind: str
    text: str


def grey(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"))


def with_zxing(img: Image.Image) -> list[Found]:
    import zxingcpp

    out = []
    for r in zxingcpp.read_barcodes(grey(img), text_mode=zxingcpp.TextMode.Plain):
        kind = _ZXING_KIND.get(r.format.name, r.format.name.lower())
        if kind == "code128" and r.symbology_identifier == "]C1":
            kind = "gs1_128"
        out.append(Found("zxing", kind, r.text))
    return out


def with_zbar(img: Image.Image) -> list[Found]:
    from pyzbar import pyzbar

    # zbar reads only the first channel of a colour array: always give it grey.
    out = []
    for r in pyzbar.decode(grey(img)):
        out.append(Found("zbar", _ZBAR_KIND.get(r.type, r.type.lower()), r.data.decode("utf-8")))
    return out


def decode_all(img: Image.Image) -> list[Found]:
    return with_zxing(img) + with_zbar(img)
