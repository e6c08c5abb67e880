"""Printer models and label media, as brother_ql knows them, at the printer's true resolution."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from cellctl.labels.errors import LabelError

DPI = 300


def mm_to_dots(mm: float) -> int:
    return round(mm * DPI / 25.4)


def dots_to_mm(dots: int) -> float:
    return dots * 25.4 / DPI


@dataclass(frozen=True, slots=True)
class Media:
    identifier: str
    endless: bool
    tape_mm: tuple[int, int]
    printable: tuple[int, int]
    """Printable dots across the tape and (die-cut only) along it."""
    offset_r: int
    feed_margin: int
    models: tuple[str, ...]
    """Models restricted to; empty means every model."""
    two_colour: bool

    def works_with(self, model: str) -> bool:
        return not self.models or model in self.models

    @property
    def description(self) -> str:
        if self.endless:
            return f"{self.tape_mm[0]} mm endless ({self.identifier})"
        return f"{self.tape_mm[0]} x {self.tape_mm[1]} mm die-cut ({self.identifier})"


@lru_cache(maxsize=1)
def _labels() -> dict[str, Media]:
    from brother_ql.labels import FormFactor, LabelsManager

    out: dict[str, Media] = {}
    for label in LabelsManager().iter_elements():
        out[label.identifier] = Media(
            identifier=label.identifier,
            endless=label.form_factor == FormFactor.ENDLESS,
            tape_mm=tuple(label.tape_size),
            printable=tuple(label.dots_printable),
            offset_r=label.offset_r,
            feed_margin=label.feed_margin,
            models=tuple(label.restricted_to_models or ()),
            two_colour=bool(label.color),
        )
    return out


@lru_cache(maxsize=1)
def _models() -> dict[str, object]:
    from brother_ql.models import ModelsManager

    return {m.identifier: m for m in ModelsManager().iter_elements()}


def media(identifier: str) -> Media:
    try:
        return _labels()[identifier]
    except KeyError:
        known = ", ".join(_labels())
        raise LabelError(f"unknown label media {identifier!r}; known: {known}") from None


def media_by_size(width_mm: int, length_mm: int) -> Media | None:
    for m in _labels().values():
        if m.tape_mm == (width_mm, length_mm) and not m.two_colour:
            return m
    return None


def check_model(model: str) -> str:
    if model not in _models():
        known = ", ".join(_models())
        raise LabelError(f"unknown printer model {model!r}; known: {known}")
    return model


def model_spec(model: str):  # -> brother_ql.models.Model
    check_model(model)
    return _models()[model]


def check_pair(model: str, media_id: str) -> Media:
    m = media(media_id)
    check_model(model)
    if not m.works_with(model):
        raise LabelError(
            f"{m.description} labels do not fit a {model}; they need one of {', '.join(m.models)}"
        )
    return m


def all_models() -> list[str]:
    return list(_models())
