"""Filling `{field}` and `{date:%Y-%m-%d}` placeholders from the run, batch and unit."""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any


class MissingField(KeyError):
    """A placeholder names a field that was not given."""


class _Formatter(string.Formatter):
    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, int) or key not in kwargs or kwargs[key] is None:
            raise MissingField(str(key))
        return kwargs[key]

    def format_field(self, value: Any, format_spec: str) -> str:
        if "%" in format_spec and isinstance(value, str):
            value = _as_date(value)
        return super().format_field(value, format_spec)


def _as_date(text: str) -> date | datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date, so a date format cannot apply") from None


_FORMATTER = _Formatter()


def fill(text: str, values: Mapping[str, Any]) -> str:
    """Fill placeholders; raise MissingField or ValueError with the reason."""
    return _FORMATTER.vformat(text, (), values)
