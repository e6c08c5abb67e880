"""Loading config files and turning every problem into a line a person can act on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cellctl.config.models import SiteConfig, StationConfig
from cellctl.config.toml_file import read_toml, validate
from cellctl.errors import ConfigError


def load_site(path: str | Path) -> SiteConfig:
    p = Path(path)
    data, text = read_toml(p)
    return validate(SiteConfig, data, text, p)


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
    data, text = read_toml(p)
    station = validate(StationConfig, data, text, p)
    site_path = (p.parent / station.station.site).resolve()
    site = load_site(site_path)
    return LoadedStation(p, station, site_path, site)


def kind_of(path: Path) -> str:
    data, _ = read_toml(path)
    if "station" in data:
        return "station"
    if "site" in data:
        return "site"
    raise ConfigError(str(path), ["neither a [site] nor a [station] table: which file is this?"])
