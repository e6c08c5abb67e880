"""The symbologies a station reads: Code 39, ITF, GS1 DataBar beside the 2D and retail
codes, narrowed by a setting; UPC-A as UPC-A; GS1 content parsed; alpha laid over
white; frame-filling codes found; nothing read on pictures without a code."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from cellctl.cli import main
from cellctl.config.models import CameraConfig
from cellctl.scan import decoys, synth
from cellctl.scan.cascade import Pipeline, candidate_regions, to_gray
from cellctl.scan.decoders import SYMBOLOGIES
from cellctl.scan.payload import Gs1Code, PlainText, UnknownCode, parse
from cellctl.scan.scans import make_scan

from .frames import frame_with

NEW = [
    ("Code39", "PART-4471", "PART-4471"),
    ("ITF", "00012345678905", "00012345678905"),
    ("DataBar", "0102001234567893", "0102001234567893"),
    (
        "DataBar-Expanded",
        "(01)98898765432106(3202)012345(15)991231",
        "0198898765432106320201234515991231",
    ),
]


def test_station_setting_defaults_to_every_symbology_and_rejects_unknown_names() -> None:
    assert CameraConfig().symbologies == list(SYMBOLOGIES)
    assert CameraConfig(symbologies=["QR", "ITF"]).symbologies == ["QR", "ITF"]
    with pytest.raises(ValidationError):
        CameraConfig(symbologies=["QR", "Aztec"])
    with pytest.raises(ValidationError):
        CameraConfig(symbologies=[])
    with pytest.raises(ValueError, match="symbologies"):
        Pipeline(symbologies=["PDF417"])


@pytest.mark.parametrize(("symbology", "text", "raw"), NEW)
def test_new_symbologies_read_with_their_format_and_raw_text(
    backgrounds, symbology, text, raw
) -> None:
    frame = frame_with(text, symbology, backgrounds[0], 1, 4)
    reads = Pipeline(budget_ms=150, still=True).decode(frame).reads
    assert [(r.format, r.text) for r in reads] == [(symbology, raw)]


@pytest.mark.parametrize(("symbology", "text", "raw"), NEW)
def test_a_station_that_narrows_the_list_does_not_read_the_others(
    backgrounds, symbology, text, raw
) -> None:
    frame = frame_with(text, symbology, backgrounds[1], 0, 5)
    cam = CameraConfig(symbologies=["QR", "DataMatrix", "Code128"])
    assert Pipeline.from_config(cam, live=False).decode(frame).reads == []
    assert Pipeline.from_config(cam, live=True).decode(frame).reads == []


def test_upc_a_is_reported_as_upc_a_and_parsed_as_a_gtin(backgrounds) -> None:
    frame = frame_with("03660230146", "UPC-A", backgrounds[0], 0, 6)
    reads = Pipeline().decode(frame).reads
    assert [(r.format, r.text) for r in reads] == [("UPC-A", "036602301467")]
    scan = make_scan("camera:test", reads[0].text, reads[0].format)
    assert scan.parsed == Gs1Code(gtin="036602301467")
    # A station reading EAN-13 only does not pass a UPC-A on as an EAN with a 0.
    assert Pipeline(symbologies=["EAN-13"]).decode(frame).reads == []


def test_gs1_content_of_databar_and_itf14_is_parsed_with_biip() -> None:
    databar = parse("0102001234567893", "DataBar")
    assert isinstance(databar, Gs1Code) and databar.gtin == "02001234567893"
    expanded = parse("0198898765432106320201234515991231", "DataBar-Expanded")
    assert isinstance(expanded, Gs1Code)
    assert expanded.elements == {"01": "98898765432106", "3202": "012345", "15": "991231"}
    assert parse("00012345678905", "ITF") == Gs1Code(gtin="00012345678905")
    bad = parse("00012345678906", "ITF")
    assert isinstance(bad, UnknownCode) and "check digit" in bad.message
    assert parse("070429", "ITF") == PlainText("070429")  # not a carton's GTIN
    assert parse("001EC947D49B", "Code39") == PlainText("001EC947D49B")


def test_a_code_on_a_transparent_background_is_laid_over_white(tmp_path, capsys) -> None:
    sym = synth.render("CB:ALPHA-1", "QR", 4)
    # Black ink where the code is dark, fully transparent elsewhere: the colour
    # channels are black everywhere, as many drawing programs save such a PNG.
    bgra = np.zeros((*sym.shape, 4), np.uint8)
    bgra[..., 3] = 255 - sym
    path = tmp_path / "alpha.png"
    cv2.imwrite(str(path), bgra)
    assert main(["scan", "--json", str(path)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["reads"] == [{"format": "QR", "text": "CB:ALPHA-1"}]
    assert to_gray(bgra)[0, 0] == 255 and to_gray(bgra).min() == 0


def test_region_finder_keeps_a_code_that_fills_a_small_frame() -> None:
    # A close-up: the bars run nearly edge to edge, as a code held to a small camera.
    sym = synth.render("4006381333931", "EAN-13", 2)
    ys, xs = np.nonzero(sym < 128)
    sym = sym[ys.min() : ys.max() + 1, max(xs.min() - 3, 0) : xs.max() + 4]
    frame = cv2.GaussianBlur(cv2.resize(sym, (240, 200), interpolation=cv2.INTER_AREA), (0, 0), 1)
    rects = candidate_regions(frame)
    assert rects, "the code fills the frame and must be a candidate"
    (_, _), (w, h), _ = rects[0]
    assert max(w, h) > 0.9 * 240


def test_cli_narrows_symbologies_and_rejects_unknown_names(tmp_path, backgrounds, capsys) -> None:
    path = tmp_path / "itf.png"
    cv2.imwrite(str(path), frame_with("00012345678905", "ITF", backgrounds[2], 0, 7))
    assert main(["scan", "--json", "--symbologies", "ITF", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["reads"] == [
        {"format": "ITF", "text": "00012345678905"}
    ]
    assert main(["scan", "--json", "--symbologies", "QR", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["reads"] == []
    assert main(["scan", "--symbologies", "QR,Aztec", str(path)]) == 1
    assert "--symbologies" in capsys.readouterr().err


def test_nothing_is_read_on_pictures_without_a_code() -> None:
    still = Pipeline.from_config(CameraConfig(), live=False)
    live = Pipeline.from_config(CameraConfig(), live=True)
    for img in decoys.decoys(2, seed=21):
        assert still.decode(img).reads == []
        for _ in range(3):
            assert live.decode(img).reads == []
    for kind in decoys.KINDS:
        assert decoys.decoy(kind, np.random.default_rng(1)).shape == (480, 640, 3)
