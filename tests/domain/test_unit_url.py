"""The provenance URL codec: a unit's claims under its signature, and bad URLs refused."""

from __future__ import annotations

from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from cellctl.domain import codes
from cellctl.domain.codes import CodeError, UnitClaims, decode, encode_unit_url, verify_unit
from cellctl.domain.trace import normalise_query

KEY = Ed25519PrivateKey.generate()
BASE = "https://maker.example/p/"
CLAIMS = UnitClaims("MUG-B0042-0012", "MUG-BLUE", date(2026, 12, 4), 12, 250)


def test_a_url_carries_every_claim_under_the_signature() -> None:
    url = encode_unit_url(BASE, CLAIMS, KEY)
    assert url.startswith(BASE + "#s=MUG-B0042-0012&e=12/250&k=MUG-BLUE&d=20261204&g=")
    assert len(url) < 170  # a version 8 QR at level L: fits the 29 mm unit label
    code = decode(url)
    assert isinstance(code, codes.UnitCode) and code.claims == CLAIMS
    assert verify_unit(code, KEY.public_key())
    assert not verify_unit(code, Ed25519PrivateKey.generate().public_key())
    assert normalise_query(url) == "MUG-B0042-0012"


@pytest.mark.parametrize(
    ("old", "new"),
    [("e=12/250", "e=1/250"), ("e=12/250", "e=12/2500"), ("k=MUG-BLUE", "k=MUG-RED"),
     ("d=20261204", "d=20251204"), ("s=MUG-B0042-0012", "s=MUG-B0042-0013"),
     ("e=12/250&", "")],
)  # fmt: skip
def test_changing_any_claim_breaks_the_signature(old: str, new: str) -> None:
    url = encode_unit_url(BASE, CLAIMS, KEY).replace(old, new)
    code = decode(url)
    assert not verify_unit(code, KEY.public_key())


def test_the_old_cu_form_still_verifies() -> None:
    text = codes.encode_unit("MUG-B0042-0012", KEY)
    code = decode(text)
    assert code.claims is None and verify_unit(code, KEY.public_key())


def test_an_unlimited_run_has_no_edition_and_spaces_are_escaped() -> None:
    claims = UnitClaims("A B+1", "SKU 1", date(2026, 1, 2))
    url = encode_unit_url("https://m.example/p", claims, KEY)
    assert "#s=A%20B%2B1&k=SKU%201&d=20260102&g=" in url and "e=" not in url
    code = decode(url)
    assert code.claims == claims and verify_unit(code, KEY.public_key())


@pytest.mark.parametrize(
    ("fragment", "reason"),
    [("s=A&k=B&d=20261204", "without g"),
     ("s=A&k=B&d=20261204&g=" + "A" * 86 + "&x=1", "unknown claim"),
     ("s=A&s=B&k=B&d=20261204&g=" + "A" * 86, "given twice"),
     ("s=A&k=B&d=20261332&g=" + "A" * 86, "does not exist"),
     ("s=A&k=B&d=2026124&g=" + "A" * 86, "not YYYYMMDD"),
     ("s=A&e=13/12&k=B&d=20261204&g=" + "A" * 86, "edition 13 of 12"),
     ("s=A&e=0&k=B&d=20261204&g=" + "A" * 86, "not n or n/M"),
     ("s=A&k=B&d=20261204&g=" + "A" * 85, "signature is damaged"),
     ("s=../etc&k=B&d=20261204&g=" + "A" * 86, "serial"),
     ("s=A&k=B&d=20261204&g=" + "A" * 86 + "&" + "z" * 600, "too long")],
)  # fmt: skip
def test_a_bad_url_is_refused_with_its_reason(fragment: str, reason: str) -> None:
    with pytest.raises(CodeError, match=reason):
        decode(f"{BASE}#{fragment}")


@pytest.mark.parametrize(
    "base", ["http://maker.example/p/", "https://m.example/p/?x=1", "ftp://m", "https://a b/"]
)
def test_a_base_url_must_be_https(base: str) -> None:
    with pytest.raises(CodeError, match="must be an https://"):
        codes.check_base_url(base)
    assert codes.check_base_url("http://127.0.0.1:8080/p") == "http://127.0.0.1:8080/p/"


_VALUE = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-/+ ]{0,20}", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(serial=_VALUE, sku=_VALUE, n=st.integers(1, 999), extra=st.integers(0, 999),
       day=st.dates(date(2000, 1, 1), date(2099, 12, 31)), limited=st.booleans())  # fmt: skip
def test_every_valid_claim_round_trips(
    serial: str, sku: str, n: int, extra: int, day: date, limited: bool
) -> None:
    claims = UnitClaims(serial, sku, day, n if limited else None, n + extra if limited else None)
    code = decode(encode_unit_url(BASE, claims, KEY))
    assert code.claims == claims and code.serial == serial
    assert verify_unit(code, KEY.public_key())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_fragment_decodes_or_says_why(fragment: str) -> None:
    text = f"{BASE}#{fragment}&g="
    try:
        code = decode(text)
    except CodeError:
        return
    assert isinstance(code, codes.UnitCode)
