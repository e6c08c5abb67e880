"""Tracing a serial or a batch across every station store of a site."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellctl.config.load import load_site, load_station
from cellctl.domain.events import Event
from cellctl.domain.trace import TraceError, batch_units
from cellctl.domain.trace import trace as trace_events
from cellctl.store.db import StoreError
from cellctl.store.reader import read_events

__all__ = ["SiteEvents", "TraceError", "load_site_events", "site_batch_provider", "trace_site"]


@dataclass
class SiteEvents:
    """The events of every station store of a site, and what the site says of its cells."""

    events: list[Event] = field(default_factory=list)
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    operators: dict[str, str] = field(default_factory=dict)
    stores: dict[str, Path] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def load_site_events(site_path: str | Path, types: tuple[str, ...] = ()) -> SiteEvents:
    """Read every station's store (only `types` when given); a station without a store
    yet is noted, not fatal."""
    site_path = Path(site_path)
    site = load_site(site_path)
    out = SiteEvents(operators={o.badge: o.name for o in site.operators})
    for rel in site.stations:
        loaded = load_station(site_path.parent / rel)
        cfg = loaded.config
        machine = (
            None if cfg.machine.driver == "none" else f"{cfg.machine.driver} {cfg.machine.port}"
        )
        out.cells[loaded.id] = {
            "kind": cfg.station.kind.value,
            "name": cfg.station.name,
            "machine": machine,
        }
        path = loaded.store_path()
        out.stores[loaded.id] = path
        try:
            out.events.extend(read_events(path, types))
        except StoreError as exc:
            out.missing.append(str(exc))
    return out


def trace_site(site_path: str | Path, query: str) -> dict[str, Any]:
    """The genealogy of `query` (serial, batch, or a scanned CU:/CB: code) across the site."""
    se = load_site_events(site_path)
    result = trace_events(se.events, query, cells=se.cells, operators=se.operators)
    result["stores_read"] = sorted(c for c, p in se.stores.items() if p.is_file())
    result["stores_missing"] = se.missing
    return result


def site_batch_provider(site_path: str | Path):
    """A QA-flow batch provider reading the serials from every store of the site
    (one machine running the whole demo; a real site asks the scheduler instead)."""
    from cellctl.services.qa_flow import BatchLot

    def provide(batch: str) -> BatchLot | None:
        events = load_site_events(site_path, ("serials_allocated",)).events
        found = batch_units(events, batch)
        if found is None:
            return None
        return BatchLot(batch, found.sku or "", tuple(found.serials), found.run_id)

    return provide
