"""The Arduino reference sketch, built for the PC, driven by the real line driver over a pty."""

from __future__ import annotations

import os
import shutil
import subprocess
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_bridge import JobRefused, make_machine
from firmware_bridge.lineproto import frame
from firmware_bridge.machine import wait_for

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware_bridge" / "firmware"


@pytest.fixture(scope="module")
def press_binary(tmp_path_factory) -> Path:
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ is needed to build the sketch for the PC")
    out = tmp_path_factory.mktemp("fw") / "press"
    subprocess.run(
        [gxx, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-O1", "-I", str(FIRMWARE / "host"),
         "-x", "c++", str(FIRMWARE / "cellctl_line" / "cellctl_line.ino"),
         "-x", "c++", str(FIRMWARE / "host" / "host_main.cpp"), "-o", str(out)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return out


@pytest.fixture
def board(press_binary) -> Iterator[str]:
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    proc = subprocess.Popen([str(press_binary)], stdin=master, stdout=master)
    try:
        yield os.ttyname(slave)
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        os.close(master)
        os.close(slave)


async def test_reference_firmware_speaks_the_protocol(board) -> None:
    m = make_machine("line", board, reconnect=False)
    events = []
    m.subscribe(events.append)
    try:
        await m.connect()
        assert m.protocol == 1 and m.device == {
            "proto": "1", "dev": "heatpress", "fw": "1.0.0", "id": "HP-0001"
        }  # fmt: skip
        assert (await m.command("SET dwell=0.1"))[0] == "OK dwell=0.1 temp=180"
        await m.start_job(["START cycles=3"])
        assert (await m.wait_job(timeout=5)).outcome == "finished"
        assert await wait_for(lambda: m.state.count == 3, 5.0)
        assert [e.data["count"] for e in events if e.kind == "cycle_complete"] == [1, 2, 3]
        with pytest.raises(JobRefused, match="ERR 4"):
            await m.command("SET dwell=fast")
        with pytest.raises(JobRefused, match="ERR 3"):
            await m.command("JUMP")
        # A repeated sequence number is answered from the cache, not run again.
        await m.command("COUNT RESET")
        m.link.write(frame("900 START cycles=1") + frame("900 START cycles=1"))
        assert await wait_for(lambda: m.state.count == 1 and m.state.status == "Idle", 5.0)
        assert (await m.command("COUNT"))[0] == "OK count=1"
        # A damaged frame is refused with error 1.
        m.link.write(b"901 PING*00\n")
        assert await wait_for(
            lambda: any("0 ERR 1" in e.text for e in m.link.log if e.direction == "<"), 3.0
        )
    finally:
        await m.close()
