"""Every shipped template: rendered, rastered, read back by brother_ql, decoded by both decoders."""

from __future__ import annotations

import numpy as np
import pytest
from brother_ql.raster import BrotherQLRaster
from brother_ql.reader import chunker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellctl.domain.codes import decode, encode_unit, verify_unit
from cellctl.labels.decode import with_zbar, with_zxing
from cellctl.labels.errors import LabelError
from cellctl.labels.media import model_spec
from cellctl.labels.raster import THRESHOLD, build_job, read_back
from cellctl.labels.render import render
from cellctl.labels.samples import sample_values
from cellctl.labels.template import load_template, template_paths

MODELS = ("QL-500", "QL-700", "QL-820NWB", "QL-1060N", "QL-1100")
TEMPLATES = [p.stem for p in template_paths()]
ZBAR_KINDS = {"qr", "code128", "gs1_128"}  # zbar reads no DataMatrix


def _cases():
    for path in template_paths():
        t = load_template(path)
        for model in MODELS:
            if t.media_spec.works_with(model):
                yield pytest.param(path, model, id=f"{t.name}-{model}")


def test_the_matrix_spans_three_models_and_three_media():
    pairs = {(load_template(p).media, m) for p, m in (c.values for c in _cases())}
    assert len({m for _, m in pairs}) >= 3
    assert len({media for media, _ in pairs}) >= 3
    assert {"unit_serial", "batch_traveller", "qc_hold_tag", "collector_certificate"} <= set(
        TEMPLATES
    )


@pytest.mark.parametrize(("path", "model"), list(_cases()))
def test_every_code_decodes_from_the_read_back_raster(path, model, key_pair, tmp_path):
    private, public, _, _ = key_pair
    t = load_template(path)
    values = sample_values()
    values["unit_code"] = encode_unit(values["serial"], private)
    rendered = render(t, values)
    assert rendered.codes, f"{t.name} prints no code"

    job = build_job([rendered.image], model, t.media, landscape=t.orientation == "landscape")
    (page,) = read_back(job, tmp_path)
    assert list(tmp_path.iterdir()), "the reader wrote its page into our folder, not the cwd"

    width = BrotherQLRaster(model).get_pixel_width()
    expected_h = rendered.image.width if t.orientation == "landscape" else rendered.image.height
    assert page.size == (width, expected_h)

    want = {(c.kind, c.payload) for c in rendered.codes}
    by_zxing = {(f.kind, f.text) for f in with_zxing(page)}
    assert by_zxing == want
    # zbar names GS1-128 plain CODE128; its text must still be the raw GS1 payload.
    by_zbar = [f.text for f in with_zbar(page)]
    assert sorted(by_zbar) == sorted(p for k, p in want if k in ZBAR_KINDS)

    for _kind, payload in want:
        if payload.startswith("CU:"):
            assert verify_unit(decode(payload), public)

    # Not only decodable: the read-back dots are exactly the thresholded design.
    m = t.media_spec
    img = rendered.image.rotate(90, expand=True) if t.orientation == "landscape" else rendered.image
    x0 = width - m.printable[0] - m.offset_r - model_spec(model).additional_offset_r
    back = np.asarray(page.convert("L"))[:, x0 : x0 + m.printable[0]] < 128
    assert np.array_equal(back, np.asarray(img) < THRESHOLD)


def test_n_labels_are_one_job_cut_only_at_the_end(key_pair):
    private, public, _, _ = key_pair
    t = load_template(template_paths()[0].parent / "unit_serial.toml")
    serials = [f"MUG-B0042-{n:04}" for n in range(1, 5)]
    pages = []
    for s in serials:
        pages.append(
            render(t, {**sample_values(), "serial": s, "unit_code": encode_unit(s, private)}).image
        )
    job = build_job(pages, "QL-820NWB", t.media, cut="end")
    ops = [c[:3] for c in chunker(job)]
    assert ops.count(b"\x1b\x40") == 1, "one job: one initialise"
    assert job.count(b"\x1b\x69\x41\x04") == 4, "cut every 4th label = after the last one"
    assert b"\x1b\x69\x41\x01" not in job
    assert job.rstrip(b"\x00").endswith(b"\x1a") and job.count(b"\x0c") >= 3
    back = read_back(job)
    got = [decode(with_zxing(p)[0].text).serial for p in back]
    assert got == serials

    each = build_job(pages, "QL-820NWB", t.media, cut="each")
    assert each.count(b"\x1b\x69\x41\x01") == 4


def test_media_the_model_cannot_take_is_refused():
    t = load_template(template_paths()[0].parent / "collector_certificate.toml")
    img = render(t, {**sample_values(), "unit_code": "CU:X-1:" + "A" * 103}).image
    with pytest.raises(LabelError, match="QL-1100"):
        build_job([img], "QL-700", t.media)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(serial=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-/+ ]{0,63}", fullmatch=True))
def test_any_valid_serial_fits_the_29_mm_unit_label_and_decodes(serial, signing_key):
    t = load_template(template_paths()[0].parent / "unit_serial.toml")
    code = encode_unit(serial, signing_key)
    rendered = render(t, {**sample_values(), "serial": serial, "unit_code": code})
    (page,) = read_back(build_job([rendered.image], "QL-700", t.media))
    assert [f.text for f in with_zxing(page)] == [code]
