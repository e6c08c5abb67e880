"""Fixtures of the quality tests: event builders for the metrics, a demo site on disk."""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cellctl.config.inspection import TemplateBook, inspection_dir
from cellctl.config.load import load_station
from cellctl.domain import codes
from cellctl.domain.events import Event
from cellctl.station.controller import StationController
from cellctl.station.qa_flow import QAFlow
from cellctl.station.site_batches import site_batch_provider
from cellctl.store.station_store import StationStore


@pytest.fixture
def ev():
    """Build an Event at an explicit UTC time with a rising seq per cell."""
    seqs: dict[str, itertools.count] = {}

    def make(etype: str, cell: str, time: str, **payload) -> Event:
        seq = next(seqs.setdefault(cell, itertools.count(1)))
        return Event(type=etype, cell=cell, payload=payload, time=time, seq=seq)

    return make


# -- a demo site in a temporary folder, with real station stores -----------------------


DEMO = Path(__file__).resolve().parents[2] / "stations" / "demo"


@dataclass
class Site:
    root: Path
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    controllers: dict[str, StationController] = field(default_factory=dict)

    @property
    def site_path(self) -> Path:
        return self.root / "site.toml"

    def controller(self, cell: str) -> StationController:
        """The cell's controller on its real store file (opened once, kept)."""
        if cell not in self.controllers:
            loaded = load_station(self.root / f"{cell}.toml")
            store = StationStore(loaded.store_path(), loaded.id)
            self.controllers[cell] = StationController(loaded, store)
        return self.controllers[cell]

    def reopen(self, cell: str) -> StationController:
        """Close the cell's store and open it again, as after a restart."""
        self.controllers.pop(cell).store.close()
        return self.controller(cell)

    def make_batch(
        self, batch: str, sku: str, n: int, run_id: str = "R1", cell: str = "cut-01"
    ) -> list[str]:
        store = self.controller(cell).store
        return store.allocate_serials(
            n, scope=f"{run_id}-{batch}", sku=sku, batch=batch, run_id=run_id
        ).serials

    def unit_code(self, serial: str) -> str:
        return codes.encode_unit(serial, self.key)

    def qa_flow(self, seed: str = "seed-1", **kw) -> QAFlow:
        c = self.controller("qa-01")
        seeds = iter([seed, *(f"{seed}-{i}" for i in range(2, 100))])
        return QAFlow(
            c,
            TemplateBook(inspection_dir(self.site_path), c.site),
            site_batch_provider(self.site_path),
            public_key=self.key.public_key(),
            seed_factory=lambda: next(seeds),
            **kw,
        )

    def close(self) -> None:
        for c in self.controllers.values():
            c.store.close()


@pytest.fixture
def site(tmp_path: Path):
    """stations/demo copied to a temporary folder; stores under its var/."""
    root = tmp_path / "demo"
    shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("var"))
    s = Site(root)
    try:
        yield s
    finally:
        s.close()


def passing(flow: QAFlow) -> dict[str, bool | float]:
    """Answers that pass every item of the open lot's checklist (measures at nominal)."""
    assert flow.lot is not None
    return {
        i.id: (True if i.kind == "pass_fail" else float(i.nominal or 0))
        for i in flow.lot.template.checklist
    }
