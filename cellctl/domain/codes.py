"""Our own barcode payloads: what each printed code carries, and its signature.

Formats (all UTF-8 text; the kinds are two letters so a scan is told apart
from GS1 and plain text at once):

    CU:{serial}:{sig}   a unit; sig = base32 (RFC 4648, upper case, no padding) of the
                        Ed25519 signature over the bytes of "CU:{serial}"
    CB:{batch}          a batch traveller
    CR:{run_id}         a run ticket (CR:{run_id}/{step} for one step)
    CO:{badge}          an operator badge
    CD:{code}           a defect-code card
    CC:{command}        a command card: GOOD+1, SCRAP+1, HOLD, UNDO, DONE, PAUSE, RESUME
    CM:{lot}            a material lot

Upper-case serials keep the whole unit code inside QR's alphanumeric mode, so it
fits a small QR on a 29 mm label.

A site with a provenance page (`[provenance] base_url`) prints the unit's claims as a
URL a phone opens instead, verifiable with no server:

    {base_url}#s={serial}&e={n}/{of}&k={sku}&d={yyyymmdd}&g={sig}

sig = base64url (no padding) of the Ed25519 signature over `UnitClaims.message()`,
which binds every claim; the claims sit in the fragment, so the static host never
sees them. `decode` takes either form and gives a `UnitCode`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl, quote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

COMMANDS = ("GOOD+1", "SCRAP+1", "HOLD", "UNDO", "DONE", "PAUSE", "RESUME")
_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/+ ]{0,63}$")
_SIG = re.compile(r"^[A-Z2-7]{103}$")


class CodeError(ValueError):
    """A payload that looks like ours but is not right; the message says why."""


@dataclass(frozen=True, slots=True)
class UnitClaims:
    """What a provenance URL says of its unit, all of it under the signature."""

    serial: str
    sku: str
    made: date
    n: int | None = None
    edition_size: int | None = None

    def message(self) -> bytes:
        edition = "" if self.n is None else f"{self.n}/{self.edition_size or ''}"
        return "\n".join(
            ("CP1", self.serial, edition, self.sku, self.made.strftime("%Y%m%d"))
        ).encode()


@dataclass(frozen=True, slots=True)
class UnitCode:
    serial: str
    signature: bytes
    claims: UnitClaims | None = None
    """Set when the code was a provenance URL (the signature is then over the claims)."""


@dataclass(frozen=True, slots=True)
class BatchCode:
    batch: str


@dataclass(frozen=True, slots=True)
class RunTicket:
    run_id: str
    step: int | None = None


@dataclass(frozen=True, slots=True)
class BadgeCode:
    badge: str


@dataclass(frozen=True, slots=True)
class DefectCard:
    code: str


@dataclass(frozen=True, slots=True)
class CommandCard:
    command: str


@dataclass(frozen=True, slots=True)
class MaterialLot:
    lot: str


OurCode = UnitCode | BatchCode | RunTicket | BadgeCode | DefectCard | CommandCard | MaterialLot


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _unb32(text: str) -> bytes:
    return base64.b32decode(text + "=" * (-len(text) % 8))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def signature_fingerprint(signature: bytes) -> str:
    """A short print of one signature, for a certificate to be compared with its QR."""
    return hashlib.sha256(signature).hexdigest()[:16].upper()


def unit_message(serial: str) -> bytes:
    return f"CU:{serial}".encode()


def encode_unit(serial: str, private_key: Ed25519PrivateKey) -> str:
    _check_value("serial", serial)
    if ":" in serial:
        raise CodeError("a serial cannot contain ':'")
    return f"CU:{serial}:{_b32(private_key.sign(unit_message(serial)))}"


URL_MAX = 600
_EDITION = re.compile(r"^([1-9][0-9]{0,6})(?:/([1-9][0-9]{0,6}))?$")
_DAY = re.compile(r"^[0-9]{8}$")
_SIG64 = re.compile(r"^[A-Za-z0-9_-]{86}$")
_SAFE = "-._~/"
_CLAIM_KEYS = ("s", "e", "k", "d", "g")


def check_base_url(base: str) -> str:
    """A provenance base URL: https (http only on this machine, for trials), no fragment."""
    if not re.match(r"^https://[^\s#?]+$", base) and not re.match(
        r"^http://(localhost|127\.0\.0\.1)(:[0-9]+)?(/[^\s#?]*)?$", base
    ):
        raise CodeError(
            f"provenance base_url {base!r} must be an https:// address without ? or # "
            "(http:// only for localhost)"
        )
    return base if base.endswith("/") else base + "/"


def encode_unit_url(base: str, claims: UnitClaims, private_key: Ed25519PrivateKey) -> str:
    _check_value("serial", claims.serial)
    _check_value("sku", claims.sku)
    if claims.n is not None and claims.edition_size is not None and claims.n > claims.edition_size:
        raise CodeError(f"edition {claims.n} of {claims.edition_size} does not exist")
    sig = b64url(private_key.sign(claims.message()))
    parts = [("s", claims.serial)]
    if claims.n is not None:
        parts.append(("e", f"{claims.n}/{claims.edition_size or ''}".rstrip("/")))
    parts += [("k", claims.sku), ("d", claims.made.strftime("%Y%m%d")), ("g", sig)]
    query = "&".join(f"{k}={quote(v, safe=_SAFE)}" for k, v in parts)
    return f"{check_base_url(base)}#{query}"


def _looks_like_url(text: str) -> bool:
    return text.startswith(("https://", "http://")) and "#s=" in text


def decode_unit_url(text: str) -> UnitCode:
    """The unit code a provenance URL carries; CodeError says what is wrong with it."""
    if len(text) > URL_MAX:
        raise CodeError(f"provenance URL is too long ({len(text)} characters)")
    _base, _, fragment = text.partition("#")
    try:
        pairs = parse_qsl(fragment, keep_blank_values=True, strict_parsing=True,
                          max_num_fields=8)  # fmt: skip
    except ValueError:
        raise CodeError("provenance URL: its claims are not readable") from None
    fields: dict[str, str] = {}
    for k, v in pairs:
        if k in fields:
            raise CodeError(f"provenance URL: {k!r} given twice")
        fields[k] = v
    missing = [k for k in ("s", "k", "d", "g") if k not in fields]
    if missing:
        raise CodeError(
            f"provenance URL without {', '.join(missing)} (serial s, sku k, date d, signature g)"
        )
    unknown = sorted(set(fields) - set(_CLAIM_KEYS))
    if unknown:
        raise CodeError(f"provenance URL: unknown claim(s) {', '.join(unknown)}")
    serial = _check_value("serial", fields["s"])
    sku = _check_value("sku", fields["k"])
    if not _DAY.match(fields["d"]):
        raise CodeError(f"provenance URL: date {fields['d']!r} is not YYYYMMDD")
    try:
        made = date(int(fields["d"][:4]), int(fields["d"][4:6]), int(fields["d"][6:]))
    except ValueError:
        raise CodeError(f"provenance URL: date {fields['d']!r} does not exist") from None
    n = size = None
    if "e" in fields:
        m = _EDITION.match(fields["e"])
        if not m:
            raise CodeError(f"provenance URL: edition {fields['e']!r} is not n or n/M")
        n, size = int(m[1]), (int(m[2]) if m[2] else None)
        if size is not None and n > size:
            raise CodeError(f"provenance URL: edition {n} of {size} does not exist")
    if not _SIG64.match(fields["g"]):
        raise CodeError("provenance URL: the signature is damaged (wrong length or characters)")
    sig = base64.urlsafe_b64decode(fields["g"] + "==")
    return UnitCode(serial, sig, UnitClaims(serial, sku, made, n, size))


def encode(code: OurCode) -> str:
    match code:
        case BatchCode(batch=b):
            return f"CB:{_check_value('batch', b)}"
        case RunTicket(run_id=r, step=None):
            return f"CR:{_check_value('run', r)}"
        case RunTicket(run_id=r, step=s):
            return f"CR:{_check_value('run', r)}/{s}"
        case BadgeCode(badge=b):
            return f"CO:{_check_value('badge', b)}"
        case DefectCard(code=c):
            return f"CD:{_check_value('defect code', c)}"
        case CommandCard(command=c):
            if c not in COMMANDS:
                raise CodeError(f"unknown command {c!r}; known: {', '.join(COMMANDS)}")
            return f"CC:{c}"
        case MaterialLot(lot=lot):
            return f"CM:{_check_value('lot', lot)}"
        case UnitCode():
            raise CodeError("unit codes are signed: use encode_unit")
    raise CodeError(f"cannot encode {code!r}")


def _check_value(what: str, value: str) -> str:
    if not isinstance(value, str) or not _VALUE.match(value):
        raise CodeError(
            f"{what} {value!r} must be 1-64 letters, digits or - _ . / + and start with one "
            "letter or digit"
        )
    return value


def is_value(text: str) -> bool:
    """Whether `text` could be a serial, batch or other value of our codes (as printed in
    human-readable text under the code)."""
    return bool(_VALUE.match(text)) and ":" not in text


def looks_like_ours(text: str) -> bool:
    return _looks_like_url(text) or (
        len(text) > 3 and text[2] == ":" and text[:2] in ("CU", "CB", "CR", "CO", "CD", "CC", "CM")
    )


def kind_of(text: str) -> str:
    """The two-letter kind of one of our payloads (a provenance URL is a unit, CU)."""
    return "CU" if _looks_like_url(text) else text[:2]


def decode(text: str) -> OurCode:
    """Parse one of our payloads; raise CodeError with a reason a person can read."""
    if not looks_like_ours(text):
        raise CodeError(f"not a cellctl code: {text[:40]!r}")
    if _looks_like_url(text):
        return decode_unit_url(text)
    kind, rest = text[:2], text[3:]
    if kind == "CU":
        serial, sep, sig = rest.rpartition(":")
        if not sep or not serial:
            raise CodeError("unit code without a signature")
        _check_value("serial", serial)
        if not _SIG.match(sig):
            raise CodeError("unit code signature is damaged (wrong length or characters)")
        return UnitCode(serial, _unb32(sig))
    if kind == "CB":
        return BatchCode(_check_value("batch", rest))
    if kind == "CR":
        run, sep, step = rest.partition("/")
        if sep:
            if not step.isdigit() or len(step) > 3:
                raise CodeError(f"run ticket step {step!r} is not a number")
            return RunTicket(_check_value("run", run), int(step))
        return RunTicket(_check_value("run", rest))
    if kind == "CO":
        return BadgeCode(_check_value("badge", rest))
    if kind == "CD":
        return DefectCard(_check_value("defect code", rest))
    if kind == "CC":
        if rest not in COMMANDS:
            raise CodeError(f"unknown command card {rest!r}; known: {', '.join(COMMANDS)}")
        return CommandCard(rest)
    return MaterialLot(_check_value("lot", rest))


def verify_unit(code: UnitCode, public_key: Ed25519PublicKey) -> bool:
    try:
        message = code.claims.message() if code.claims else unit_message(code.serial)
        public_key.verify(code.signature, message)
    except InvalidSignature:
        return False
    return True
