"""Tracing a serial or a batch across every station store of a site."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellctl.config.load import load_site, load_station
from cellctl.domain.events import Event
from cellctl.domain.trace import TraceError
from cellctl.domain.trace import trace as trace_events
from cellctl.store.db import StoreError
from cellctl.store.reader import read_events

__all__ = [
    "SiteEvents",
    "TraceError",
    "describe_site",
    "load_site_events",
    "trace_site",
    "trace_stores",
]


@dataclass
class SiteEvents:
    """The events of every station store of a site, and what the site says of its cells."""

    events: list[Event] = field(default_factory=list)
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    operators: dict[str, str] = field(default_factory=dict)
    stores: dict[str, Path] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def describe_site(site_path: str | Path, *, skip_absent: bool = False) -> SiteEvents:
    """What the site file says of its cells and operators, and where their stores are
    (nothing read yet); with `skip_absent`, a station file not on this machine is left out."""
    site_path = Path(site_path)
    site = load_site(site_path)
    out = SiteEvents(operators={o.badge: o.name for o in site.operators})
    for rel in site.stations:
        if skip_absent and not (site_path.parent / rel).is_file():
            continue
        loaded = load_station(site_path.parent / rel)
        cfg = loaded.config
        machine = (
            None if cfg.machine.driver == "none" else f"{cfg.machine.driver} {cfg.machine.port}"
        )
        out.cells[loaded.id] = {
            "kind": cfg.station.kind,
            "name": cfg.station.name,
            "machine": machine,
        }
        out.stores[loaded.id] = loaded.store_path()
    return out


def load_site_events(site_path: str | Path, types: tuple[str, ...] = ()) -> SiteEvents:
    """Read every station's store (only `types` when given); a station without a store
    yet is noted, not fatal."""
    out = describe_site(site_path)
    _read_stores(out, types)
    return out


def _read_stores(out: SiteEvents, types: tuple[str, ...] = ()) -> None:
    for path in out.stores.values():
        try:
            out.events.extend(read_events(path, types))
        except StoreError as exc:
            out.missing.append(str(exc))


def trace_site(site_path: str | Path, query: str) -> dict[str, Any]:
    """The genealogy of `query` (serial, batch, or a scanned CU:/CB: code) across the site."""
    se = load_site_events(site_path)
    result = trace_events(se.events, query, cells=se.cells, operators=se.operators)
    result["stores_read"] = sorted(c for c, p in se.stores.items() if p.is_file())
    result["stores_missing"] = se.missing
    return result


def trace_stores(
    stores: list[str | Path], query: str, *, site_path: str | Path | None = None
) -> dict[str, Any]:
    """The genealogy of `query` from these station store files only (forensics on one
    machine); the site file, when given, names the cells, machines and operators."""
    se = describe_site(site_path, skip_absent=True) if site_path else SiteEvents()
    se.stores = {str(p): Path(p) for p in stores}
    _read_stores(se)
    result = trace_events(se.events, query, cells=se.cells, operators=se.operators)
    result["stores_read"] = sorted({e.cell for e in se.events})
    result["stores_missing"] = se.missing
    return result
