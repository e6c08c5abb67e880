"""Inspection templates: one TOML file per SKU under the site's `inspection/` folder.

[inspection]
sku = "MUG-ENAMEL"      # must match the file name
level = "II"            # ISO 2859-1 inspection level
aql = "1.0"             # AQL column
count = "items"         # or "nonconformities" (AQL per 100 units)

[[checklist]]
id = "height"
text = "Height over the rim"
kind = "measure"        # or "pass_fail"
nominal = 95.0
tol_minus = 0.5
tol_plus = 0.5
unit = "mm"
defect = "DIM"          # the catalogue code a failure of this item means (optional)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from cellctl.config.models import Ident, SiteConfig, _Strict
from cellctl.config.toml_file import read_toml, validate
from cellctl.domain.aql_tables import SamplingError, parse_aql, parse_level
from cellctl.errors import ConfigError


class InspectionInfo(_Strict):
    sku: Ident
    level: str = "II"
    aql: str
    count: Literal["items", "nonconformities"] = "items"
    title: str = ""

    @field_validator("level")
    @classmethod
    def _level(cls, v: str) -> str:
        try:
            return parse_level(v)
        except SamplingError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("aql", mode="before")
    @classmethod
    def _aql(cls, v: object) -> str:
        # A TOML float (1.0) and a string ("1.0") name the same column.
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise ValueError(f'expected an AQL such as "1.0" or "2.5", got {v!r}')
        try:
            return parse_aql(v)
        except SamplingError as exc:
            raise ValueError(str(exc)) from None


class ChecklistItem(_Strict):
    id: Ident
    text: str = Field(min_length=1)
    kind: Literal["pass_fail", "measure"]
    nominal: float | None = None
    tol_minus: float | None = Field(default=None, ge=0)
    tol_plus: float | None = Field(default=None, ge=0)
    unit: str = ""
    defect: Ident | None = None

    @model_validator(mode="after")
    def _measure_fields(self) -> ChecklistItem:
        limits = (self.nominal, self.tol_minus, self.tol_plus)
        if self.kind == "measure":
            missing = [
                k
                for k, v in zip(("nominal", "tol_minus", "tol_plus"), limits, strict=True)
                if v is None
            ]
            if missing:
                raise ValueError(f"a measure item needs {', '.join(missing)}")
            if not all(math.isfinite(v) for v in limits if v is not None):
                raise ValueError("nominal and tolerances must be finite numbers")
        elif any(v is not None for v in limits):
            raise ValueError("a pass_fail item takes no nominal or tolerances")
        return self

    @property
    def lower(self) -> float:
        assert self.nominal is not None and self.tol_minus is not None
        return self.nominal - self.tol_minus

    @property
    def upper(self) -> float:
        assert self.nominal is not None and self.tol_plus is not None
        return self.nominal + self.tol_plus

    def in_tolerance(self, value: float) -> bool:
        """Limits are inclusive: a part exactly at nominal - tol_minus conforms."""
        return math.isfinite(value) and self.lower <= value <= self.upper

    @property
    def spec(self) -> str:
        if self.kind == "pass_fail":
            return "pass/fail"
        return f"{self.nominal:g} -{self.tol_minus:g}/+{self.tol_plus:g} {self.unit}".rstrip()


class InspectionTemplate(_Strict):
    inspection: InspectionInfo
    checklist: list[ChecklistItem] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> InspectionTemplate:
        seen: set[str] = set()
        for item in self.checklist:
            if item.id in seen:
                raise ValueError(f"checklist id {item.id!r} appears twice")
            seen.add(item.id)
        return self

    @property
    def sku(self) -> str:
        return self.inspection.sku

    def item(self, item_id: str) -> ChecklistItem | None:
        return next((i for i in self.checklist if i.id == item_id), None)


def load_template(path: str | Path, site: SiteConfig | None = None) -> InspectionTemplate:
    """Load one template; with a site, its defect codes are checked against the catalogue."""
    p = Path(path)
    data, text = read_toml(p)
    template = validate(InspectionTemplate, data, text, p)
    problems = []
    if template.sku != p.stem:
        problems.append(
            f"inspection.sku: {template.sku!r} does not match the file name {p.name!r} "
            f"(name the file {template.sku}.toml)"
        )
    if site is not None and site.defects:
        for i, item in enumerate(template.checklist):
            if item.defect is not None and site.defect(item.defect) is None:
                problems.append(
                    f"checklist[{i}].defect: {item.defect!r} is not in the site's defect catalogue"
                )
    if problems:
        raise ConfigError(str(p), problems)
    return template


def inspection_dir(site_path: str | Path) -> Path:
    return Path(site_path).parent / "inspection"


class TemplateBook:
    """The templates of one site folder, loaded on first use and kept."""

    def __init__(self, folder: str | Path, site: SiteConfig | None = None) -> None:
        self.folder = Path(folder)
        self.site = site
        self._cache: dict[str, InspectionTemplate] = {}

    def get(self, sku: str) -> InspectionTemplate:
        """The SKU's template; ConfigError (naming the file) when missing or broken."""
        if sku not in self._cache:
            path = self.folder / f"{sku}.toml"
            if not path.is_file():
                raise ConfigError(
                    str(path), [f"no inspection template for SKU {sku!r}: create this file"]
                )
            self._cache[sku] = load_template(path, self.site)
        return self._cache[sku]

    def skus(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.toml"))

    def check_all(self) -> list[str]:
        """Every problem of every template in the folder, one line each."""
        problems: list[str] = []
        for sku in self.skus():
            try:
                self._cache.pop(sku, None)
                self.get(sku)
            except ConfigError as exc:
                problems.extend(f"{exc.path}: {p}" for p in exc.problems)
        return problems
