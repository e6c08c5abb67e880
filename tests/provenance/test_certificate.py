"""`cellctl provenance certificate`: an A6 page whose QR is the unit's own signed URL."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from cellctl.domain.codes import decode, signature_fingerprint, verify_unit
from cellctl.labels.decode import with_zbar, with_zxing
from cellctl.labels.keys import load_public
from tests.provenance.conftest import SERIALS, ProvenanceSite, cli


async def test_a_certificate_carries_the_edition_and_the_signed_url(
    prov_site: ProvenanceSite, tmp_path: Path, capsys
) -> None:
    png = tmp_path / "cert.png"
    args = ["provenance", "certificate", SERIALS[1], "--site", str(prov_site.site_path)]
    assert await cli([*args, "--out", str(png)]) == 0
    out = capsys.readouterr().out
    img = Image.open(png)
    assert img.size == (1748, 1240)  # A6 landscape at 300 dpi
    assert round(img.info["dpi"][0]) == 300
    urls = [f.text for f in with_zxing(img) if f.kind == "qr"]
    assert len(urls) == 1 and urls == [f.text for f in with_zbar(img) if f.kind == "qr"]
    code = decode(urls[0])
    assert urls[0].startswith("https://maker.example/p/#s=MUG-BLUE-B0042-0002&e=2/250&")
    assert "&d=20261102&" in urls[0]  # the day its serial was issued
    assert verify_unit(code, load_public(prov_site.public_key))
    assert signature_fingerprint(code.signature) in out

    pdf = tmp_path / "cert.pdf"
    assert await cli([*args, "--out", str(pdf)]) == 0
    head = pdf.read_bytes()
    assert head.startswith(b"%PDF") and b"/MediaBox [ 0 0 419.52 297.6 ]" in head  # A6, pt


async def test_a_certificate_for_what_is_not_a_unit_says_so(
    prov_site: ProvenanceSite, tmp_path: Path, capsys
) -> None:
    base = ["provenance", "certificate", "--site", str(prov_site.site_path)]
    assert await cli([*base, "B0042", "--out", str(tmp_path / "c.png")]) == 1
    assert "is not a unit serial" in capsys.readouterr().err
    assert await cli([*base, "NOPE-1", "--out", str(tmp_path / "c.png")]) == 1
    assert "neither a serial nor a batch" in capsys.readouterr().err
    assert await cli([*base, SERIALS[0], "--out", str(tmp_path / "c.gif")]) == 1
    assert "as .png or .pdf" in capsys.readouterr().err
    assert not list(tmp_path.glob("c.*"))
