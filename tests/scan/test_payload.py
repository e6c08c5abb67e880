"""What a scanned string means."""

from __future__ import annotations

from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cellctl.domain import codes
from cellctl.scan.payload import Gs1Code, OwnCode, PlainText, UnknownCode, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CB:B-42", codes.BatchCode("B-42")),
        ("CR:R17/3", codes.RunTicket("R17", 3)),
        ("CR:R17", codes.RunTicket("R17")),
        ("CO:ANNA1", codes.BadgeCode("ANNA1")),
        ("CD:SCRATCH", codes.DefectCard("SCRATCH")),
        ("CC:GOOD+1", codes.CommandCard("GOOD+1")),
        ("CC:SCRAP+1", codes.CommandCard("SCRAP+1")),
        ("CC:HOLD", codes.CommandCard("HOLD")),
        ("CM:LOT-9", codes.MaterialLot("LOT-9")),
    ],
)
def test_our_codes_become_typed_values(text: str, expected: codes.OurCode) -> None:
    assert parse(text, "QR") == OwnCode(expected)


def test_unit_signature_verified_forged_or_not_checked(site_key: Ed25519PrivateKey) -> None:
    good = codes.encode_unit("SKU1-B2-0007", site_key)
    public = site_key.public_key()
    assert parse(good, "QR", public).verified == "verified"
    assert parse(good, "QR").verified == "not checked"
    other = Ed25519PrivateKey.generate()
    forged = codes.encode_unit("SKU1-B2-0007", other)
    assert parse(forged, "QR", public).verified == "forged"
    # A valid signature moved onto another serial is a forgery too.
    moved = "CU:SKU1-B2-0008:" + good.rsplit(":", 1)[1]
    result = parse(moved, "QR", public)
    assert isinstance(result, OwnCode) and result.verified == "forged"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("CC:EXPLODE", "unknown command card"),
        ("CU:SKU-1:SHORT", "signature is damaged"),
        ("CU:SKU-1", "without a signature"),
        ("CR:R1/x", "not a number"),
        ("hello\x07world", "unprintable"),
        ("", "empty"),
    ],
)
def test_bad_codes_get_a_clear_unknown_message(text: str, why: str) -> None:
    result = parse(text, "QR")
    assert isinstance(result, UnknownCode)
    assert result.message.startswith("unknown code: ")
    assert why in result.message


def test_gs1_128_element_string_through_biip() -> None:
    result = parse("010950110153000310L7\x1d17261231", "GS1-128")
    assert result == Gs1Code(
        gtin="09501101530003",
        batch="L7",
        dates={"17": date(2026, 12, 31)},
        elements={"01": "09501101530003", "10": "L7", "17": "261231"},
    )


def test_gs1_serial_and_symbology_prefix() -> None:
    result = parse("]C1010950110153000321SN123")
    assert isinstance(result, Gs1Code)
    assert (result.gtin, result.serial) == ("09501101530003", "SN123")


def test_ean_upc_give_gtin_and_bad_check_digit_is_unknown() -> None:
    assert parse("4006381333931", "EAN-13") == Gs1Code(gtin="4006381333931")
    assert parse("036000291452", "UPC-A").gtin == "036000291452"
    assert parse("96385074", "EAN-8").gtin == "96385074"
    bad = parse("4006381333932", "EAN-13")
    assert isinstance(bad, UnknownCode) and "GTIN" in bad.message


def test_plain_text_stays_text_and_bad_gs1_is_unknown() -> None:
    assert parse("Hello bench 3", "QR") == PlainText("Hello bench 3")
    assert parse("rm -rf /; reboot", None) == PlainText("rm -rf /; reboot")
    assert isinstance(parse("019999", "GS1-128"), UnknownCode)
