"""Unit labels of a site with a provenance page: the QR is the signed URL a phone opens."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cellctl.config.models import PrinterConfig
from cellctl.domain.codes import UnitCode, decode, verify_unit
from cellctl.labels.decode import with_zbar, with_zxing
from cellctl.labels.errors import LabelError
from cellctl.labels.raster import read_back
from cellctl.labels.service import LabelService
from cellctl.labels.verify import verify_text
from cellctl.scan.payload import OwnCode, parse

BASE = "https://maker.example/p/"


@pytest.fixture(params=["62", "29"])
def service(request, store, key_pair, tmp_path: Path):
    cfg = PrinterConfig(model="QL-700", backend="file://labels", media=request.param)
    svc = LabelService(
        store, cfg, signing_key=key_pair[2], base_dir=tmp_path, site_name="Demo",
        provenance_url=BASE, timezone=ZoneInfo("Pacific/Auckland"),
    )  # fmt: skip
    yield svc
    svc.close()


def _printed(svc: LabelService, job_id: str) -> list[tuple[list[str], list[str]]]:
    data = (svc.backend.folder / f"{job_id}.bin").read_bytes()
    return [([f.text for f in with_zxing(p)], [f.text for f in with_zbar(p)])
            for p in read_back(data)]  # fmt: skip


def test_the_unit_qr_is_a_signed_url_both_decoders_read(service, limited_run, key_pair) -> None:
    out = service.print_units(limited_run, 2, "OP-ADA")
    pages = _printed(service, out.job_id)
    assert len(pages) == 2
    for serial, (zxing, zbar) in zip(out.serials, pages, strict=True):
        urls = [t for t in zxing if t.startswith(BASE)]
        assert len(urls) == 1 and urls == [t for t in zbar if t.startswith(BASE)]
        code = decode(urls[0])
        assert isinstance(code, UnitCode) and code.serial == serial
        assert code.claims is not None and code.claims.sku == "MUG-BLUE"
        assert code.claims.edition_size == 5 and code.claims.n == int(serial[-4:])
        assert code.claims.made == _today_in("Pacific/Auckland")
        assert verify_unit(code, key_pair[1])
        verdict = verify_text(urls[0], key_pair[1])
        assert verdict.genuine and "edition" in verdict.reason
        parsed = parse(urls[0], "QR", key_pair[1])
        assert isinstance(parsed, OwnCode) and parsed.verified == "verified"


def test_a_reprint_carries_the_very_same_url(service, limited_run) -> None:
    first = service.print_units(limited_run, 1, "OP-ADA")
    again = service.reprint(first.serials[0], "OP-QUINN", reason="torn")
    before = [t for t in _printed(service, first.job_id)[0][0] if t.startswith(BASE)]
    after = [t for t in _printed(service, again.job_id)[0][0] if t.startswith(BASE)]
    assert before == after and len(before) == 1


def test_a_base_url_that_is_not_https_is_refused(store, key_pair, tmp_path: Path) -> None:
    cfg = PrinterConfig(model="QL-700", backend="file://labels", media="62")
    with pytest.raises(LabelError, match="must be an https://"):
        LabelService(store, cfg, signing_key=key_pair[2], base_dir=tmp_path,
                     provenance_url="http://maker.example/p/")  # fmt: skip


def _today_in(zone: str) -> date:
    from datetime import datetime

    return datetime.now(ZoneInfo(zone)).date()
