from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cellctl.config.load import LoadedStation, load_station
from cellctl.station.controller import StationController
from cellctl.store.station_store import StationStore

DEMO = Path(__file__).resolve().parents[2] / "stations" / "demo"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("var"))
    return target


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_controller(demo_dir: Path, station: str, clock: FakeClock) -> StationController:
    loaded: LoadedStation = load_station(demo_dir / f"{station}.toml")
    store = StationStore(loaded.store_path(), loaded.id)
    return StationController(loaded, store, clock=clock)


@pytest.fixture
def cut(demo_dir: Path, clock: FakeClock) -> StationController:
    return make_controller(demo_dir, "cut-01", clock)


def assignment(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "run_id": "R-100",
        "step": 0,
        "kind": "cut",
        "sku": "MUG-ENAMEL",
        "title": "Enamel mug, fox",
        "quantity": 60,
        "due": "2026-11-23T14:00:00Z",
        "batch": "B-100",
        "instructions": "# Cut\nUse the 3 mm birch sheet.",
        "next_kind": "print",
    }
    base.update(over)
    return base
