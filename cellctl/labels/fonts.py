"""Font lookup: the template's assets, then the system's DejaVu, then Pillow's own font."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

_FAMILIES = {
    "sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    "condensed": ("DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf"),
    "mono": ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"),
    "serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
}
_SYSTEM_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
)


def families() -> list[str]:
    return list(_FAMILIES)


@lru_cache(maxsize=64)
def _resolve(font: str, bold: bool, folder: Path) -> Path | None:
    if font in _FAMILIES:
        name = _FAMILIES[font][1 if bold else 0]
        for d in (folder / "assets" / "fonts", folder / "assets", *_SYSTEM_DIRS):
            if (d / name).is_file():
                return d / name
        return None
    p = folder / font
    return p if p.is_file() else None


@lru_cache(maxsize=256)
def load(font: str, bold: bool, size_px: int, folder: Path) -> ImageFont.FreeTypeFont:
    """A font at a pixel size; `font` is a family (sans, condensed, mono, serif) or a file."""
    path = _resolve(font, bold, folder)
    if path is None:
        if font not in _FAMILIES:
            raise FileNotFoundError(
                f"font {font!r} is neither a family ({', '.join(_FAMILIES)}) nor a file in {folder}"
            )
        return ImageFont.load_default(size_px)  # type: ignore[return-value]  # a bitmap font serves as well here
    return ImageFont.truetype(str(path), size_px)
