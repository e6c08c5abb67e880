"""The scanner's state on the kiosk's status line says each thing once."""

from __future__ import annotations

import pytest

from cellctl.station.runtime import scanner_words


@pytest.mark.parametrize(
    ("state", "detail", "shown"),
    [
        ("live", "generated live", "live (generated)"),  # was "live: generated live"
        ("live", "/dev/video0 live", "live (/dev/video0)"),
        ("reconnecting", "0 dropped; reconnecting", "reconnecting (0 dropped)"),
        ("connecting", "opening 0", "connecting (opening 0)"),
        ("ready", "", "ready"),
    ],
)
def test_scanner_state_words(state: str, detail: str, shown: str) -> None:
    assert scanner_words(state, detail) == shown
