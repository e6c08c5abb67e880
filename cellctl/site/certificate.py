"""`cellctl provenance certificate SERIAL`: a printable A6 certificate of authenticity.

Drawn with the collector certificate label template (label_templates/, the same one a
kiosk prints on a QL-1100), laid on an A6 page at 300 dpi and written as PNG or PDF.
The QR is the unit's provenance URL, signed again with the site's key: Ed25519 is
deterministic, so it is the very code on the unit's label when the claims are the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from cellctl.domain.codes import (
    UnitClaims,
    UnitCode,
    decode,
    encode_unit,
    encode_unit_url,
    signature_fingerprint,
)
from cellctl.errors import CliError
from cellctl.labels.keys import key_id
from cellctl.labels.render import render
from cellctl.labels.template import find_template

DPI = 300
A6_MM = (148.0, 105.0)  # landscape
TEMPLATE = "collector_certificate"


@dataclass(frozen=True, slots=True)
class Certificate:
    image: Image.Image
    unit_code: str
    fingerprint: str


def _px(mm: float) -> int:
    return round(mm / 25.4 * DPI)


def certificate(
    serial: str,
    record: dict[str, Any],
    *,
    signing_key: Ed25519PrivateKey,
    base_url: str | None,
    site_name: str,
    title: str | None = None,
    templates_dir: str | Path | None = None,
) -> Certificate:
    """The certificate of `serial`, from its batch's provenance record."""
    unit = record["units"].get(serial)
    if unit is None:
        raise CliError(f"serial {serial} is not one of batch {record['batch']}'s units")
    n, size = unit.get("n"), record.get("edition_size")
    made = date.fromisoformat(unit["made"]) if unit.get("made") else datetime.now(UTC).date()
    sku = record.get("sku") or ""
    if base_url:
        claims = UnitClaims(serial, sku, made, n if size else None, size)
        code = encode_unit_url(base_url, claims, signing_key)
    else:
        code = encode_unit(serial, signing_key)
    signed = decode(code)
    assert isinstance(signed, UnitCode)  # made just above
    fingerprint = signature_fingerprint(signed.signature)
    values = {
        "site_name": site_name,
        "title": title or sku,
        "edition": f"{n} of {size}" if size and n else (str(n) if n else "-"),
        "serial": serial,
        "sku": sku,
        "batch": record["batch"],
        "now": datetime(made.year, made.month, made.day, tzinfo=UTC),
        "unit_code": code,
        "key_id": key_id(signing_key.public_key()),
        "sig_fingerprint": fingerprint,
    }
    label = render(find_template(TEMPLATE, templates_dir), values).image
    page = Image.new("L", (_px(A6_MM[0]), _px(A6_MM[1])), 255)
    margin = _px(3)
    scale = min((page.width - 2 * margin) / label.width, (page.height - 2 * margin) / label.height)
    if scale < 1:
        label = label.resize(
            (round(label.width * scale), round(label.height * scale)), Image.Resampling.LANCZOS
        )
    page.paste(label, ((page.width - label.width) // 2, (page.height - label.height) // 2))
    return Certificate(page, code, fingerprint)


def save(cert: Certificate, out: str | Path) -> Path:
    """PNG or PDF by the file's suffix, at 300 dpi (A6 on paper)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".pdf"):
        raise CliError(f"{out}: write the certificate as .png or .pdf")
    out.parent.mkdir(parents=True, exist_ok=True)
    cert.image.save(out, "PDF" if suffix == ".pdf" else "PNG", resolution=DPI, dpi=(DPI, DPI))
    return out
