from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "stations" / "demo"


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    """A private copy of the demo site (stores and keys land inside it)."""
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("var"))
    return target
