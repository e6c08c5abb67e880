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
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

COMMANDS = ("GOOD+1", "SCRAP+1", "HOLD", "UNDO", "DONE", "PAUSE", "RESUME")
_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/+ ]{0,63}$")
_SIG = re.compile(r"^[A-Z2-7]{103}$")


class CodeError(ValueError):
    """A payload that looks like ours but is not right; the message says why."""


@dataclass(frozen=True, slots=True)
class UnitCode:
    serial: str
    signature: bytes


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


def unit_message(serial: str) -> bytes:
    return f"CU:{serial}".encode()


def encode_unit(serial: str, private_key: Ed25519PrivateKey) -> str:
    _check_value("serial", serial)
    if ":" in serial:
        raise CodeError("a serial cannot contain ':'")
    return f"CU:{serial}:{_b32(private_key.sign(unit_message(serial)))}"


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
    return (
        len(text) > 3 and text[2] == ":" and text[:2] in ("CU", "CB", "CR", "CO", "CD", "CC", "CM")
    )


def decode(text: str) -> OurCode:
    """Parse one of our payloads; raise CodeError with a reason a person can read."""
    if not looks_like_ours(text):
        raise CodeError(f"not a cellctl code: {text[:40]!r}")
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
        public_key.verify(code.signature, unit_message(code.serial))
    except InvalidSignature:
        return False
    return True
