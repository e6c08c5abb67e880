"""GRBL streaming through a real pseudo-terminal to the paced simulator."""

from __future__ import annotations

import pytest

from firmware_bridge import JobRefused
from firmware_bridge.machine import wait_for
from tests.bridge.conftest import cam_lines, connect, final_xy
from tests.bridge.linelog import Mark


async def test_5000_line_job_streams_to_completion_at_the_right_position(machines) -> None:
    lines = cam_lines(5000)
    m, events = await connect(machines, "grbl", {"time_scale": 0.01}, baud=460_800)
    job = await m.start_job(lines, name="square")
    result = await m.wait_job(timeout=30)
    sim = m.sim
    assert result.outcome == "finished", result.reason
    assert result.lines_acked == 5000 and job.bytes_acked == job.bytes_total
    assert sim.executed == [ln.replace(" ", "").upper() for ln in lines]
    x, y = final_xy(lines)
    assert m.state.position == pytest.approx((x, y, 0.0), abs=1e-3)
    assert sim.overflows == 0
    assert m.max_inflight_bytes <= 127
    kinds = [e.kind for e in events]
    assert kinds.count("job_finished") == 1 and "progress" in kinds
    last = [e for e in events if e.kind == "progress"][-1]
    assert last.data["lines_acked"] == 5000 and last.data["fraction"] == 1.0


async def test_receive_buffer_never_overflows_while_the_planner_is_full(machines) -> None:
    # Slow motion: the planner fills, lines pile up in the 127-byte ring, and
    # character counting must keep exactly within it.
    lines = cam_lines(250, step=2.0)
    m, _ = await connect(machines, "grbl", {"time_scale": 0.2})
    await m.start_job(lines)
    result = await m.wait_job(timeout=30)
    assert result.outcome == "finished", result.reason
    assert m.sim.overflows == 0
    # The ring really was kept nearly full (the line being planned has left it already).
    assert m.sim.max_rx_used > 127 - 2 * max(len(x) + 1 for x in lines)
    assert m.sim.executed == [ln.replace(" ", "").upper() for ln in lines]


async def test_the_simulator_really_corrupts_input_on_overflow(machines) -> None:
    # Proof the simulator is not lenient: a sender that ignores the ring size loses bytes.
    m, _ = await connect(machines, "grbl", {"time_scale": 1.0})
    m.link.write(b"G4 P0.5\n" + b"".join(f"G1 X{i}.123 F3000\n".encode() for i in range(20)))
    assert await wait_for(lambda: m.sim.overflows > 0, 3.0)
    assert await wait_for(lambda: m.state.status == "Idle" and len(m.sim.executed) > 1, 3.0)
    assert 1 < len(m.sim.executed) < 21  # lines silently lost, as on the real board


async def test_send_response_mode_streams_one_line_at_a_time(machines) -> None:
    lines = cam_lines(120)
    m, _ = await connect(machines, "grbl", {"time_scale": 0.0}, mode="send_response")
    await m.start_job(lines)
    result = await m.wait_job(timeout=30)
    assert result.outcome == "finished"
    assert m.max_inflight_bytes <= max(len(x) + 1 for x in lines)


async def test_settings_writes_go_alone_so_no_byte_is_lost_to_eeprom(machines) -> None:
    lines = cam_lines(100)
    lines[50:50] = ["$110=9000", "G10 L20 P1 X0 Y0"]
    m, _ = await connect(machines, "grbl", {"time_scale": 0.0})
    await m.start_job(lines)
    result = await m.wait_job(timeout=30)
    assert result.outcome == "finished", result.reason
    assert m.sim.bytes_lost_eeprom == 0
    assert m.sim.settings[110] == 9000
    assert len(m.sim.executed) == len(lines)


async def test_feed_hold_and_resume(machines) -> None:
    lines = cam_lines(150, step=3.0)
    m, events = await connect(machines, "grbl", {"time_scale": 0.3})
    await m.start_job(lines)
    assert await wait_for(lambda: m.state.status == "Run", 3.0)
    await m.hold()
    assert await wait_for(lambda: m.state.status == "Hold" and m.state.detail == "0", 3.0)
    held_at = m.state.position
    acked = m.job.acked
    # The machine stands still: three fresh status reports all show the same place.
    quiet = Mark(m.link)
    assert await quiet.status_round_trips(3), quiet.received()
    places = {r.split("|")[1] for r in quiet.status_reports()}  # "MPos:x,y,z"
    assert len(places) == 1, places
    assert m.state.position == held_at and m.state.status == "Hold"
    assert m.job.active and m.job.acked <= acked + 15  # at most the planner fills up
    await m.resume()
    result = await m.wait_job(timeout=30)
    assert result.outcome == "finished", result.reason
    assert m.sim.executed == [ln.replace(" ", "").upper() for ln in lines]
    x, y = final_xy(lines)
    assert m.state.position == pytest.approx((x, y, 0.0), abs=1e-3)
    assert any(e.kind == "state" and e.data["status"] == "Hold" for e in events)


async def test_stop_cancels_the_job_and_keeps_position(machines) -> None:
    lines = cam_lines(300, step=3.0)
    m, _ = await connect(machines, "grbl", {"time_scale": 0.3})
    await m.start_job(lines)
    assert await wait_for(lambda: m.job.acked > 30, 5.0)
    await m.stop()
    result = await m.wait_job(timeout=5)
    assert result.outcome == "stopped"
    assert m.state.alarm is None and not m.state.position_lost
    executed = list(m.sim.executed)
    # Nothing more was sent: the reset controller answers status polls, and the link's
    # log shows nothing but those polls went out (its ring was emptied by the reset, so
    # a line sent now would run).
    quiet = Mark(m.link)
    assert await quiet.status_round_trips(2), quiet.received()
    quiet.assert_only_status_polls_sent()
    assert m.sim.executed == executed
    await m.start_job(cam_lines(10))  # and the machine takes the next job
    assert (await m.wait_job(timeout=10)).outcome == "finished"


async def test_settings_and_messages_are_parsed(machines) -> None:
    m, _ = await connect(machines, "grbl", {"time_scale": 0.0})
    settings = await m.read_settings()
    assert settings[110] == 10000.0 and settings[22] == 0
    assert (await m.command("$G"))[0].startswith("[GC:G0 G54 G17 G21 G90")
    with pytest.raises(JobRefused, match="error:22: no feed rate"):
        await m.command("G1 X5")


async def test_homing_only_on_explicit_action(machines) -> None:
    m, events = await connect(machines, "grbl", {"time_scale": 0.1, "homing": True})
    # A homing machine starts locked (its first status report may trail the banner)...
    assert await wait_for(lambda: m.state.status == "Alarm", 5.0), m.state.status
    # ...and the bridge does not home or unlock it by itself: two more status round
    # trips, and since the port opened nothing but status polls was ever written.
    assert await Mark(m.link).status_round_trips(2)
    Mark(m.link, from_start=True).assert_only_status_polls_sent()
    assert m.sim.state == "Alarm"
    with pytest.raises(JobRefused, match="alarm"):
        await m.start_job(cam_lines(5))
    await m.home()
    assert await wait_for(lambda: m.state.status == "Idle", 3.0)
    assert m.state.position == (0.0, 0.0, 0.0)
