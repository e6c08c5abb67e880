"""Is a unit code genuine? Offline, with the site's published public key."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cellctl.domain.codes import CodeError, UnitCode, decode, looks_like_ours, verify_unit


@dataclass(frozen=True, slots=True)
class Verdict:
    genuine: bool
    serial: str | None
    reason: str


def verify_text(text: str, public_key: Ed25519PublicKey) -> Verdict:
    text = text.strip()
    if not looks_like_ours(text):
        return Verdict(False, None, f"not a cellctl code: {text[:40]!r}")
    try:
        code = decode(text)
    except CodeError as exc:
        return Verdict(False, None, f"the code is damaged or altered: {exc}")
    if not isinstance(code, UnitCode):
        return Verdict(
            False, None, f"a {type(code).__name__} carries no signature; only unit codes (CU:) do"
        )
    if not verify_unit(code, public_key):
        return Verdict(
            False,
            code.serial,
            f"the signature does not match serial {code.serial}: the code was altered or "
            "forged, or signed with another site's key",
        )
    claims = ""
    if code.claims is not None:
        c = code.claims
        edition = f"edition {c.n}" + (f" of {c.edition_size}" if c.edition_size else "")
        made = f"{c.sku}, made {c.made.isoformat()}"
        claims = f" ({edition}, {made})" if c.n is not None else f" ({made})"
    return Verdict(True, code.serial, f"serial {code.serial}{claims} was signed by this site's key")
