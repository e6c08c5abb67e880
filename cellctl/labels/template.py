"""The label template format: one TOML file per template, elements placed in millimetres.

    name = "unit_serial"
    media = "29"            # a brother_ql label identifier: 62, 29x90, 62x29, 102, ...
    length_mm = 36          # endless media only: how long one label is
    orientation = "portrait"  # "landscape" turns the design 90 degrees on the tape

    [[elements]]
    type = "qr"             # text | qr | datamatrix | code128 | gs1_128 | line | box | image
    x = 0
    y = 0
    size = 25.9
    data = "{unit_code}"

Coordinates are millimetres from the top-left corner of the printable area, in the
orientation the label is read. Fields in `{...}` are filled from the run, batch and
unit; dates take a strftime format: `{due:%Y-%m-%d}`.
"""

from __future__ import annotations

import string
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cellctl.labels import media as media_mod
from cellctl.labels.errors import LabelError, TemplateError

Mm = Annotated[float, Field(ge=0, le=2000)]
PositiveMm = Annotated[float, Field(gt=0, le=2000)]


class _Element(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = ""
    x: Mm
    y: Mm


class _Boxed(_Element):
    width: PositiveMm
    height: PositiveMm


class TextElement(_Boxed):
    type: Literal["text"]
    text: str
    font: str = "sans"
    size: Annotated[float, Field(gt=0, le=200)] = 10.0
    """Points (1/72 inch)."""
    bold: bool = False
    align: Literal["left", "center", "right"] = "left"
    valign: Literal["top", "middle", "bottom"] = "top"
    wrap: bool = False
    shrink: bool = False
    """Reduce the size until the text fits its box (down to min_size)."""
    min_size: Annotated[float, Field(gt=0, le=200)] = 5.0
    line_spacing: Annotated[float, Field(ge=0.8, le=3)] = 1.15
    white: bool = False
    """White text, for a banner on a filled box drawn before it."""


class QrElement(_Element):
    type: Literal["qr"]
    data: str
    size: PositiveMm
    """The side of the square the code and its quiet zone must fit in."""
    error: Literal["L", "M", "Q", "H"] = "M"
    quiet: Annotated[int, Field(ge=1, le=4)] = 2
    min_dots: Annotated[int, Field(ge=1, le=20)] = 3
    """Fewest printer dots per module accepted; smaller codes do not scan reliably."""


class DataMatrixElement(_Element):
    type: Literal["datamatrix"]
    data: str
    size: PositiveMm
    quiet: Annotated[int, Field(ge=1, le=4)] = 2
    min_dots: Annotated[int, Field(ge=1, le=20)] = 3


class Code128Element(_Boxed):
    type: Literal["code128", "gs1_128"]
    data: str
    """For gs1_128: a GS1 element string in the human form, e.g. (01)09501101530003(21){serial}."""
    quiet: Annotated[int, Field(ge=5, le=20)] = 10
    min_dots: Annotated[int, Field(ge=1, le=10)] = 2


class LineElement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["line"]
    name: str = ""
    x1: Mm
    y1: Mm
    x2: Mm
    y2: Mm
    thickness: PositiveMm = 0.3


class BoxElement(_Boxed):
    type: Literal["box"]
    thickness: PositiveMm = 0.3
    fill: bool = False


class ImageElement(_Boxed):
    type: Literal["image"]
    path: str
    """Relative to the template's folder (assets/... for shipped templates)."""


Element = Annotated[
    TextElement
    | QrElement
    | DataMatrixElement
    | Code128Element
    | LineElement
    | BoxElement
    | ImageElement,
    Field(discriminator="type"),
]


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    media: str
    length_mm: PositiveMm | None = None
    orientation: Literal["portrait", "landscape"] = "portrait"
    elements: list[Element] = Field(min_length=1)
    folder: Path = Path(".")

    @field_validator("media")
    @classmethod
    def _known_media(cls, v: str) -> str:
        try:
            media_mod.media(v)
        except LabelError as exc:
            raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _media_and_length(self) -> Template:
        m = media_mod.media(self.media)
        if m.endless and self.length_mm is None:
            raise ValueError(f"media {self.media} is endless: give length_mm")
        if not m.endless and self.length_mm is not None:
            raise ValueError(f"media {self.media} is die-cut: its length is fixed, drop length_mm")
        if m.two_colour:
            raise ValueError(f"media {self.media} is two-colour; templates print black only")
        return self

    @property
    def media_spec(self) -> media_mod.Media:
        return media_mod.media(self.media)

    @property
    def size_dots(self) -> tuple[int, int]:
        """Width and height in dots of the design, in reading orientation."""
        m = self.media_spec
        across = m.printable[0]
        along = mm_dots(self.length_mm) if self.length_mm is not None else m.printable[1]
        return (along, across) if self.orientation == "landscape" else (across, along)

    @property
    def size_mm(self) -> tuple[float, float]:
        w, h = self.size_dots
        return media_mod.dots_to_mm(w), media_mod.dots_to_mm(h)

    def fields(self) -> set[str]:
        """Every field name the template uses."""
        names: set[str] = set()
        for el in self.elements:
            for text in _texts(el):
                names |= field_names(text)
        return names


def mm_dots(mm: float) -> int:
    return media_mod.mm_to_dots(mm)


def _texts(el: object) -> list[str]:
    return [getattr(el, a) for a in ("text", "data") if isinstance(getattr(el, a, None), str)]


def field_names(text: str) -> set[str]:
    try:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}
    except ValueError:
        return set()


