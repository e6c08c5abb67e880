"""The QA cell's batch lookup when one machine runs the whole site (the demo, forensics):
the serials of a batch read from every station store the site file names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cellctl.domain.trace import batch_units
from cellctl.site.trace import load_site_events
from cellctl.station.qa_flow import BatchLot


def site_batch_provider(site_path: str | Path) -> Callable[[str], BatchLot | None]:
    """A QA-flow batch provider reading the serials from every store of the site
    (one machine running the whole demo; a real site asks the scheduler instead)."""

    def provide(batch: str) -> BatchLot | None:
        events = load_site_events(site_path, ("serials_allocated",)).events
        found = batch_units(events, batch)
        if found is None:
            return None
        return BatchLot(batch, found.sku or "", tuple(found.serials), found.run_id)

    return provide
