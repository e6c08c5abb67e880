"""Template validation and rendering: errors name the template, the element and the problem."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from cellctl.labels.errors import TemplateError
from cellctl.labels.media import mm_to_dots
from cellctl.labels.render import render
from cellctl.labels.template import load_template, parse_template

ROOT = Path(__file__).resolve().parents[2]
BASE = {"name": "t", "media": "62", "length_mm": 30}


def _t(*elements: dict, **top):
    return parse_template({**BASE, **top, "elements": list(elements)}, "t", ROOT)


def _text(**kw):
    return {"type": "text", "x": 0, "y": 0, "width": 40, "height": 10, "text": "hi", **kw}


@pytest.mark.parametrize(
    ("template", "elements", "expected"),
    [
        (
            {"media": "63"},
            [_text()],
            "template t: media: unknown label media '63'; known: 12, 18, 29",
        ),
        ({"length_mm": None}, [_text()], "media 62 is endless: give length_mm"),
        ({"media": "62x29"}, [_text()], "media 62x29 is die-cut: its length is fixed"),
        (
            {},
            [_text(size=-3)],
            "template t: element 1 (text): size: Input should be greater than 0",
        ),
        (
            {},
            [{"type": "circle", "x": 0, "y": 0}],
            "element 1 (circle): Input tag 'circle' found using 'type' does not match",
        ),
        ({}, [_text(), _text(name="title", colour=1)], "element 2 (text 'title'): colour"),
        ({}, [_text(x=30)], "element 1 (text): reaches 70.0 x 10.0 mm, outside the printable"),
        (
            {},
            [{"type": "image", "x": 0, "y": 0, "width": 5, "height": 5, "path": "nope.png"}],
            "element 1 (image): image 'nope.png' not found",
        ),
        ({}, [_text(text="{unclosed")], "element 1 (text): bad field syntax"),
        ({}, [], "elements: List should have at least 1 item"),
    ],
)
def test_validation_errors_say_where_and_what(template, elements, expected):
    with pytest.raises(TemplateError) as exc:
        _t(*elements, **template)
    assert expected in str(exc.value)


def test_every_problem_is_listed_at_once():
    with pytest.raises(TemplateError) as exc:
        _t(_text(size=0), _text(align="middle"))
    assert len(exc.value.problems) == 2


def test_render_errors_name_the_element():
    t = _t(
        _text(text="{serial}"),
        {"type": "qr", "name": "unit", "x": 0, "y": 0, "size": 5, "data": "{serial}" * 10},
    )
    with pytest.raises(TemplateError, match=r"element 1 \(text\): field 'serial' not given"):
        render(t, {})
    with pytest.raises(TemplateError, match=r"element 2 \(qr 'unit'\): a QR code of \d+ modules"):
        render(t, {"serial": "ABCDEFGHIJ"})
    code = {"type": "code128", "x": 0, "y": 0, "width": 10, "height": 5, "data": "{serial}"}
    with pytest.raises(TemplateError, match="shorten the data"):
        render(_t(code), {"serial": "A-VERY-LONG-SERIAL-0001"})
    gs1 = {**code, "type": "gs1_128", "width": 55, "data": "{serial}"}
    with pytest.raises(TemplateError, match="not a valid GS1 element string"):
        render(_t(gs1), {"serial": "no parentheses"})
    with pytest.raises(TemplateError, match="Invalid GTIN check digit"):
        render(_t(gs1), {"serial": "(01)09501101530004(21)A1"})
    assert render(_t(gs1), {"serial": "(01)09501101530003(21)A1"}).codes[0].payload == (
        "0109501101530003" + "21A1"
    )


def test_dates_take_a_format_and_iso_text_works_too():
    t = _t(_text(text="{due:%d.%m.%Y}"))
    render(t, {"due": datetime(2026, 12, 1, tzinfo=UTC)})
    render(t, {"due": "2026-12-01"})
    with pytest.raises(TemplateError, match="not an ISO date"):
        render(t, {"due": "soon"})


def _ink_box(img):
    a = np.asarray(img) < 128
    ys, xs = np.nonzero(a)
    return xs.min(), ys.min(), xs.max(), ys.max()


def test_shrink_to_fit_keeps_long_text_inside_its_box():
    long = "Blue enamel mug with a very long product title that never fits " * 2
    fixed = render(_t(_text(text=long, size=14)), {}).image
    shrunk = render(_t(_text(text=long, size=14, shrink=True, wrap=True)), {}).image
    x0, y0, x1, y1 = _ink_box(shrunk)
    assert x1 < mm_to_dots(40) and y1 < mm_to_dots(10)
    assert (np.asarray(shrunk) < 128).sum() > 0
    # without shrink the text is clipped at the box edge, never drawn outside it
    assert _ink_box(fixed)[2] <= mm_to_dots(40)


def test_alignment_moves_the_text():
    left = _ink_box(render(_t(_text(text="X", align="left")), {}).image)[0]
    right = _ink_box(render(_t(_text(text="X", align="right")), {}).image)[0]
    centre = _ink_box(render(_t(_text(text="X", align="center")), {}).image)[0]
    assert left < centre < right


def test_a_broken_template_gives_a_message_not_a_traceback(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text('media = "62"\nlength_mm = 20\n[[elements]]\ntype = "qr"\nx = 0\ny = 0\n')
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cellctl",
            "label",
            "preview",
            str(bad),
            "-o",
            str(tmp_path / "o.png"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "template broken: element 1 (qr): data: Field required" in r.stderr
    assert "template broken: element 1 (qr): size: Field required" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "cellctl", "label", "check", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and "Field required" in r.stdout


def test_not_toml_is_named(tmp_path):
    bad = tmp_path / "x.toml"
    bad.write_text("media = ")
    with pytest.raises(TemplateError, match="x.toml is not valid TOML"):
        load_template(bad)


def test_white_text_on_a_filled_box():
    box = {"type": "box", "x": 0, "y": 0, "width": 40, "height": 10, "fill": True}
    black = np.asarray(render(_t(box), {}).image) < 128
    banner = np.asarray(render(_t(box, _text(text="HOLD", white=True, size=20)), {}).image) < 128
    assert black[: mm_to_dots(10), : mm_to_dots(40)].all()
    assert banner.sum() < black.sum(), "the white letters are cut out of the black box"
