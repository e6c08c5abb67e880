"""Faults mid-job: nothing lost, nothing run twice, nothing sent on its own afterwards."""

from __future__ import annotations

import asyncio

import pytest

from firmware_bridge import JobError, JobRefused
from firmware_bridge.machine import wait_for
from tests.bridge.conftest import cam_lines, connect
from tests.bridge.linelog import Mark, last_entry


def squeeze(lines: list[str]) -> list[str]:
    return [ln.replace(" ", "").upper() for ln in lines]


async def test_alarm_mid_job_aborts_and_reports_the_acknowledged_lines(machines) -> None:
    lines = cam_lines(600)
    m, events = await connect(machines, "grbl", {"time_scale": 0.05, "alarm_after_lines": 250})
    await m.start_job(lines)
    result = await m.wait_job(timeout=20)
    assert result.outcome == "aborted"
    assert "hard limit" in result.reason and result.alarms[0]["code"] == 1
    assert result.lines_acked == 250 and result.last_acked_line == 250
    assert m.sim.executed == squeeze(lines[:250])
    alarm = next(e for e in events if e.kind == "alarm")
    assert alarm.data["code"] == 1 and "home it again" in alarm.message
    # Nothing is sent on its own: two status round trips after the alarm prove the
    # link and the bridge are alive, and the link's log shows no line went out.
    quiet = Mark(m.link, after=last_entry(m.link, "<", "ALARM:1"))
    assert await quiet.status_round_trips(2), quiet.received()
    quiet.assert_only_status_polls_sent()
    assert all(r.startswith("<Alarm") for r in quiet.status_reports())
    assert len(m.sim.executed) == 250
    # A new job is refused with the reason.
    with pytest.raises(JobRefused, match="alarm 1"):
        await m.start_job(cam_lines(5))
    # Only the operator's explicit unlock clears it.
    await m.unlock()
    assert await wait_for(lambda: m.state.status == "Idle", 3.0)
    await m.start_job(cam_lines(5))
    assert (await m.wait_job(timeout=10)).outcome == "finished"


async def test_cable_pulled_mid_job_then_reconnect_sends_nothing(machines) -> None:
    lines = cam_lines(3000)
    m, events = await connect(machines, "grbl", {"time_scale": 0.05})
    sim = m.sim
    await m.start_job(lines)
    assert await wait_for(lambda: m.job.acked >= 300, 10.0)
    sim.unplug()
    result = await m.wait_job(timeout=5)
    assert result.outcome == "aborted" and "link lost" in result.reason
    executed = list(sim.executed)
    # Every acknowledged line ran exactly once, in order; no line ran twice.
    assert executed == squeeze(lines[: len(executed)])
    assert result.lines_acked <= len(executed)
    assert result.last_acked_line == result.lines_acked
    assert f"acknowledged {result.lines_acked} of 3000" in result.reason
    assert any(e.kind == "link_down" for e in events)
    sim.plug()
    assert await wait_for(lambda: m.link_up and m.state.status != "Offline", 10.0)
    assert any(e.kind == "link_up" for e in events[1:])
    # No resume, no queued lines after reconnect: the controller answers status polls
    # on the new connection, and nothing but those polls has been written to it.
    quiet = Mark(m.link, after=last_entry(m.link, "!", "link up"))
    assert await quiet.status_round_trips(2), quiet.received()
    quiet.assert_only_status_polls_sent()
    assert sim.executed == executed


async def test_controller_reset_mid_job_aborts_and_marks_position_lost(machines) -> None:
    lines = cam_lines(1000)
    m, events = await connect(machines, "grbl", {"time_scale": 0.3})
    await m.start_job(lines)
    assert await wait_for(lambda: m.job.acked >= 50, 10.0)
    m.sim.inject_reset()
    result = await m.wait_job(timeout=5)
    assert result.outcome == "aborted" and result.position_lost
    assert "reset" in result.reason
    assert m.state.position_lost
    assert await wait_for(
        lambda: any(e.kind == "reset" and e.data["expected"] is False for e in events), 2.0
    )
    with pytest.raises(JobRefused):
        await m.start_job(cam_lines(5))


