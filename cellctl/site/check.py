"""`config check` on the central machine: every file of a site (its stations, their
machines, printers and label templates, the inspection templates) checked in one run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cellctl.config.inspection import TemplateBook, inspection_dir
from cellctl.config.models import MachineConfig, PrinterConfig, SiteConfig, StationConfig
from cellctl.config.toml_file import read_toml, validate, validate_part
from cellctl.errors import ConfigError
from cellctl.labels.service import check_printer
from stations.kinds import KINDS, check_driver


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
            data, text = read_toml(path)
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
            site = validate(SiteConfig, data, text, path)
        except ConfigError as exc:
            self._add(exc)
        stations = data.get("stations", [])
        for rel in stations if isinstance(stations, list) else []:
            if isinstance(rel, str):
                self.check(path.parent / rel)
        self.problems.extend(TemplateBook(inspection_dir(path), site).check_all())

    def _station(self, path: Path, data: dict[str, Any], text: str) -> None:
        try:
            validate(StationConfig, data, text, path)
        except ConfigError as exc:
            self._add(exc)
        section = data.get("station")
        section = section if isinstance(section, dict) else {}
        site = section.get("site", "site.toml")
        if isinstance(site, str):
            self.check(path.parent / site)
        # The sections that are well formed on their own get their deeper checks too.
        machine = validate_part(MachineConfig, data.get("machine", {}))
        kind = section.get("kind")
        if isinstance(kind, str) and kind not in KINDS:
            known = ", ".join(KINDS)
            self.problems.append(
                f"{path}: station.kind: {kind!r} is not a cell kind this cellctl knows ({known})"
            )
        if (
            machine is not None
            and isinstance(kind, str)
            and kind in KINDS
            and (reason := check_driver(kind, machine.driver))
        ):
            self.problems.append(f"{path}: machine.driver: {reason}")
        printer = _printer_part(data.get("printer"))
        if printer is not None:
            self.problems.extend(f"{path}: {p}" for p in check_printer(printer))


def _printer_part(data: Any) -> PrinterConfig | None:
    """The printer section for its model, media and template checks, even when another of
    its keys (say the backend) is broken."""
    if not isinstance(data, dict):
        return None
    printer = validate_part(PrinterConfig, data)
    if printer is not None:
        return printer
    fields = {k: data[k] for k in ("model", "media") if isinstance(data.get(k), str)}
    templates = data.get("templates", {})
    if isinstance(templates, dict) and all(isinstance(v, str) for v in templates.values()):
        fields["templates"] = templates
    return PrinterConfig.model_construct(**{**PrinterConfig(backend="file://x").__dict__, **fields})
