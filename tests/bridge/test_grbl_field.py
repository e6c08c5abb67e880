"""What a first day against real GRBL 1.1h firmware found (issue 18), on the simulator."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import serial

from cellctl.commands.machine_run import final_status, stream
from firmware_bridge import JobError, JobLine, JobRefused, make_machine
from firmware_bridge.grbl_codes import GRBL_ALARMS, GRBL_ERRORS, grbl_error_message
from firmware_bridge.machine import wait_for
from firmware_bridge.sim import make_sim
from tests.bridge.conftest import cam_lines, connect

LONG_BY_SPACES = "G1" + " " * 130 + "X2"


def answers(m) -> int:  # noqa: ANN001
    """How many `ok` / `error:` replies the controller sent (the link's log)."""
    return sum(e.direction == "<" and (e.text == "ok" or e.text.startswith("error:"))
               for e in m.link.log)  # fmt: skip


async def run_stream(m, path, capsys) -> tuple[int, dict]:  # noqa: ANN001
    rc = await asyncio.wait_for(stream(m, str(path), as_json=True), 30)
    return rc, json.loads(capsys.readouterr().out)


# ---- a line long only by its spaces -------------------------------------------------


async def test_a_line_long_only_by_its_spaces_is_sent_without_them(tmp_path, capsys) -> None:
    lines = cam_lines(40)
    lines.insert(20, LONG_BY_SPACES)
    path = tmp_path / "job.nc"
    path.write_text("\n".join(lines) + "\n")
    m = make_machine("grbl", "sim://grbl?time_scale=0.01")
    sim = m.sim
    rc, out = await run_stream(m, path, capsys)
    assert rc == 0, out["reason"]
    assert out["lines_acknowledged"] == 41 and out["last_acknowledged_file_line"] == 41
    assert "G1X2" in sim.executed and sim.overflows == 0


async def test_a_line_that_can_never_fit_is_refused_with_its_file_line(machines) -> None:
    m, _ = await connect(machines, "grbl", {"time_scale": 0.0})
    too_long = [JobLine(1, "G21"), JobLine(7, "G1 X" + "1" * 130)]
    with pytest.raises(JobError, match="line 7: 133 characters not counting spaces, .*at most 79"):
        await asyncio.wait_for(m.start_job(too_long), 5)
    assert m.sim.executed == []


# ---- after an error line ----------------------------------------------------------------


async def test_an_error_mid_job_holds_the_machine_and_says_where_it_stopped(
    tmp_path, capsys
) -> None:
    lines = cam_lines(200, step=3.0)
    lines[60] = "G5 X1"  # unsupported: error:20, while the planner is full of moves
    path = tmp_path / "job.nc"
    path.write_text("\n".join(lines) + "\n")
    m = make_machine("grbl", "sim://grbl?time_scale=1.0")
    sim = m.sim
    rc, out = await run_stream(m, path, capsys)
    assert rc == 1 and out["outcome"] == "aborted"
    assert out["errors"][0]["line"] == 61 and out["errors"][0]["code"] == 20
    # The command ends with the machine standing still, and says so.
    assert out["final_status"].startswith("<Idle|"), out["final_status"]
    assert not sim.planner and sim.state == "Idle"
    assert "feed hold" in out["reason"] and "work position" in out["reason"]
    assert "Unsupported command" in out["errors"][0]["message"]
    assert not out["position_lost"] and not out["machine_position_lost"]
    # Every line the controller answered (ok or error) counts, the errored one too.
    n = answers(m)
    assert out["lines_acknowledged"] == n >= 61
    assert out["last_acknowledged_file_line"] == n


async def test_errored_lines_count_as_acknowledged_when_the_job_goes_on(machines) -> None:
    lines = cam_lines(20)
    lines[9] = "G5 X1"
    m, _ = await connect(machines, "grbl", {"time_scale": 0.0}, stop_on_error=False)
    await m.start_job(lines)
    result = await m.wait_job(timeout=10)
    assert result.outcome == "finished" and "with errors" in result.reason
    assert [e["line"] for e in result.errors] == [10]
    assert result.lines_acked == 20 and result.last_acked_line == 20


# ---- the cable pulled ------------------------------------------------------------------


async def test_cable_pulled_final_status_is_marked_stale(tmp_path, capsys) -> None:
    path = tmp_path / "job.nc"
    path.write_text("\n".join(cam_lines(3000)) + "\n")
    m = make_machine("grbl", "sim://grbl?time_scale=0.05")
    task = asyncio.ensure_future(stream(m, str(path), as_json=True))
    try:
        assert await wait_for(lambda: m.job is not None and m.job.acked >= 200, 15.0)
        assert m.state.status == "Run"
        m.sim.unplug()
        rc = await asyncio.wait_for(task, 30)
    finally:
        task.cancel()
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and "link lost" in out["reason"]
    assert out["final_status"].startswith("stale (link down"), out["final_status"]
    assert out["status_stale"] is True
    assert "<Run|" in out["final_status"]  # the old report, shown as such


async def test_reconnect_to_a_board_that_reset_is_position_lost(machines) -> None:
    m, events = await connect(machines, "grbl", {"time_scale": 0.05})
    await m.start_job(cam_lines(30))
    assert (await m.wait_job(timeout=10)).outcome == "finished"
    assert m.state.position != (0.0, 0.0, 0.0) and not m.state.position_lost
    m.sim.unplug()
    assert await wait_for(lambda: not m.link_up, 5.0)
    assert (await final_status(m)).startswith("stale (link down")
    m.sim.plug()
    assert await wait_for(lambda: m.link_up and m.state.status == "Idle", 10.0)
    # The board printed its banner again: it reset, its position counter restarted.
    assert m.state.position_lost
    assert m.state.position == (0.0, 0.0, 0.0) and not m.state.stale
    reset = [e for e in events if e.kind == "reset"]
    assert reset and reset[-1].data["expected"] is False and "reopened" in reset[-1].message
    with pytest.raises(JobRefused, match="position lost"):
        await m.start_job(cam_lines(5))
    await m.unlock()  # unlocking does not bring the position back...
    assert m.state.position_lost
    await m.set_zero()  # ...the operator confirming the work zero does
    assert not m.state.position_lost
    await m.start_job(cam_lines(5))
    assert (await m.wait_job(timeout=10)).outcome == "finished"


# ---- the simulator, faithful where a sender can tell -----------------------------------


def _read_until(port: serial.Serial, want: str, timeout: float = 3.0) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = port.readline().decode("ascii", "replace").strip()
        if line:
            got.append(line)
            if line.startswith(want):
                return got
    raise AssertionError(f"no {want!r} within {timeout} s: {got}")


def test_sim_prints_its_banner_after_the_reset_opening_the_port_causes() -> None:
    sim = make_sim("grbl", time_scale=0.0).start()
    try:
        with serial.Serial(sim.path, 115_200, timeout=0.1) as port:
            assert "Grbl 1.1h ['$' for help]" in _read_until(port, "Grbl")
            port.write(b"G1 X5 F3000\n")
            _read_until(port, "ok")
            port.write(b"?")
            assert _read_until(port, "<")[-1].startswith("<Idle|MPos:5.000,")
        with serial.Serial(sim.path, 115_200, timeout=0.1) as port:  # DTR resets the board
            _read_until(port, "Grbl")
            port.write(b"?")
            assert _read_until(port, "<")[-1].startswith("<Idle|MPos:0.000,0.000,0.000")
        assert sim.resets == 2
    finally:
        sim.stop()


def test_sim_takes_a_long_line_in_while_it_is_not_busy_and_holds_when_idle() -> None:
    sim = make_sim("grbl", time_scale=0.0).start()
    try:
        with serial.Serial(sim.path, 115_200, timeout=0.1) as port:
            _read_until(port, "Grbl")
            # GRBL's main loop empties the ring into its line buffer as bytes arrive,
            # dropping spaces: 135 bytes fit through a 127-byte ring when it is idle.
            port.write(b"G1 F3000\n" + LONG_BY_SPACES.encode() + b"\n")
            _read_until(port, "ok")
            assert _read_until(port, "ok")[-1] == "ok"
            assert sim.overflows == 0 and sim.executed[-1] == "G1X2"
            # A feed hold while idle holds (GRBL 1.1): a move sent now waits for `~`.
            port.write(b"!G1 X9\n")
            _read_until(port, "ok")
            port.write(b"?")
            assert _read_until(port, "<")[-1].startswith("<Hold:0|MPos:2.000,")
            port.write(b"~")
            port.write(b"?")
            deadline = time.monotonic() + 3
            while not _read_until(port, "<")[-1].startswith("<Idle|MPos:9.000,"):
                assert time.monotonic() < deadline
                port.write(b"?")
    finally:
        sim.stop()


# ---- codes and what the kiosk may offer ----------------------------------------------


def test_every_grbl_1_1_code_has_its_documented_name() -> None:
    assert sorted(GRBL_ERRORS) == [*range(1, 18), *range(20, 39)]
    assert sorted(GRBL_ALARMS) == list(range(1, 11))
    assert GRBL_ERRORS[5][0] == "Setting disabled" and GRBL_ALARMS[1][0] == "Hard limit"
    assert "homing is not enabled" in grbl_error_message(5)
    assert "unknown GRBL error 99" in grbl_error_message(99)


async def test_a_machine_without_homing_offers_no_home(machines) -> None:
    m, _ = await connect(machines, "grbl", {"time_scale": 0.0})
    assert await wait_for(lambda: m.homing is False, 3.0)  # it booted unlocked
    assert "home" not in m.actions() and "unlock" not in m.actions()
    assert {"start_job", "hold", "resume", "stop", "zero"} <= set(m.actions())
    with pytest.raises(JobRefused, match=r"error:5: homing is not enabled"):
        await m.home()


async def test_a_machine_with_homing_offers_home_and_unlock_when_locked(machines) -> None:
    m, _ = await connect(machines, "grbl", {"time_scale": 0.1, "homing": True})
    assert await wait_for(lambda: m.state.status == "Alarm", 5.0)
    assert m.homing is True and {"home", "unlock"} <= set(m.actions())
    await m.home()
    assert await wait_for(lambda: m.state.status == "Idle", 3.0)
    assert "unlock" not in m.actions() and "home" in m.actions()


async def test_console_lines_go_without_spaces_and_a_typed_zero_confirms_position(
    machines,
) -> None:
    m, _ = await connect(machines, "grbl", {"time_scale": 0.0})
    await m.command("G1 F3000")
    await asyncio.wait_for(m.command(LONG_BY_SPACES), 5)
    assert m.sim.executed[-1] == "G1X2" and m.sim.overflows == 0
    with pytest.raises(JobRefused, match="at most 79"):
        await m.command("G1 X" + "1" * 90)
    m.sim.inject_reset()  # the board resets by itself: its position count is gone
    assert await wait_for(lambda: m.state.position_lost, 3.0)
    await m.unlock()
    assert m.state.position_lost
    await m.command("G10 L20 P1 X0 Y0")  # not every axis: not a confirmed zero
    assert m.state.position_lost
    await m.command("G10 L20 P1 X0 Y0 Z0")
    assert not m.state.position_lost
