"""What a scanned string means: one of our codes, a GS1 element string, or plain text.

A scan becomes a typed value or `UnknownCode` whose `message` starts with "unknown
code: " and says why. Scanned text is data only: nothing here (or anywhere a scan
goes) hands it to a machine or a shell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cellctl.domain import codes
from cellctl.domain.codes import OurCode, UnitCode

Verification = Literal["verified", "forged", "not checked"]
GS1_SYMBOLOGIES = {
    "GS1-128": "]C1",
    "EAN-13": "]E0",
    "UPC-A": "]E0",
    "EAN-8": "]E4",
    "DataBar": "]e0",
    "DataBar-Expanded": "]e0",
}
_GS1_START = re.compile(r"^(00\d{18}|01\d{14}|02\d{14})")
_UNPRINTABLE = re.compile(r"[\x00-\x1c\x1e\x1f\x7f\ufffd]")  # \ufffd: bytes not UTF-8


@dataclass(frozen=True, slots=True)
class OwnCode:
    """One of our label payloads; `verified` matters for unit codes only."""

    code: OurCode
    verified: Verification = "not checked"


@dataclass(frozen=True, slots=True)
class Gs1Code:
    """A GS1 element string (GS1-128, GS1 DataMatrix/QR) or a bare GTIN (EAN/UPC)."""

    gtin: str | None = None
    batch: str | None = None
    serial: str | None = None
    dates: dict[str, date] = field(default_factory=dict)
    elements: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlainText:
    text: str


@dataclass(frozen=True, slots=True)
class UnknownCode:
    text: str
    reason: str

    @property
    def message(self) -> str:
        return f"unknown code: {self.reason}"


Parsed = OwnCode | Gs1Code | PlainText | UnknownCode


def parse(
    text: str, symbology: str | None = None, public_key: Ed25519PublicKey | None = None
) -> Parsed:
    """Classify one scan. `symbology` is the decoder's format name when known."""
    shown = text[:40] + ("..." if len(text) > 40 else "")
    if not text:
        return UnknownCode(text, "empty scan")
    if _UNPRINTABLE.search(text):
        return UnknownCode(text, f"unprintable characters in {shown!r}")
    if codes.looks_like_ours(text):
        try:
            code = codes.decode(text)
        except codes.CodeError as exc:
            return UnknownCode(text, f"{exc} ({shown!r})")
        if isinstance(code, UnitCode):
            if public_key is None:
                return OwnCode(code, "not checked")
            return OwnCode(code, "verified" if codes.verify_unit(code, public_key) else "forged")
        return OwnCode(code)
    if symbology == "ITF" and len(text) == 14 and text.isdigit():
        return _gs1(text, "]I1", shown)  # ITF-14: a carton's GTIN
    if symbology in GS1_SYMBOLOGIES or text.startswith("]"):
        return _gs1(text, GS1_SYMBOLOGIES.get(symbology or "", ""), shown)
    if symbology in (None, "Code128", "DataMatrix", "QR") and _GS1_START.match(text):
        parsed = _gs1(text, "]C1", shown)
        if isinstance(parsed, Gs1Code):
            return parsed
    return PlainText(text)


def printed_value(text: str) -> str | None:
    """The human-readable line printed under one of our codes (a unit's serial, a batch),
    typed in or read from a 1D code; None when `text` cannot be one. It carries no
    signature: whoever accepts it must treat the unit as unverified."""
    text = text.strip()
    if not text or codes.looks_like_ours(text) or not codes.is_value(text):
        return None
    return text


def _gs1(text: str, prefix: str, shown: str) -> Parsed:
    import biip

    value = text if text.startswith("]") else prefix + text
    try:
        result = biip.parse(value)
    except Exception as exc:  # biip raises more than ParseError (fuzzing: IndexError on "]")
        return UnknownCode(text, f"bad GS1 data {shown!r}: {exc or type(exc).__name__}")
    if prefix in ("]E0", "]E4", "]I1"):
        if result.gtin is None:
            return UnknownCode(text, f"bad GTIN {shown!r}: {result.gtin_error}")
        return Gs1Code(gtin=result.gtin.value)
    msg = result.gs1_message
    if msg is None:
        if result.gtin is not None:
            return Gs1Code(gtin=result.gtin.value)
        reason = result.gs1_message_error or result.gtin_error or "not a GS1 element string"
        return UnknownCode(text, f"bad GS1 data {shown!r}: {reason}")
    elements = {es.ai.ai: es.value for es in msg.element_strings}
    dates = {es.ai.ai: es.date for es in msg.element_strings if es.date is not None}
    gtin = next((es.gtin.value for es in msg.element_strings if es.gtin is not None), None)
    return Gs1Code(
        gtin=gtin,
        batch=elements.get("10"),
        serial=elements.get("21"),
        dates=dates,
        elements=elements,
    )


def describe(parsed: Parsed) -> str:
    """One line for a person: what the scan is."""
    match parsed:
        case OwnCode(code=UnitCode(serial=serial), verified=v):
            return f"unit {serial} (signature {v})"
        case OwnCode(code=code):
            name = type(code).__name__
            fields = ", ".join(str(getattr(code, f)) for f in code.__slots__ if getattr(code, f))
            return f"{name} {fields}"
        case Gs1Code(gtin=gtin, elements=elements) if elements:
            return "GS1 " + " ".join(f"({ai}){v}" for ai, v in elements.items())
        case Gs1Code(gtin=gtin):
            return f"GTIN {gtin}"
        case PlainText(text=text):
            return f"text {text!r}"
        case UnknownCode():
            return parsed.message
    return repr(parsed)