def _describe(template: dict, loc: tuple) -> str:
    if len(loc) >= 2 and loc[0] == "elements" and isinstance(loc[1], int):
        idx = loc[1]
        raw = template.get("elements", [])
        el = raw[idx] if isinstance(raw, list) and idx < len(raw) else {}
        kind = el.get("type", "?") if isinstance(el, dict) else "?"
        name = el.get("name") if isinstance(el, dict) else None
        where = f"element {idx + 1} ({kind}{' ' + repr(name) if name else ''})"
        rest = [str(p) for p in loc[2:] if p != kind]
        return where + (": " + ".".join(rest) if rest else "")
    return ".".join(str(p) for p in loc)


def _element_label(idx: int, el: object) -> str:
    name = getattr(el, "name", "")
    kind = getattr(el, "type", "?")
    return f"element {idx + 1} ({kind}{' ' + repr(name) if name else ''})"


def _check_layout(t: Template) -> list[str]:
    problems: list[str] = []
    w_mm, h_mm = t.size_mm
    tol = 0.3
    for i, el in enumerate(t.elements):
        where = _element_label(i, el)
        for text in _texts(el):
            try:
                list(string.Formatter().parse(text))
            except ValueError as exc:
                problems.append(f"{where}: bad field syntax in {text!r}: {exc}")
        if isinstance(el, LineElement):
            xs, ys = (el.x1, el.x2), (el.y1, el.y2)
        elif isinstance(el, (QrElement, DataMatrixElement)):
            xs, ys = (el.x, el.x + el.size), (el.y, el.y + el.size)
        else:
            xs, ys = (el.x, el.x + el.width), (el.y, el.y + el.height)
        if max(xs) > w_mm + tol or max(ys) > h_mm + tol:
            problems.append(
                f"{where}: reaches {max(xs):.1f} x {max(ys):.1f} mm, outside the printable "
                f"area of {w_mm:.1f} x {h_mm:.1f} mm on {t.media_spec.description}"
            )
        if isinstance(el, ImageElement) and not (t.folder / el.path).is_file():
            problems.append(f"{where}: image {el.path!r} not found in {t.folder}")
    return problems


def parse_template(data: dict, name: str, folder: Path) -> Template:
    """Validate a template dict; raise TemplateError listing every problem."""
    try:
        t = Template.model_validate({**data, "folder": folder})
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            where = _describe(data, tuple(e["loc"]))
            msg = e["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {msg}" if where else msg)
        raise TemplateError(data.get("name") or name, problems) from None
    problems = _check_layout(t)
    if problems:
        raise TemplateError(t.name, problems)
    return t


def load_template(path: str | Path) -> Template:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateError(path.stem, [f"no template file {path}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TemplateError(path.stem, [f"{path.name} is not valid TOML: {exc}"]) from None
    data.setdefault("name", path.stem)
    return parse_template(data, path.stem, path.parent)


def shipped_dir() -> Path:
    import label_templates

    return Path(label_templates.__file__).resolve().parent


def template_paths(folder: str | Path | None = None) -> list[Path]:
    return sorted(Path(folder or shipped_dir()).glob("*.toml"))


def find_template(name_or_path: str, folder: str | Path | None = None) -> Template:
    """A template by name (in `folder`, default the shipped ones) or by file path."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.is_file():
        return load_template(p)
    candidate = Path(folder or shipped_dir()) / f"{name_or_path}.toml"
    if not candidate.is_file():
        known = ", ".join(x.stem for x in template_paths(folder))
        raise LabelError(f"no template {name_or_path!r} in {candidate.parent}; known: {known}")
    return load_template(candidate)
