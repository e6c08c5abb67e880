"""Reading a TOML config file and turning every validation problem into a line a person
can act on (file, key path, line)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cellctl.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line of the last named key in loc, to point a person at it."""
    names = [p for p in loc if isinstance(p, str)]
    if not names:
        return None
    key = names[-1]
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(f"{key} ") or stripped.startswith(f"{key}="):
            return number
        if stripped in (f"[{key}]", f"[[{key}]]"):
            return number
    return None


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), ["file not found"]) from None
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL in the path
        raise ConfigError(str(path), [f"cannot read: {exc}"]) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None


def validate(model: type[M], data: dict[str, Any], text: str, path: Path) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = None if err["type"] == "missing" else _line_of(text, loc)
            where = _key_path(loc) + (f" (line {line})" if line else "")
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling)"
            elif err["type"] == "missing":
                msg = "required key is missing"
            elif err["type"] == "string_pattern_mismatch":
                msg = (
                    "expected an id of letters, digits, '-', '_' or '.' (no spaces), "
                    f"got {err['input']!r}"
                )
            elif "input" in err and err["type"] not in ("value_error",):
                msg = f"{msg}, got {err['input']!r}"
            problems.append(f"{where}: {msg.removeprefix('Value error, ')}")
        raise ConfigError(str(path), problems) from None


def validate_part(model: type[M], data: Any) -> M | None:
    """One section, validated alone; None when absent or broken (its problems are known)."""
    if not isinstance(data, dict):
        return None
    try:
        return model.model_validate(data)
    except ValidationError:
        return None
