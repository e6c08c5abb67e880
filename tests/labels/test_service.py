"""LabelService on a real station store, printing into a folder as the demo does."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellctl.config.models import PrinterConfig
from cellctl.domain.codes import decode, verify_unit
from cellctl.labels.decode import with_zxing
from cellctl.labels.errors import LabelError
from cellctl.labels.raster import read_back
from cellctl.labels.service import LabelService


@pytest.fixture
def service(store, key_pair, tmp_path):
    cfg = PrinterConfig(model="QL-700", backend="file://labels", media="62")
    svc = LabelService(store, cfg, signing_key=key_pair[2], base_dir=tmp_path, site_name="Demo")
    yield svc
    svc.close()


def _unit_codes(svc: LabelService, job_id: str) -> list[str]:
    data = (svc.backend.folder / f"{job_id}.bin").read_bytes()
    return [with_zxing(p)[0].text for p in read_back(data)]


def _units(store) -> dict[str, tuple]:
    return {r[0]: r for r in store.read_tables()["units"]}


def test_print_units_numbers_the_edition_and_signs_each_code(service, store, limited_run, key_pair):
    out = service.print_units(limited_run, 3, "OP-ADA")
    assert out.printed
    assert out.serials == ("MUG-BLUE-B0042-0001", "MUG-BLUE-B0042-0002", "MUG-BLUE-B0042-0003")
    codes = [decode(c) for c in _unit_codes(service, out.job_id)]
    assert [c.serial for c in codes] == list(out.serials)
    assert all(verify_unit(c, key_pair[1]) for c in codes)
    fields = service.queue.unit_fields(out.serials[2])[1]
    assert fields["edition"] == "3/5" and fields["n"] == 3
    (event,) = [e for e in store.events() if e.type == "label_printed"]
    assert event.payload["serials"] == list(out.serials) and event.payload["copies"] == 3
    assert event.operator == "OP-ADA"
    assert all(_units(store)[s][6] == "labelled" for s in out.serials)
    assert store.check() == []


def test_the_edition_cannot_be_overrun_and_no_serial_is_spent(service, store, limited_run):
    service.print_units(limited_run, 4, "OP-ADA")
    with pytest.raises(LabelError, match="edition of 5 exhausted"):
        service.print_units(limited_run, 2, "OP-ADA")
    out = service.print_units(limited_run, 1, "OP-ADA")
    assert out.serials == ("MUG-BLUE-B0042-0005",)


def test_reprint_keeps_the_serial_and_the_code(service, store, limited_run):
    first = service.print_units(limited_run, 2, "OP-ADA")
    again = service.reprint(first.serials[1], "OP-QUINN", reason="torn")
    assert again.printed and again.serials == (first.serials[1],)
    assert _unit_codes(service, again.job_id) == _unit_codes(service, first.job_id)[1:]
    (event,) = [e for e in store.events() if e.type == "label_reprinted"]
    assert event.payload["serial"] == first.serials[1] and event.payload["job_id"] == again.job_id
    unit = _units(store)[first.serials[1]]
    assert (unit[7], unit[8]) == (1, 1)  # prints, reprints
    assert store.allocate_serials(1, scope=f"run:{limited_run.id}", fmt="{n}").first == 3


def test_void_records_the_spoiled_label_and_blocks_its_reprint(service, store, limited_run):
    out = service.print_units(limited_run, 2, "OP-ADA")
    event = service.void(out.serials[0], "smudged", "OP-QUINN")
    assert event.type == "label_voided" and event.payload == {
        "serial": out.serials[0],
        "reason": "smudged",
    }
    assert _units(store)[out.serials[0]][6] == "void"
    with pytest.raises(LabelError, match="void"):
        service.reprint(out.serials[0], "OP-QUINN")
    with pytest.raises(LabelError, match="already void"):
        service.void(out.serials[0], "again", "OP-QUINN")
    with pytest.raises(LabelError, match="never allocated"):
        service.void("NOPE-1", "x", "OP-QUINN")
    with pytest.raises(LabelError, match="say why"):
        service.void(out.serials[1], " ", "OP-QUINN")


def test_batch_traveller_and_hold_tag(service, store, limited_run, tmp_path):
    trav = service.print_batch(limited_run, "B0042", "OP-ADA", step=2)
    data = (service.backend.folder / f"{trav.job_id}.bin").read_bytes()
    texts = {f.text for f in with_zxing(read_back(data)[0])}
    assert texts == {"CB:B0042", "CR:R-2026-0042/2"}
    events = [e for e in store.events() if e.type == "label_printed"]
    assert events[-1].payload["batch"] == "B0042"
    hold = service.print_hold_tag("B0042", "Glaze bubbles on 3 of 8 samples", "OP-QUINN")
    data = (service.backend.folder / f"{hold.job_id}.bin").read_bytes()
    assert {f.text for f in with_zxing(read_back(data)[0])} == {"CB:B0042", "10B0042"}
    with pytest.raises(LabelError, match="102 x 153 mm die-cut .* but the printer has 62 mm"):
        service.template("certificate")


def test_templates_follow_the_loaded_media(store, key_pair, tmp_path):
    cfg = PrinterConfig(model="QL-700", backend="file://l29", media="29")
    svc = LabelService(store, cfg, signing_key=key_pair[0], base_dir=tmp_path)
    assert svc.template("unit").name == "unit_serial"
    svc.close()


def test_no_signing_key_is_a_clear_error(store, limited_run, tmp_path):
    cfg = PrinterConfig(model="QL-700", backend="file://labels", media="62")
    svc = LabelService(store, cfg, base_dir=tmp_path)
    with pytest.raises(LabelError, match="no signing key"):
        svc.print_units(limited_run, 1, "OP-ADA")
    assert store.read_tables()["units"] == [], "no serial spent on a label that cannot print"
    svc.close()


def test_a_template_error_spends_no_serial(store, limited_run, key_pair, tmp_path):
    bad = Path(tmp_path / "tpl")
    bad.mkdir()
    (bad / "unit_serial_62.toml").write_text(
        'media = "62"\nlength_mm = 30\n[[elements]]\ntype = "text"\nx = 0\ny = 0\n'
        'width = 20\nheight = 5\ntext = "{serial} {colour}"\n'
    )
    cfg = PrinterConfig(model="QL-700", backend="file://labels", media="62")
    svc = LabelService(store, cfg, bad, key_pair[0], base_dir=tmp_path)
    with pytest.raises(LabelError, match="element 1 \\(text\\): field 'colour' not given"):
        svc.print_units(limited_run, 1, "OP-ADA")
    assert store.read_tables()["units"] == []
    svc.close()


def test_two_printers_share_the_station_queue_file_without_mixing_jobs(
    service, store, limited_run, key_pair, tmp_path
):
    cards = LabelService(
        store,
        PrinterConfig(model="QL-1100", backend="file://cards", media="102x152"),
        signing_key=key_pair[2],
        base_dir=tmp_path,
        site_name="Demo",
    )
    assert cards.queue.path == service.queue.path
    unit = service.print_units(limited_run, 1, "OP-ADA")
    cert = cards.print_certificate(unit.serials[0], "OP-SAM")
    assert cert.printed
    assert sorted(p.suffix for p in (tmp_path / "cards").iterdir()) == [".bin", ".png"]
    assert [j.id for j in cards.queue.jobs()] == [cert.job_id]
    assert [j.id for j in service.queue.jobs()] == [unit.job_id]
    data = (tmp_path / "cards" / f"{cert.job_id}.bin").read_bytes()
    (page,) = read_back(data)
    (found,) = with_zxing(page)
    assert decode(found.text).serial == unit.serials[0]
    assert verify_unit(decode(found.text), key_pair[1])
    with pytest.raises(LabelError, match="never allocated"):
        cards.print_certificate("NOPE-0001", "OP-SAM")
    cards.close()
