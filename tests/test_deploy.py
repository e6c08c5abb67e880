"""deploy/systemd: every service unit passes `systemd-analyze verify` (in a scratch root
holding the system's own units, a stub cellctl and agetty), restarts on failure, runs as
the cellctl user and reads its paths from the EnvironmentFile."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "systemd"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")
UNITS = sorted(p.name for p in DEPLOY.glob("*.service"))
# What verify loads: templates need an instance.
TO_VERIFY = [u.replace("@.", "@cut-01.") for u in UNITS] + ["getty@tty1.service"]


def _skip_reason() -> str | None:
    if shutil.which("systemd-analyze") is None:
        return "systemd-analyze is not installed (apt-get install systemd)"
    if not (SYSTEM_UNITS / "sysinit.target").exists():
        return f"no system units in {SYSTEM_UNITS} to verify against"
    return None


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    r = tmp_path_factory.mktemp("root")
    shutil.copytree(SYSTEM_UNITS, r / "usr/lib/systemd/system", symlinks=True)
    etc = r / "etc/systemd/system"
    shutil.copytree(DEPLOY, etc, ignore=shutil.ignore_patterns("*.env", "*.profile"))
    # verify checks that ExecStart's binaries exist and are executable: stubs stand in.
    for binary in ("opt/cellctl/bin/cellctl", "sbin/agetty", "usr/sbin/agetty"):
        stub = r / binary
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    return r


def _verify(root: Path, unit: str) -> tuple[int, list[str]]:
    done = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", "--man=no", unit],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Warnings (an unknown setting "ignored") do not change the exit code: any line about
    # our files counts as a failure too.
    ours = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if "cellctl" in line or "tty1" in line or "autologin" in line
    ]
    return done.returncode, ours


@pytest.mark.parametrize("unit", TO_VERIFY)
def test_units_verify(root: Path, unit: str) -> None:
    code, ours = _verify(root, unit)
    assert (code, ours) == (0, [])


def test_verify_catches_a_broken_unit(root: Path) -> None:
    good = (DEPLOY / "cellctl-board.service").read_text()
    (root / "etc/systemd/system/cellctl-broken.service").write_text(
        good.replace("Restart=on-failure", "Restart=sometimes")
    )
    code, ours = _verify(root, "cellctl-broken.service")
    assert any("restart specifier" in line for line in ours), ours
    (root / "opt/cellctl/bin/cellctl").unlink()
    try:
        code, ours = _verify(root, "cellctl-board.service")
        assert code != 0 and any("not executable" in line for line in ours)
    finally:
        (root / "opt/cellctl/bin/cellctl").write_text("#!/bin/sh\nexit 0\n")
        (root / "opt/cellctl/bin/cellctl").chmod(0o755)


def test_every_service_restarts_as_cellctl_with_its_environment_file() -> None:
    assert {"cellctl-scheduler.service", "cellctl-historian.service",
            "cellctl-board.service", "cellctl-station@.service"} <= set(UNITS)  # fmt: skip
    for unit in UNITS:
        lines = (DEPLOY / unit).read_text().splitlines()
        for want in (
            "Restart=on-failure",
            "User=cellctl",
            "EnvironmentFile=/etc/cellctl/cellctl.env",
        ):
            assert want in lines, f"{unit}: no {want}"
    board = (DEPLOY / "cellctl-board.service").read_text()
    assert "cellctl board --web" in board
    assert (
        "cellctl station --headless --station" in (DEPLOY / "cellctl-station@.service").read_text()
    )


def test_the_console_kiosk() -> None:
    override = (DEPLOY / "getty@tty1.service.d" / "autologin.conf").read_text()
    assert "--autologin cellctl" in override
    profile = DEPLOY / "cellctl-kiosk.profile"
    assert 'cellctl kiosk --station "$CELLCTL_STATION"' in profile.read_text()
    bash = shutil.which("bash")
    if bash:
        assert subprocess.run([bash, "-n", str(profile)], check=False).returncode == 0
    env = (DEPLOY / "cellctl.env").read_text()
    for name in ("CELLCTL_SITE", "CELLCTL_STATION", "CELLCTL_STATIONS_DIR"):
        assert f"\n{name}=" in env
