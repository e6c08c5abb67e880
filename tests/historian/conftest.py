from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cellctl.historian.backends import open_store
from cellctl.historian.store import HistorianStore


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests against both backends: a SQLite file, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "historian.db")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_url: str) -> Iterator[HistorianStore]:
    s = open_store(store_url)
    try:
        yield s
    finally:
        s.close()
