"""brother_ql raster for QL-500 ... QL-1100: N labels as one job, and reading a job back."""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from PIL import Image

from cellctl.labels.errors import LabelError
from cellctl.labels.media import Media, check_pair, model_spec

Cut = Literal["each", "end", "none"]
THRESHOLD = 128
_INK_LUT = [255 if v < THRESHOLD else 0 for v in range(256)]


def to_device_image(img: Image.Image, model: str, m: Media, landscape: bool) -> Image.Image:
    """Turn a rendered label into the full device row width, ink as 1 bits."""
    from brother_ql.raster import BrotherQLRaster

    if landscape:
        img = img.transpose(Image.Transpose.ROTATE_90)
    across = m.printable[0]
    if img.width != across:
        raise LabelError(f"the label is {img.width} dots across; {m.description} prints {across}")
    if not m.endless and img.height != m.printable[1]:
        raise LabelError(
            f"the label is {img.height} dots long; {m.description} is {m.printable[1]} dots"
        )
    spec = model_spec(model)
    lo, hi = spec.min_max_length_dots
    if not lo <= img.height <= hi:
        raise LabelError(
            f"a {model} prints labels {lo}-{hi} dots long (at 300 dpi); this one is {img.height}"
        )
    device_width = BrotherQLRaster(model).get_pixel_width()
    ink = img.convert("L").point(_INK_LUT, "1")
    page = Image.new("1", (device_width, img.height), 0)
    page.paste(ink, (device_width - across - m.offset_r - spec.additional_offset_r, 0))
    return page


def build_job(
    pages: Sequence[Image.Image],
    model: str,
    media_id: str,
    *,
    landscape: bool = False,
    cut: Cut = "end",
    compress: bool = True,
) -> bytes:
    """One print job with every page; `cut` each label, only after the last, or never."""
    from brother_ql.exceptions import BrotherQLUnsupportedCmd
    from brother_ql.raster import BrotherQLRaster

    if not pages:
        raise LabelError("a print job needs at least one label")
    m = check_pair(model, media_id)
    qlr = BrotherQLRaster(model)
    qlr.exception_on_warning = True

    def optional(fn, *args) -> None:
        with contextlib.suppress(BrotherQLUnsupportedCmd):
            fn(*args)

    optional(qlr.add_switch_mode)
    qlr.add_invalidate()
    qlr.add_initialize()
    optional(qlr.add_switch_mode)
    last = len(pages) - 1
    for i, page in enumerate(pages):
        dev = to_device_image(page, model, m, landscape)
        qlr.add_status_information()
        qlr.mtype = 0x0A if m.endless else 0x0B
        qlr.mwidth = m.tape_mm[0]
        qlr.mlength = 0 if m.endless else m.tape_mm[1]
        qlr.pquality = True
        qlr.page_number = i
        qlr.add_media_and_quality(dev.height)
        if cut != "none":
            optional(qlr.add_autocut, True)
            optional(qlr.add_cut_every, 1 if cut == "each" else min(len(pages), 255))
        else:
            optional(qlr.add_autocut, False)
        qlr.cut_at_end = cut != "none"
        qlr.dpi_600 = False
        qlr.two_color_printing = False
        optional(qlr.add_expanded_mode)
        qlr.add_margins(m.feed_margin)
        if compress:
            optional(qlr.add_compression, True)
        _add_rows(qlr, dev)
        qlr.add_print(last_page=i == last)
    return qlr.data


def _add_rows(qlr, dev: Image.Image) -> None:
    """Raster rows (mirrored, as the head sees them); brother_ql's own loop, without
    its per-call conversions, since this is the hot path of a batch."""
    import packbits

    data = dev.transpose(Image.Transpose.FLIP_LEFT_RIGHT).tobytes()
    row_len = dev.width // 8
    out = io.BytesIO()
    compress = qlr._compression
    blank = bytes(row_len)
    packed_blank = packbits.encode(blank) if compress else blank
    for start in range(0, len(data), row_len):
        row = data[start : start + row_len]
        if compress:
            row = packed_blank if row == blank else packbits.encode(row)
        out.write(b"\x67\x00")
        out.write(bytes([len(row)]))
        out.write(row)
    qlr.data += out.getvalue()


def read_back(job: bytes, workdir: str | Path | None = None) -> list[Image.Image]:
    """Every page of a job as brother_ql's own reader sees it (full device row width)."""
    from brother_ql.reader import BrotherQLReader

    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory())
        folder = Path(workdir)
        reader = BrotherQLReader(io.BufferedReader(io.BytesIO(job)))
        # The reader saves each page into the cwd by default; keep it in our folder.
        reader.filename_fmt = str(folder / "page{counter:04d}.png")
        with contextlib.redirect_stdout(io.StringIO()):
            reader.analyse()
        # The reader keeps the rows of earlier pages of a job in each later page:
        # cut every page back to its own rows.
        pages: list[Image.Image] = []
        seen = 0
        for n in range(1, reader.page_counter):
            with Image.open(folder / f"page{n:04d}.png") as im:
                pages.append(im.crop((0, seen, im.width, im.height)))
                seen = im.height
        return pages
