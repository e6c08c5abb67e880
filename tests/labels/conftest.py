from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cellctl.domain.model import CellKind, Run
from cellctl.labels import keys
from cellctl.labels.printer_sim import QLPrinterSim
from cellctl.store.station_store import StationStore


@pytest.fixture
def key_pair(tmp_path: Path):
    private, public = keys.generate(tmp_path / "keys" / "site.key")
    return keys.load_private(private), keys.load_public(public), private, public


@pytest.fixture(scope="session")
def signing_key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def store(tmp_path: Path):
    s = StationStore(tmp_path / "print-01.db", "print-01", synchronous="NORMAL")
    yield s
    s.close()


@pytest.fixture
def limited_run() -> Run:
    return Run(
        id="R-2026-0042",
        sku="MUG-BLUE",
        title="Blue enamel mug, limited glaze series",
        quantity=5,
        unit_margin=4.0,
        due=datetime(2026, 12, 1, tzinfo=UTC),
        routing=(CellKind.PRINT,),
        edition_size=5,
        batch="B0042",
    )


@pytest.fixture
def sim():
    with QLPrinterSim(model_code=0x41) as s:
        yield s
