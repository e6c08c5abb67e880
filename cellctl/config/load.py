"""Loading config files and turning every problem into a line a person can act on."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cellctl.config.models import SiteConfig, StationConfig
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


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
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


def _validate(model: type[M], data: dict[str, Any], text: str, path: Path) -> M:
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


def load_site(path: str | Path) -> SiteConfig:
    p = Path(path)
    data, text = _read_toml(p)
    return _validate(SiteConfig, data, text, p)


@dataclass(frozen=True)
class LoadedStation:
    path: Path
    config: StationConfig
    site_path: Path
    site: SiteConfig

    @property
    def id(self) -> str:
        return self.config.station.id

    def store_path(self) -> Path:
        if self.config.station.store is not None:
            store = self.config.station.store
            return store if store.is_absolute() else self.path.parent / store
        return self.path.parent / "var" / f"{self.id}.db"


def load_station(path: str | Path) -> LoadedStation:
    p = Path(path)
    data, text = _read_toml(p)
    station = _validate(StationConfig, data, text, p)
    site_path = (p.parent / station.station.site).resolve()
    site = load_site(site_path)
    return LoadedStation(p, station, site_path, site)


def kind_of(path: Path) -> str:
    data, _ = _read_toml(path)
    if "station" in data:
        return "station"
    if "site" in data:
        return "site"
    raise ConfigError(str(path), ["neither a [site] nor a [station] table: which file is this?"])


def check_paths(paths: list[str | Path]) -> list[str]:
    """Every problem in the given files (and the sites their stations name)."""
    problems: list[str] = []
    for raw in paths:
        path = Path(raw)
        try:
            kind = kind_of(path)
            if kind == "site":
                site = load_site(path)
                for rel in site.stations:
                    problems.extend(check_paths([path.parent / rel]))
                # The site's inspection templates (imported here: that module imports us).
                from cellctl.config.inspection import TemplateBook, inspection_dir

                problems.extend(TemplateBook(inspection_dir(path), site).check_all())
            else:
                loaded = load_station(path)
                from stations.kinds import check_driver

                reason = check_driver(loaded.config.station.kind, loaded.config.machine.driver)
                if reason:
                    problems.append(f"{path}: machine.driver: {reason}")
                if loaded.config.printer is not None:
                    from cellctl.labels.service import check_printer

                    problems.extend(f"{path}: {p}" for p in check_printer(loaded.config.printer))
        except ConfigError as exc:
            problems.extend(f"{exc.path}: {p}" for p in exc.problems)
    return problems
