"""Finding a running demo from another terminal: its site copy and its broker, whose port
is chosen afresh at every start (the demo writes it to `broker.url` in its folder)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

BROKER_URL_FILE = "broker.url"


@dataclass(frozen=True)
class RunningDemo:
    site: Path
    broker: str


def demo_dir() -> Path:
    """The demo's folder: $CELLCTL_DEMO_DIR, else ./demo-run (as `cellctl demo` uses)."""
    return Path(os.environ.get("CELLCTL_DEMO_DIR", Path.cwd() / "demo-run"))


def find_running_demo(folder: Path | None = None) -> RunningDemo | None:
    """The demo running from `folder` (default `demo_dir()`), or None when none answers."""
    folder = folder or demo_dir()
    site = folder / "site" / "site.toml"
    try:
        url = (folder / BROKER_URL_FILE).read_text().strip()
    except OSError:
        return None
    parts = urlsplit(url)
    if not site.is_file() or parts.hostname is None or parts.port is None:
        return None
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=0.5):
            pass
    except OSError:
        return None  # a demo that stopped without tidying up (killed)
    return RunningDemo(site, url)