async def test_a_lost_ok_is_found_from_status_reports_not_waited_on(machines) -> None:
    lines = cam_lines(200)
    m, _ = await connect(machines, "grbl", {"time_scale": 0.0, "lose_ok": {120}}, drift_grace=0.5)
    await m.start_job(lines)
    result = await m.wait_job(timeout=10)
    assert result.outcome == "aborted"
    assert "drifted" in result.reason


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("G1 X1 Y2 " + "Z0.000000 " * 12, "line 4: .*at most 79"),
        ("G1 X1 ? Y2", "line 4: character '\\?'"),
        ("G1 X1\tY2", "line 4: character"),
    ],
)
async def test_malformed_line_is_rejected_before_streaming(machines, tmp_path, bad, match) -> None:
    path = tmp_path / "job.nc"
    path.write_text("G21\nG90\n(comment)\n" + bad + "\nG1 X2 Y2\n")
    m, _ = await connect(machines, "grbl", {"time_scale": 0.0})
    with pytest.raises(JobError, match=match):
        await m.start_job(path)
    assert m.sim.executed == [] and m.job is None


async def test_non_ascii_job_file_is_rejected_with_the_line(machines, tmp_path) -> None:
    path = tmp_path / "job.nc"
    path.write_bytes(b"G21\nG1 X1 F100\nG1 X\xc3\xa9\n")
    m, _ = await connect(machines, "grbl", {"time_scale": 0.0})
    with pytest.raises(JobError, match="line 3"):
        await m.start_job(path)


async def test_qc_hold_interlock_refuses_with_its_reason(machines) -> None:
    held = {"B-0042": "batch B-0042 is on QC hold"}
    m, _ = await connect(
        machines, "grbl", {"time_scale": 0.0}, interlock=lambda: held.get("B-0042")
    )
    with pytest.raises(JobRefused, match="QC hold"):
        await m.start_job(cam_lines(5))
    assert m.sim.executed == []
    held.clear()

    async def door_open() -> str | None:
        return "guard door open"

    with pytest.raises(JobRefused, match="guard door"):
        await m.start_job(cam_lines(5), interlock=door_open)
    await m.start_job(cam_lines(5))
    assert (await m.wait_job(timeout=10)).outcome == "finished"


async def test_marlin_with_one_percent_noise_runs_every_line_exactly_once(machines) -> None:
    lines = cam_lines(500)
    m, _ = await connect(
        machines, "marlin",
        {"time_scale": 0.0, "noise": 0.01, "seed": 11, "busy_interval": 0.2},
        uncertain_timeout=0.3, timeout=1.0,
    )  # fmt: skip
    await m.start_job(lines)
    result = await m.wait_job(timeout=60)
    assert result.outcome == "finished", result.reason
    sim = m.sim
    assert sim.corrupted_in > 0 and sim.corrupted_out > 0  # the noise really happened
    numbered = [(n, text) for n, text in sim.executed if n is not None]
    job_part = [t for n, t in numbered if n > numbered[-1][0] - len(lines)]
    assert job_part == lines  # none lost, none twice, in order
    first = numbered[0][0]  # N0 is the greeting's M110 (absent if noise ate it: harmless)
    assert [n for n, _ in numbered] == list(range(first, first + len(numbered)))
    assert m.resends >= sim.errors_sent > 0


async def test_marlin_resend_storm_stops_the_job_with_a_clear_message(machines) -> None:
    lines = cam_lines(200)
    m, _ = await connect(
        machines, "marlin", {"time_scale": 0.0, "noise": 0.0}, max_resends=3, timeout=1.0
    )
    m.sim.noise_in = 1.0  # every line damaged from now on: a broken cable
    await m.start_job(lines)
    result = await m.wait_job(timeout=10)
    assert result.outcome == "aborted"
    assert "re-sent 3 times in a row" in result.reason and "cable" in result.reason
    assert [t for n, t in m.sim.executed if n is not None and n > 1] == []


