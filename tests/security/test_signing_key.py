"""The kiosk refuses to start with a signing key other users can read, and says how to fix it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cellctl.errors import CliError
from cellctl.labels import keys
from cellctl.station.runtime import StationRuntime, open_station

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def keyed_site(demo_dir: Path) -> Path:
    """The demo site with a signing key; returns the key's path (created 0600)."""
    key, _pub = keys.generate(demo_dir / "keys" / "site.key")
    site = demo_dir / "site.toml"
    site.write_text('signing_key = "keys/site.key"\n' + site.read_text())
    return key


def test_owner_only_key_starts_and_signs(demo_dir: Path, keyed_site: Path) -> None:
    runtime = StationRuntime(open_station(demo_dir / "print-01.toml"), connect_broker=False)
    assert runtime.labels is not None and runtime.labels.signing_key is not None
    runtime.controller.store.close()


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o640, 0o660])
def test_key_open_to_others_refuses_start_with_the_fix(
    demo_dir: Path, keyed_site: Path, mode: int
) -> None:
    os.chmod(keyed_site, mode)
    controller = open_station(demo_dir / "print-01.toml")
    with pytest.raises(CliError) as err:
        StationRuntime(controller, connect_broker=False)
    message = str(err.value)
    assert "print-01 will not start" in message
    assert f"mode {mode:03o}" in message
    assert f"chmod 600 {keyed_site}" in message


def test_a_cell_without_a_printer_also_refuses_an_open_key(
    demo_dir: Path, keyed_site: Path
) -> None:
    os.chmod(keyed_site, 0o644)
    with pytest.raises(CliError, match="chmod 600"):
        StationRuntime(open_station(demo_dir / "qa-01.toml"), connect_broker=False)


def test_kiosk_command_exits_with_the_advice(demo_dir: Path, keyed_site: Path) -> None:
    """The real start-up path, in a process: no Textual screen, exit 1, the chmod line."""
    os.chmod(keyed_site, 0o644)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cellctl",
            "kiosk",
            "--station",
            str(demo_dir / "print-01.toml"),
            "--no-broker",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1, proc.stdout[-500:] + proc.stderr[-500:]
    assert f"run `chmod 600 {keyed_site}`" in proc.stderr
    assert "Traceback" not in proc.stderr

    os.chmod(keyed_site, 0o600)
    runtime = StationRuntime(open_station(demo_dir / "print-01.toml"), connect_broker=False)
    assert runtime.labels is not None
    runtime.controller.store.close()
