"""Every parser of outside input gives a value or its own clear error, never a crash.

The same table as `python -m bench.fuzz` (which runs 10,000+ inputs per parser);
here a few hundred each, so the default test run stays short. Hypothesis shrinks
any failure to a small input and prints it.
"""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from bench.fuzz import TARGETS, Hang, Target, _on_alarm

EXAMPLES = 150


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_parser_answers_clearly(target: Target) -> None:
    clear = target.clear()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(target.inputs())
    def check(value: Any) -> None:
        old = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, 5.0)
        try:
            target.call(value)
        except clear:
            pass
        except Hang:
            pytest.fail(f"{target.name} hung on {value!r:.200}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)

    check()


# The bugs the fuzzer found, kept as plain regression tests.


def test_deeply_nested_json_is_a_payload_error() -> None:
    from cellctl.bus.codec import PayloadError, decode

    with pytest.raises(PayloadError, match="nested too deeply"):
        decode(b"[" * 60_000)


def test_integer_past_the_digit_limit_is_a_payload_error() -> None:
    from cellctl.bus.codec import PayloadError, decode

    with pytest.raises(PayloadError):
        decode(b'{"v": 1, "n": ' + b"9" * 5000 + b"}")


def test_gs1_prefix_alone_is_an_unknown_code() -> None:
    from cellctl.scan.payload import UnknownCode, parse

    result = parse("]", "DataMatrix")
    assert isinstance(result, UnknownCode)
    assert result.message.startswith("unknown code: ")


@pytest.mark.parametrize("field", ["quantity", "manual_priority", "cycle_s", "unit_margin"])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_submitted_run_with_a_non_finite_number_is_refused(field: str, value: float) -> None:
    from cellctl.domain.run_spec import RunSpecError, parse_run

    data: dict[str, Any] = {
        "sku": "MUG",
        "quantity": 5,
        "unit_margin": 2.0,
        "due": "2026-12-01T12:00Z",
        "routing": "cut>qa",
        field: value,
    }
    with pytest.raises(RunSpecError, match=field):
        parse_run(data, default_id="R-1")


def test_assignment_with_an_infinite_edition_is_refused() -> None:
    from cellctl.domain.assignment import Assignment, AssignmentError

    with pytest.raises(AssignmentError):
        Assignment.from_dict(
            {"run_id": "R-1", "step": 0, "kind": "cut", "quantity": 1, "edition_size": 1e999}
        )


def _driver(kind: str):
    from bench.fuzz import _Driver

    driver = _Driver(kind)
    driver("")  # starts its loop and machine
    messages: list[str] = []
    driver.machine.subscribe(lambda e: messages.append(e.message) if e.kind == "message" else None)
    return driver, messages


def test_grbl_status_report_with_noise_is_ignored_with_a_message() -> None:
    driver, messages = _driver("grbl")
    driver("<Idle|MPos:1.000,2.000,3.000|Bf:15,127,127>")
    assert any("unreadable status report ignored" in m for m in messages)
    driver("<Idle|MPos:1.000,2.000,3.000|Bf:15,127>")
    assert driver.machine.state.position == (1.0, 2.0, 3.0)
    assert driver.machine.state.rx_free == 127
    driver.loop.close()


def test_marlin_ok_with_garbled_temperatures_keeps_the_good_ones() -> None:
    driver, _ = _driver("marlin")
    driver("ok T:0..0 /200.0 B:60.0 /60.0")
    assert driver.machine.state.temperatures == {"B": (60.0, 60.0)}
    driver("ok T:200.0 /200.0")
    assert driver.machine.state.temperatures["T"] == (200.0, 200.0)
    driver.loop.close()


def test_line_protocol_event_with_a_bad_number_is_ignored_with_a_message() -> None:
    from firmware_bridge.lineproto import frame

    driver, messages = _driver("line")
    driver(frame("! 5 CYCLE count=x").decode().strip())
    assert any("unreadable device event ignored" in m for m in messages)
    driver(frame("! 6 CYCLE count=4").decode().strip())
    assert driver.machine.state.count == 4
    driver.loop.close()


def test_station_paths_with_a_nul_are_config_errors(tmp_path) -> None:
    from cellctl.config.load import load_station
    from cellctl.errors import ConfigError
    from cellctl.site.check import check_paths

    station = tmp_path / "cut-01.toml"
    station.write_text('[station]\nid = "cut-01"\nkind = "cut"\nsite = "\\u0000"\n')
    with pytest.raises(ConfigError, match="cannot contain a NUL"):
        load_station(station)
    site = tmp_path / "site.toml"
    site.write_text('stations = ["a\\u0000.toml"]\n[site]\nid = "s"\nname = "S"\n')
    assert any("cannot read" in p for p in check_paths([site]))


@pytest.mark.parametrize("version", ["true", "1.0", '"1"'])
def test_a_version_that_only_compares_equal_to_1_is_refused(version: str) -> None:
    from cellctl.bus.codec import PayloadError, decode, decode_event
    from cellctl.domain.events import Event

    with pytest.raises(PayloadError, match="unknown payload version"):
        decode(f'{{"v": {version}}}')
    event = Event("cell_started", "cut-01", {}).with_seq(1).to_dict()
    raw = json.dumps(event).replace('"schema": 1', f'"schema": {version}')
    with pytest.raises(PayloadError):
        decode_event(raw)
