"""Module matrices of the codes we print, drawn at whole printer dots per module.

Each function returns a boolean numpy array, True for a dark module, without a
quiet zone; the renderer scales it by an integer so every module is crisp.
"""

from __future__ import annotations

import numpy as np
import segno

from cellctl.labels.errors import LabelError


def qr(data: str, error: str = "M") -> np.ndarray:
    try:
        code = segno.make_qr(data, error=error.lower(), boost_error=False)
    except segno.DataOverflowError:
        raise LabelError(f"{len(data)} characters do not fit any QR code") from None
    return np.array(code.matrix, dtype=bool)


def datamatrix(data: str) -> np.ndarray:
    import zxingcpp

    try:
        code = zxingcpp.create_barcode(data, zxingcpp.BarcodeFormat.DataMatrix)
    except Exception as exc:
        raise LabelError(f"cannot make a DataMatrix of {data!r}: {exc}") from None
    return np.asarray(code.to_image(scale=1, add_quiet_zones=False)) < 128


def _bars(modules: str) -> np.ndarray:
    return np.frombuffer(modules.encode("ascii"), dtype=np.uint8) == ord("1")


def code128(data: str) -> np.ndarray:
    from barcode import Code128
    from barcode.errors import BarcodeError

    if not data or not data.isascii() or not data.isprintable():
        raise LabelError(f"Code 128 takes printable ASCII only, got {data!r}")
    try:
        return _bars(Code128(data).build()[0])
    except BarcodeError as exc:
        raise LabelError(f"cannot make a Code 128 of {data!r}: {exc}") from None


def gs1_element_string(hri: str) -> str:
    """The raw GS1 payload (FNC1 between variable-length fields as GS) of '(01)...(21)...'."""
    from biip import ParseError
    from biip.gs1_messages import GS1Message
    from biip.gtin import Gtin

    try:
        message = GS1Message.parse_hri(hri)
        # parse_hri leaves check digits alone; a GTIN with a wrong one must not print.
        for element in message.element_strings:
            if element.ai.ai in ("01", "02"):
                Gtin.parse(element.value)
    except ParseError as exc:
        raise LabelError(f"not a valid GS1 element string {hri!r}: {exc}") from None
    return message.value


def gs1_128(hri: str) -> tuple[np.ndarray, str]:
    """Bars and the raw payload a scanner returns (GS for FNC1, no leading FNC1)."""
    from barcode.codex import Gs1_128

    raw = gs1_element_string(hri)
    return _bars(Gs1_128(raw.replace("\x1d", Gs1_128.FNC1_CHAR)).build()[0]), raw
