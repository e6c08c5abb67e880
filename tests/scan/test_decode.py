"""Decoding generated, distorted frames: rates per level, no false reads, the cascade."""

from __future__ import annotations

import numpy as np
import pytest

from cellctl.scan import synth
from cellctl.scan.cascade import STILL_AFTER, Pipeline, to_gray
from cellctl.scan.decoders import read_zbar, read_zxing

from .frames import frame_with

LEVELS = (0, 2, 3)
PER_CELL = 2


@pytest.fixture(scope="module")
def distorted(backgrounds):
    """(symbology, level, frame, expected text): a small set; the bench has the big one."""
    rng = np.random.default_rng(7)
    items = []
    for s in synth.SYMBOLOGIES:
        for level in LEVELS:
            for k in range(PER_CELL):
                text, expected = synth.sample_payload(s, rng)
                seed = int(rng.integers(1 << 30))
                frame = frame_with(text, s, backgrounds[k % len(backgrounds)], level, seed)
                items.append((s, level, frame, expected))
    return items


@pytest.fixture(scope="module")
def outcomes(distorted):
    pipe = Pipeline(budget_ms=200)
    rows = []
    for s, level, frame, expected in distorted:
        gray = to_gray(frame)
        zx = [r.text for r in read_zxing(gray)]
        zb = [r.text for r in read_zbar(gray)]
        result = pipe.decode(frame)
        rows.append((s, level, expected, zx, zb, result))
    return rows


def test_clean_frames_all_read_with_the_right_format(outcomes) -> None:
    for s, level, expected, _, _, result in outcomes:
        if level == 0:
            assert [(r.format, r.text) for r in result.reads] == [(s, expected)], s


def test_decode_rate_per_level_and_pipeline_at_least_best_single(outcomes) -> None:
    rate: dict[tuple[str, int], float] = {}
    for level in LEVELS:
        rows = [o for o in outcomes if o[1] == level]
        rate[("pipe", level)] = sum(any(r.text == o[2] for r in o[5].reads) for o in rows) / len(
            rows
        )
    assert rate[("pipe", 0)] == 1.0
    assert rate[("pipe", 2)] >= 0.9
    assert rate[("pipe", 3)] >= 0.6
    for s in synth.SYMBOLOGIES:
        rows = [o for o in outcomes if o[0] == s]
        zx = sum(o[2] in o[3] for o in rows)
        zb = sum(o[2] in o[4] for o in rows)
        pipe = sum(any(r.text == o[2] for r in o[5].reads) for o in rows)
        assert pipe >= max(zx, zb), (s, zx, zb, pipe)


def test_no_misreads(outcomes) -> None:
    for s, _, expected, _, _, result in outcomes:
        assert all(r.text == expected for r in result.reads), (s, expected, result.reads)


def test_no_false_reads_on_frames_without_a_code(backgrounds) -> None:
    rng = np.random.default_rng(3)
    frames = list(backgrounds)
    frames.append(rng.integers(0, 256, (720, 1280), dtype=np.uint8))
    frames.append(np.full((720, 1280, 3), 128, np.uint8))
    pipe = Pipeline(budget_ms=200)
    for frame in frames:
        assert pipe.decode(frame).reads == []
        assert read_zxing(to_gray(frame)) == [] and read_zbar(to_gray(frame)) == []


def test_cascade_reads_a_tilted_1d_code_the_plain_pass_misses(backgrounds) -> None:
    rng = np.random.default_rng(5)
    d = synth.Distortion(40, 0, 0.8, 4, 0.2, 0)
    frame = synth.place(synth.render("CB:TILT-40", "Code128", 2), backgrounds[0], d, rng)
    assert read_zxing(to_gray(frame)) == []
    result = Pipeline(budget_ms=200).decode(frame)
    assert [r.text for r in result.reads] == ["CB:TILT-40"]
    assert result.stage != "plain"
    assert Pipeline(budget_ms=200, cascade=False).decode(frame).reads == []


def test_roi_limits_where_codes_are_read(backgrounds) -> None:
    frame = backgrounds[1].copy()
    sym = synth.render("CB:LEFT", "QR", 4)
    h, w = sym.shape
    frame[100 : 100 + h, 100 : 100 + w] = sym[..., None]
    assert [r.text for r in Pipeline(roi=(0.0, 0.0, 0.5, 0.5)).decode(frame).reads] == ["CB:LEFT"]
    assert Pipeline(roi=(0.5, 0.5, 0.5, 0.5), cascade=False).decode(frame).reads == []


def test_decoder_selection_and_zbar_needs_grayscale(backgrounds) -> None:
    frame = frame_with("CB:DM-1", "DataMatrix", backgrounds[0], 0, 1)
    assert [r.text for r in Pipeline(["zxing"]).decode(frame).reads] == ["CB:DM-1"]
    assert Pipeline(["zbar"]).decode(frame).reads == []  # zbar has no DataMatrix
    with pytest.raises(ValueError):
        read_zbar(frame)
    with pytest.raises(ValueError):
        Pipeline(["tesseract"])


def test_still_picture_skips_the_fallbacks_in_live_mode(backgrounds) -> None:
    # A scene that holds still: after STILL_AFTER frames the deep stages run a frame's
    # budget at a time, then the plain pass only, and the light cascade again every
    # `static_every` frames.
    pipe = Pipeline(static_every=10)
    stages = [pipe.decode(backgrounds[0]).stage for _ in range(12)]
    assert stages[0] == "none" and stages[1:STILL_AFTER] == ["static"] * (STILL_AFTER - 1)
    assert "deepening" in stages[STILL_AFTER:11]
    assert set(stages[STILL_AFTER:11]) <= {"deepening", "static"} and stages[11] == "none"
    assert pipe.decode(backgrounds[1]).stage == "none"  # a new picture: fallbacks again


def test_codes_from_other_writers_segno_and_python_barcode(backgrounds, site_key) -> None:
    import io

    import barcode
    import cv2
    import segno
    from barcode.writer import ImageWriter

    from cellctl.domain import codes
    from cellctl.scan.payload import OwnCode, parse

    unit = codes.encode_unit("SKU7-B3-0042", site_key)
    qr = segno.make_qr(unit, error="m")
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=4, border=4)
    qr_img = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_GRAYSCALE)
    buf = io.BytesIO()
    barcode.get("code128", "CB:B-77", writer=ImageWriter()).write(buf, {"write_text": False})
    bar_img = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_GRAYSCALE)
    rng = np.random.default_rng(11)
    pipe = Pipeline(budget_ms=200)
    for img, expected in ((qr_img, unit), (bar_img, "CB:B-77")):
        frame = synth.place(img, backgrounds[2], synth.Distortion.level(1, rng), rng)
        assert [r.text for r in pipe.decode(frame).reads] == [expected]
    parsed = parse(unit, "QR", site_key.public_key())
    assert isinstance(parsed, OwnCode) and parsed.verified == "verified"