async def test_marlin_long_commands_with_busy_are_not_a_hang(machines) -> None:
    m, _ = await connect(machines, "marlin", {"time_scale": 0.5, "busy_interval": 0.2}, timeout=0.5)
    await m.start_job(["G28", "M109 S40", "G4 S1", "G1 X10 F3000"])
    result = await m.wait_job(timeout=20)
    assert result.outcome == "finished", result.reason
    assert m.timeouts == 0 and m.resends == 0
    assert m.state.temperatures["T"][0] >= 39.5


async def test_marlin_emergency_stop_halts_and_sends_nothing_more(machines) -> None:
    lines = cam_lines(2000)
    # Short answer timeouts, so a driver that wrongly re-sends the line that was in
    # flight would do it well inside the window below.
    m, events = await connect(
        machines, "marlin", {"time_scale": 0.0}, timeout=0.3, uncertain_timeout=0.2
    )
    await m.start_job(lines)
    assert await wait_for(lambda: m.job.acked >= 20, 10.0)
    await m.emergency_stop()
    result = await m.wait_job(timeout=5)
    assert result.outcome == "aborted" and "halted" in result.reason
    assert await wait_for(lambda: m.sim.halted, 2.0)
    count = len(m.sim.executed)
    received = m.sim.bytes_received
    quiet = Mark(m.link, after=last_entry(m.link, ">", "M112"))
    # A halted printer answers nothing, so no round trip can prove time has passed:
    # this window is the chance for a wrong driver to send (over 3 answer timeouts).
    await asyncio.sleep(1.0)
    assert quiet.sent() == []  # the bridge sent nothing after the emergency stop
    assert quiet.bytes_since() == 0
    assert m.sim.bytes_received == received
    assert len(m.sim.executed) == count
    assert any(e.kind == "alarm" for e in events)
    with pytest.raises(JobRefused):
        await m.start_job(cam_lines(3))


async def test_marlin_cable_pulled_reports_acknowledged_lines(machines) -> None:
    lines = cam_lines(2000)
    m, _ = await connect(machines, "marlin", {"time_scale": 0.0})
    await m.start_job(lines)
    assert await wait_for(lambda: m.job.acked >= 50, 10.0)
    m.sim.unplug()
    result = await m.wait_job(timeout=5)
    assert result.outcome == "aborted" and "link lost" in result.reason
    ran = [t for n, t in m.sim.executed if n is not None and t not in ("M110 N0", "M155 S2")]
    assert ran == lines[: len(ran)]
    assert result.lines_acked in (len(ran), len(ran) - 1)


async def test_marlin_hold_stops_feeding_and_resume_finishes_exactly_once(machines) -> None:
    lines = cam_lines(300)
    m, _ = await connect(machines, "marlin", {"time_scale": 0.05})
    await m.start_job(lines)
    assert await wait_for(lambda: m.job.acked >= 30, 10.0)
    await m.hold()
    # The hold has settled once the line in flight is answered and none follows it.
    assert await wait_for(lambda: m.job.acked == m.job.next, 5.0)
    held = m.job.acked
    assert held <= 32  # at most the line in flight was still acknowledged
    # The printer reports its temperatures on its own (M155): three fresh reports
    # while held, and not one line was sent meanwhile.
    quiet = Mark(m.link)
    assert await wait_for(lambda: sum(t.startswith("T:") for t in quiet.received()) >= 3, 5.0)
    assert quiet.sent() == []
    assert m.job.acked == held and m.job.active
    await m.resume()
    result = await m.wait_job(timeout=30)
    assert result.outcome == "finished"
    ran = [t for n, t in m.sim.executed if n is not None and t not in ("M110 N0", "M155 S2")]
    assert ran == lines


async def test_closing_mid_job_ends_it_with_the_count(machines) -> None:
    m, _ = await connect(machines, "grbl", {"time_scale": 0.3})
    await m.start_job(cam_lines(500))
    assert await wait_for(lambda: m.job.acked >= 10, 5.0)
    await m.close()
    result = await m.wait_job(timeout=1)
    assert result.outcome == "aborted" and "closed" in result.reason
