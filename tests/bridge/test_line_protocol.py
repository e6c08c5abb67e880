"""The cellctl line protocol: framing, the device simulator and the driver."""

from __future__ import annotations

import pytest

from firmware_bridge import JobRefused
from firmware_bridge.lineproto import FrameError, crc8, frame, parse, unframe
from firmware_bridge.machine import wait_for
from tests.bridge.conftest import connect


def test_crc8_matches_the_published_check_value() -> None:
    assert crc8(b"123456789") == 0xF4  # CRC-8/SMBUS check value


def test_frames_round_trip_and_damage_is_caught() -> None:
    data = frame("7 SET dwell=2.5")
    assert data == b"7 SET dwell=2.5*" + f"{crc8(b'7 SET dwell=2.5'):02X}".encode() + b"\n"
    msg = parse(unframe(data))
    assert (msg.seq, msg.word, msg.fields) == (7, "SET", {"dwell": "2.5"})
    for i in range(len(data) - 4):
        damaged = bytearray(data)
        damaged[i] ^= 0x01
        with pytest.raises(FrameError):
            unframe(bytes(damaged))
    event = parse(unframe(frame("! 12 CYCLE count=40")))
    assert event.event and event.seq == 12 and event.fields["count"] == "40"


async def test_hello_negotiates_and_cycles_are_counted(machines) -> None:
    m, events = await connect(machines, "line", {"time_scale": 0.01})
    assert m.protocol == 1 and m.device["dev"] == "heatpress" and m.device["id"] == "HP-0001"
    await m.start_job(["SET dwell=0.5", "START cycles=4"])
    assert (await m.wait_job(timeout=5)).outcome == "finished"
    assert await wait_for(lambda: m.state.count == 4 and m.state.status == "Idle", 5.0)
    cycles = [e for e in events if e.kind == "cycle_complete"]
    assert [e.data["count"] for e in cycles] == [1, 2, 3, 4]
    assert all(e.data["delta"] == 1 for e in cycles)


async def test_noisy_line_repeats_commands_without_running_them_twice(machines) -> None:
    m, _ = await connect(
        machines, "line", {"time_scale": 0.0, "noise": 0.3, "seed": 4}, reply_timeout=0.2,
        retries=8,
    )  # fmt: skip
    for i in range(30):
        await m.command(f"SET dwell={i}.5")
    sets = [c for c in m.sim.executed if c.startswith("SET")]
    assert sets == [f"SET dwell={i}.5" for i in range(30)]  # each once, in order
    assert m.sim.crc_errors > 0 and m.repeats > 0


async def test_fault_is_an_alarm_and_blocks_start_until_cleared(machines) -> None:
    m, events = await connect(machines, "line", {"time_scale": 0.01})
    m.sim.inject_fault(3, "overtemperature")
    assert await wait_for(lambda: m.state.alarm is not None, 3.0)
    alarm = next(e for e in events if e.kind == "alarm")
    assert "overtemperature" in alarm.message
    with pytest.raises(JobRefused, match="alarm"):
        await m.start_job(["START cycles=1"])
    with pytest.raises(JobRefused, match="ERR 7"):
        await m.command("START cycles=1")
    await m.unlock()
    assert m.state.alarm is None and m.state.status == "Idle"


async def test_bad_arguments_get_the_error_code(machines) -> None:
    m, _ = await connect(machines, "line", {"time_scale": 0.01})
    with pytest.raises(JobRefused, match="ERR 4"):
        await m.command("SET colour=red")
    with pytest.raises(JobRefused, match="ERR 3"):
        await m.command("FLY")
    with pytest.raises(JobRefused, match="not allow"):
        await m.command("SET a=1*2")


def test_a_stale_status_count_does_not_make_the_next_cycle_count_twice() -> None:
    """A STATUS reply read before a CYCLE line can be applied after it (its awaiting
    coroutine runs later): its lower count must not make the next cycle look like 2."""
    from types import SimpleNamespace

    from firmware_bridge.linemachine import LineMachine

    link = SimpleNamespace(on_line=None, on_up=None, _record=lambda *a: None)
    m = LineMachine(link)  # type: ignore[arg-type]
    seen: list[int] = []
    m.subscribe(lambda e: seen.append(e.data["delta"]) if e.kind == "cycle_complete" else None)
    m._update_count(10, source="status")
    m._update_count(11, source="cycle")
    m._update_count(10, source="status")  # the stale reply, applied late
    m._update_count(12, source="cycle")
    assert seen == [1, 1]
