"""Drawing a template with Pillow at the printer's true resolution (300 dpi).

Codes are drawn at a whole number of printer dots per module, so every module is
crisp after thresholding; text is antialiased here and thresholded when rastered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from cellctl.labels import fonts, symbols
from cellctl.labels.errors import LabelError, TemplateError
from cellctl.labels.fields import MissingField, fill
from cellctl.labels.media import DPI, dots_to_mm, mm_to_dots
from cellctl.labels.template import (
    BoxElement,
    Code128Element,
    DataMatrixElement,
    ImageElement,
    LineElement,
    QrElement,
    Template,
    TextElement,
    _element_label,
)


@dataclass(frozen=True, slots=True)
class PrintedCode:
    """A code drawn on a label and the exact text a scanner should return."""

    kind: str
    payload: str
    element: str


@dataclass(frozen=True, slots=True)
class Rendered:
    template: Template
    image: Image.Image
    """Greyscale ("L"), in reading orientation, printable area only."""
    codes: tuple[PrintedCode, ...]


def render(template: Template, values: Mapping[str, Any]) -> Rendered:
    """Draw one label; raise TemplateError naming the element and the problem."""
    w, h = template.size_dots
    img = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(img)
    codes: list[PrintedCode] = []
    for i, el in enumerate(template.elements):
        where = _element_label(i, el)
        try:
            code = _draw(img, draw, el, values, template.folder)
        except MissingField as exc:
            problem = f"{where}: field {exc.args[0]!r} not given"
            raise TemplateError(template.name, [problem]) from None
        except (LabelError, ValueError, OSError) as exc:
            raise TemplateError(template.name, [f"{where}: {exc}"]) from None
        if code is not None:
            codes.append(PrintedCode(code[0], code[1], el.name or where))
    return Rendered(template, img, tuple(codes))


def _draw(img, draw, el, values, folder: Path) -> tuple[str, str] | None:
    if isinstance(el, TextElement):
        _text(img, el, fill(el.text, values), folder)
    elif isinstance(el, QrElement):
        data = fill(el.data, values)
        _matrix(img, el, symbols.qr(data, el.error), "QR code")
        return "qr", data
    elif isinstance(el, DataMatrixElement):
        data = fill(el.data, values)
        _matrix(img, el, symbols.datamatrix(data), "DataMatrix")
        return "datamatrix", data
    elif isinstance(el, Code128Element):
        data = fill(el.data, values)
        if el.type == "gs1_128":
            bars, payload = symbols.gs1_128(data)
        else:
            bars, payload = symbols.code128(data), data
        _linear(img, el, bars)
        return el.type, payload
    elif isinstance(el, LineElement):
        draw.line(
            [(mm_to_dots(el.x1), mm_to_dots(el.y1)), (mm_to_dots(el.x2), mm_to_dots(el.y2))],
            fill=0,
            width=max(1, mm_to_dots(el.thickness)),
        )
    elif isinstance(el, BoxElement):
        x0, y0 = mm_to_dots(el.x), mm_to_dots(el.y)
        x1, y1 = x0 + mm_to_dots(el.width) - 1, y0 + mm_to_dots(el.height) - 1
        if el.fill:
            draw.rectangle([x0, y0, x1, y1], fill=0)
        else:
            draw.rectangle([x0, y0, x1, y1], outline=0, width=max(1, mm_to_dots(el.thickness)))
    elif isinstance(el, ImageElement):
        box = (mm_to_dots(el.width), mm_to_dots(el.height))
        pic = _picture(folder / el.path, box)
        x = mm_to_dots(el.x) + (box[0] - pic.width) // 2
        y = mm_to_dots(el.y) + (box[1] - pic.height) // 2
        img.paste(pic, (x, y))
    return None


def _paste_modules(img: Image.Image, modules: np.ndarray, x: int, y: int) -> None:
    img.paste(Image.fromarray(np.where(modules, 0, 255).astype(np.uint8), "L"), (x, y))


def _matrix(img: Image.Image, el: QrElement | DataMatrixElement, m: np.ndarray, what: str) -> None:
    box = mm_to_dots(el.size)
    n = max(m.shape) + 2 * el.quiet
    scale = box // n
    if scale < el.min_dots:
        need = dots_to_mm(n * el.min_dots)
        raise LabelError(
            f"a {what} of {m.shape[1]} modules (+{el.quiet} quiet each side) needs "
            f"{need:.1f} mm at {el.min_dots} dots per module; size is {el.size} mm"
        )
    scaled = np.pad(m.repeat(scale, 0).repeat(scale, 1), el.quiet * scale)
    off_x = (box - scaled.shape[1]) // 2
    off_y = (box - scaled.shape[0]) // 2
    _paste_modules(img, scaled, mm_to_dots(el.x) + off_x, mm_to_dots(el.y) + off_y)


def _linear(img: Image.Image, el: Code128Element, bars: np.ndarray) -> None:
    width, height = mm_to_dots(el.width), mm_to_dots(el.height)
    n = bars.size + 2 * el.quiet
    scale = width // n
    if scale < el.min_dots:
        need = dots_to_mm(n * el.min_dots)
        raise LabelError(
            f"{bars.size} modules (+{el.quiet} quiet each side) need {need:.1f} mm at "
            f"{el.min_dots} dots per module; width is {el.width} mm (shorten the data)"
        )
    row = np.pad(bars.repeat(scale), el.quiet * scale)
    block = np.broadcast_to(row, (height, row.size))
    _paste_modules(img, block, mm_to_dots(el.x) + (width - row.size) // 2, mm_to_dots(el.y))


@lru_cache(maxsize=32)
def _picture(path: Path, box: tuple[int, int]) -> Image.Image:
    with Image.open(path) as src:
        pic = src.convert("RGBA")
    bg = Image.new("RGBA", pic.size, (255, 255, 255, 255))
    pic = Image.alpha_composite(bg, pic).convert("L")
    pic.thumbnail(box, Image.Resampling.LANCZOS)
    return pic


def _pt_to_px(pt: float) -> int:
    return max(1, round(pt * DPI / 72))


def _wrap(text: str, font, width: int, wrap: bool) -> list[str]:
    lines: list[str] = []
    for para in text.split("\n"):
        if not wrap or font.getlength(para) <= width:
            lines.append(para)
            continue
        line = ""
        for word in para.split(" "):
            trial = f"{line} {word}" if line else word
            if font.getlength(trial) <= width or not line:
                line = trial
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def _fits(lines: list[str], font, width: int, height: int, line_h: int) -> bool:
    return len(lines) * line_h <= height and all(font.getlength(s) <= width for s in lines)


def _text(img: Image.Image, el: TextElement, text: str, folder: Path) -> None:
    width, height = mm_to_dots(el.width), mm_to_dots(el.height)
    size = el.size
    while True:
        font = fonts.load(el.font, el.bold, _pt_to_px(size), folder)
        ascent, descent = font.getmetrics()
        line_h = round((ascent + descent) * el.line_spacing)
        lines = _wrap(text, font, width, el.wrap)
        if not el.shrink or size <= el.min_size or _fits(lines, font, width, height, line_h):
            break
        size = max(el.min_size, size * 0.9)
    mask = Image.new("L", (width, height), 0)
    mdraw = ImageDraw.Draw(mask)
    total = len(lines) * line_h - (line_h - ascent - descent)
    top = {"top": 0, "middle": (height - total) // 2, "bottom": height - total}[el.valign]
    for n, line in enumerate(lines):
        lw = font.getlength(line)
        left = {"left": 0, "center": (width - lw) / 2, "right": width - lw}[el.align]
        mdraw.text((left, top + n * line_h), line, fill=255, font=font)
    img.paste(255 if el.white else 0, (mm_to_dots(el.x), mm_to_dots(el.y)), mask)
