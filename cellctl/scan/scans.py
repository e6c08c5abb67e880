"""A scan: what any scanner read, where from, what it means, and when."""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cellctl.scan.payload import Parsed, parse


@dataclass(frozen=True, slots=True)
class Scan:
    origin: str  # "camera:<source>", "wedge", "serial:<port>"
    text: str  # raw decoded text; data only, never a command line
    symbology: str | None  # "QR", "EAN-13", ... or None for keyboard/serial scanners
    parsed: Parsed
    time: float = field(default_factory=_time.time)  # wall clock, for events
    captured: float = field(default_factory=_time.monotonic)  # when the frame/keys arrived


def make_scan(
    origin: str,
    text: str,
    symbology: str | None = None,
    public_key: Ed25519PublicKey | None = None,
    captured: float | None = None,
) -> Scan:
    parsed = parse(text, symbology, public_key)
    if captured is None:
        return Scan(origin, text, symbology, parsed)
    return Scan(origin, text, symbology, parsed, captured=captured)
