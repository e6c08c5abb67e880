"""Loading config files and turning every problem into a line a person can act on."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cellctl.config.models import MachineConfig, PrinterConfig, SiteConfig, StationConfig
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
    """Every problem of every given file (and of the sites and stations they name), in one
    run: a broken station still has its site, machine and printer checked."""
    checker = _Checker()
    for raw in paths:
        checker.check(Path(raw))
    return list(dict.fromkeys(checker.problems))  # a site named twice: its problems once


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.seen: set[Path] = set()

    def _add(self, exc: ConfigError) -> None:
        self.problems.extend(f"{exc.path}: {p}" for p in exc.problems)

    def check(self, path: Path) -> None:
        try:
            key = path.resolve()
        except (OSError, ValueError):  # ValueError: a NUL in the path (read says so below)
            key = path
        if key in self.seen:
            return
        self.seen.add(key)
        try:
            data, text = _read_toml(path)
        except ConfigError as exc:
            self._add(exc)
            return
        if "station" in data:
            self._station(path, data, text)
        elif "site" in data:
            self._site(path, data, text)
        else:
            self.problems.append(
                f"{path}: neither a [site] nor a [station] table: which file is this?"
            )

    def _site(self, path: Path, data: dict[str, Any], text: str) -> None:
        site: SiteConfig | None = None
        try:
            site = _validate(SiteConfig, data, text, path)
        except ConfigError as exc:
            self._add(exc)
        stations = data.get("stations", [])
        for rel in stations if isinstance(stations, list) else []:
            if isinstance(rel, str):
                self.check(path.parent / rel)
        # The site's inspection templates (imported here: that module imports us).
        from cellctl.config.inspection import TemplateBook, inspection_dir

        self.problems.extend(TemplateBook(inspection_dir(path), site).check_all())

    def _station(self, path: Path, data: dict[str, Any], text: str) -> None:
        try:
            _validate(StationConfig, data, text, path)
        except ConfigError as exc:
            self._add(exc)
        section = data.get("station")
        section = section if isinstance(section, dict) else {}
        site = section.get("site", "site.toml")
        if isinstance(site, str):
            self.check(path.parent / site)
        # The sections that are well formed on their own get their deeper checks too.
        machine = _part(MachineConfig, data.get("machine", {}))
        kind = section.get("kind")
        if machine is not None and isinstance(kind, str):
            from stations.kinds import KINDS, check_driver

            if kind in KINDS and (reason := check_driver(kind, machine.driver)):
                self.problems.append(f"{path}: machine.driver: {reason}")
        printer = _printer_part(data.get("printer"))
        if printer is not None:
            from cellctl.labels.service import check_printer

            self.problems.extend(f"{path}: {p}" for p in check_printer(printer))


def _printer_part(data: Any) -> PrinterConfig | None:
    """The printer section for its model, media and template checks, even when another of
    its keys (say the backend) is broken."""
    if not isinstance(data, dict):
        return None
    printer = _part(PrinterConfig, data)
    if printer is not None:
        return printer
    fields = {k: data[k] for k in ("model", "media") if isinstance(data.get(k), str)}
    templates = data.get("templates", {})
    if isinstance(templates, dict) and all(isinstance(v, str) for v in templates.values()):
        fields["templates"] = templates
    return PrinterConfig.model_construct(**{**PrinterConfig(backend="file://x").__dict__, **fields})


def _part(model: type[M], data: Any) -> M | None:
    """One section, validated alone; None when absent or broken (its problems are known)."""
    if not isinstance(data, dict):
        return None
    try:
        return model.model_validate(data)
    except ValidationError:
        return None
