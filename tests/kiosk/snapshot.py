"""Plain-text screen snapshots (pytest-textual-snapshot pins pytest below 9).

Set CELLCTL_UPDATE_SNAPSHOTS=1 to rewrite the stored screens after a deliberate
change, then read the diff before committing it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from textual.app import App

SNAPSHOTS = Path(__file__).parent / "snapshots"
_CLOCKISH = re.compile(r"\d{2}:\d{2}:\d{2}")


def screen_text(app: App) -> str:
    strips = app.screen._compositor.render_strips()
    lines = ["".join(seg.text for seg in strip).rstrip() for strip in strips]
    return _CLOCKISH.sub("hh:mm:ss", "\n".join(lines)) + "\n"


def assert_snapshot(app: App, name: str) -> None:
    text = screen_text(app)
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("CELLCTL_UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(text)
    assert text == path.read_text(), f"screen differs from {path}:\n{text}"
