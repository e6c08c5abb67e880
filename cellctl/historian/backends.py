"""Choosing the historian's backend from the site file or `--db`: SQLite by default,
PostgreSQL for a site that outgrows it."""

from __future__ import annotations

from pathlib import Path

from cellctl.historian.pg_store import PostgresStore
from cellctl.historian.sqlite_store import SqliteStore
from cellctl.historian.store import HistorianStore


def open_store(target: str | Path) -> HistorianStore:
    """A `postgresql://` (or `postgres://`) URL, or a SQLite file path."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresStore(text)
    return SqliteStore(text.removeprefix("sqlite:///").removeprefix("sqlite://"))
