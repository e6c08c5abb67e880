"""Plain-text screen snapshots (pytest-textual-snapshot pins pytest below 9).

A screen with no stored snapshot fails like a changed one: a new screen must be read
by a person before it is trusted. Set CELLCTL_UPDATE_SNAPSHOTS=1 to (re)write the
stored screens after a deliberate change, then read them and the diff before
committing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from textual.app import App

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE_ENV = "CELLCTL_UPDATE_SNAPSHOTS"
_CLOCKISH = re.compile(r"\d{2}:\d{2}:\d{2}")


def screen_text(app: App) -> str:
    strips = app.screen._compositor.render_strips()
    lines = ["".join(seg.text for seg in strip).rstrip() for strip in strips]
    return _CLOCKISH.sub("hh:mm:ss", "\n".join(lines)) + "\n"


def compare_snapshot(text: str, name: str, folder: Path = SNAPSHOTS) -> None:
    """Assert `text` is the stored screen `name`; with CELLCTL_UPDATE_SNAPSHOTS=1,
    store it instead."""
    path = folder / f"{name}.txt"
    if os.environ.get(UPDATE_ENV) == "1":
        path.write_text(text)
        return
    assert path.exists(), (
        f"no stored screen {path}; run with {UPDATE_ENV}=1 to write it, then read it:\n{text}"
    )
    assert text == path.read_text(), f"screen differs from {path}:\n{text}"


def assert_snapshot(app: App, name: str) -> None:
    compare_snapshot(screen_text(app), name)
