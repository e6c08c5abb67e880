"""`cellctl trace` and `cellctl report` ask the site historian over the bus by default,
and answer as reading the station store files directly (`--store`) does."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cellctl.bus.broker_process import Mosquitto
from cellctl.cli import main
from cellctl.config.load import load_site
from cellctl.domain.events import Event
from cellctl.historian.answers import SiteContext
from cellctl.historian.backends import open_store
from cellctl.historian.service import Historian
from cellctl.store.station_store import StationStore
from tests.fixtures.postgres import PostgresCluster, postgres_available

SITE_TOML = """
stations = []
historian_db = "var/historian.db"
[site]
id = "t"
name = "test site"
[mqtt]
url = "{url}"
[[operators]]
name = "Ada Machinist"
badge = "OP-ADA"
role = "machinist"
"""


def _e(etype: str, cell: str, hhmm: str, op: str | None = "OP-ADA", **payload) -> Event:
    return Event(etype, cell, payload, op, time=f"2026-01-05T{hhmm}:00.000Z")


def _stores(root: Path) -> list[Path]:
    cut = StationStore(root / "cut-01.db", "cut-01", synchronous="OFF")
    cut.append(
        _e("run_step_started", "cut-01", "08:00", run_id="R1", step=0),
        _e("machine_job_started", "cut-01", "08:01", None, job="a.nc"),
        _e("units_counted", "cut-01", "08:10", run_id="R1", step=0, good=3, scrap=1),
        _e("downtime_started", "cut-01", "08:20", reason="JAM"),
        _e("downtime_ended", "cut-01", "08:30"),
    )
    cut.allocate_serials(3, scope="R1", sku="MUG", batch="B1", run_id="R1", operator="OP-ADA")
    cut.append(_e("run_step_completed", "cut-01", "09:00", run_id="R1", step=0))
    cut.close()
    qa = StationStore(root / "qa-01.db", "qa-01", synchronous="OFF")
    qa.append(_e("defect_recorded", "qa-01", "10:00", run_id="R1", code="DIM", severity="minor"))
    qa.close()
    return [root / "cut-01.db", root / "qa-01.db"]


@pytest.fixture
async def site(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Path]:
    """A site file on the broker, its historian running with two stores imported."""
    site_path = tmp_path / "site.toml"
    site_path.write_text(SITE_TOML.format(url=mosquitto.url))
    stores = _stores(tmp_path)
    args = ["historian", "import", "--site", str(site_path)]
    for path in stores:
        args += ["--store", str(path)]
    assert main(args) == 0
    assert main(args) == 0  # twice: nothing doubled
    config = load_site(site_path)
    historian = Historian(
        open_store(tmp_path / "var" / "historian.db"),
        context=SiteContext.load(config, site_path),
        mqtt=config.mqtt,
    )
    assert historian.store.count() == 7 + 1
    await historian.start()
    await historian.wait_connected()
    try:
        yield site_path
    finally:
        await historian.stop()
        historian.store.close()


async def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = await asyncio.to_thread(main, args)
    out, err = capsys.readouterr()
    return rc, out, err


async def test_trace_over_the_bus_equals_trace_of_the_files(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = ["--store", str(tmp_path / "cut-01.db"), "--store", str(tmp_path / "qa-01.db")]
    rc, out, err = await _cli(["trace", "B1", "--site", str(site), "--json"], capsys)
    assert rc == 0, err
    asked = json.loads(out)
    rc, out, _ = await _cli(["trace", "B1", "--site", str(site), "--json", *files], capsys)
    read = json.loads(out)
    for extra in ("stores_read", "stores_missing"):
        read.pop(extra)
    assert asked == read
    assert asked["units"] == ["MUG-B1-0001", "MUG-B1-0002", "MUG-B1-0003"]
    assert [m["type"] for m in asked["machine"]] == ["machine_job_started"]
    rc, out, _ = await _cli(["trace", "MUG-B1-0002", "--site", str(site)], capsys)
    assert rc == 0 and out.startswith("unit MUG-B1-0002  sku MUG  batch B1")
    rc, _, err = await _cli(["trace", "NOPE", "--site", str(site)], capsys)
    assert rc == 1 and "'NOPE' is neither a serial nor a batch known to the site" in err


async def test_report_over_the_bus_equals_report_of_the_files(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    period = ["--from", "2026-01-05T08:15", "--to", "2026-01-05T12:00", "--site", str(site)]
    files = ["--store", str(tmp_path / "cut-01.db"), "--store", str(tmp_path / "qa-01.db")]
    rc, out, err = await _cli(["report", *period], capsys)
    assert rc == 0, err
    asked = json.loads(out)
    rc, out, _ = await _cli(["report", *period, *files], capsys)
    assert asked == json.loads(out)
    assert [d["code"] for d in asked["defects"]] == ["DIM"]
    rc, out, _ = await _cli(["report", *period, "--cell", "qa-01"], capsys)
    assert [row["cell"] for row in json.loads(out)["oee"]] == ["qa-01"]
    rc, _, err = await _cli(["report", "--from", "2026-01-06", "--to", "2026-01-05",
                             "--site", str(site)], capsys)  # fmt: skip
    assert rc == 1 and "--to must be after --from" in err


async def test_nobody_answers_says_so(
    mosquitto: Mosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site_path = tmp_path / "site.toml"
    site_path.write_text(SITE_TOML.format(url=mosquitto.url))
    rc, _, err = await _cli(["trace", "X", "--site", str(site_path), "--timeout", "0.5"], capsys)
    assert rc == 1
    assert f"the site historian at {mosquitto.url} (site t) did not answer within 0.5 s" in err


def _historian_process(site_path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cellctl", "historian", "run", "--site", str(site_path), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 30) -> list[str]:
    """Lines of the process's output up to the one holding `needle`."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            lines.append(line)
            if needle in line:
                return lines
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.05)
    raise AssertionError(f"no {needle!r} in {lines}")


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


async def test_historian_run_answers_status(
    mosquitto: Mosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site_path = tmp_path / "site.toml"
    site_path.write_text(SITE_TOML.format(url=mosquitto.url))
    proc = _historian_process(site_path)
    try:
        await asyncio.to_thread(_wait_for_line, proc, "historian for site t")
        rc, out, err = await _cli(["historian", "status", "--site", str(site_path)], capsys)
        assert rc == 0, err
        status = json.loads(out)
        assert (status["backend"], status["events"], status["online"]) == ("sqlite", 0, True)
    finally:
        assert _stop(proc) == 0
    assert (tmp_path / "var" / "historian.db").is_file()


@pytest.mark.skipif(postgres_available() is not None, reason=str(postgres_available()))
async def test_historian_run_waits_for_its_database(mosquitto: Mosquitto, tmp_path: Path) -> None:
    site_path = tmp_path / "site.toml"
    site_path.write_text(SITE_TOML.format(url=mosquitto.url))
    cluster = PostgresCluster()
    proc = _historian_process(site_path, "--db", cluster.url)
    try:
        await asyncio.to_thread(_wait_for_line, proc, "database unavailable")
        cluster.start()
        lines = await asyncio.to_thread(_wait_for_line, proc, "historian for site t")
        assert "PostgreSQL 127.0.0.1" in lines[-1]
    finally:
        assert _stop(proc) == 0
        cluster.remove()


async def _status(site_path: Path, capsys: pytest.CaptureFixture[str]) -> dict | None:
    rc, out, _ = await _cli(["historian", "status", "--site", str(site_path), "--timeout",
                             "1"], capsys)  # fmt: skip
    return json.loads(out) if rc == 0 else None


async def _until_stored(site_path: Path, capsys, n: int, timeout: float = 30) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await _status(site_path, capsys)
        if status is not None and status["events"] >= n:
            return status
        await asyncio.sleep(0.2)
    raise AssertionError(f"the historian did not store {n} events in {timeout} s")


async def test_a_killed_historian_loses_and_doubles_nothing(
    mosquitto: Mosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cellctl.bus.cell_link import CellLink
    from cellctl.config.models import MqttConfig

    site_path = tmp_path / "site.toml"
    site_path.write_text(SITE_TOML.format(url=mosquitto.url))
    store = StationStore(tmp_path / "cut-07.db", "cut-07", synchronous="OFF")
    link = CellLink(store, site="t", kind="cut", mqtt=MqttConfig(url=mosquitto.url),
                    heartbeat_s=0.3)  # fmt: skip
    await link.start()
    proc = _historian_process(site_path)
    try:
        await asyncio.to_thread(_wait_for_line, proc, "historian for site t")

        def burst(n: int) -> None:
            store.append_many(
                Event("units_counted", "cut-07", {"run_id": "R1", "step": 0, "good": 1, "scrap": 0})
                for _ in range(n)  # fmt: skip
            )
            link.notify()

        burst(300)
        await asyncio.sleep(0.05)
        proc.kill()  # SIGKILL, in the middle of the stream
        proc.wait()
        burst(300)  # kept by the broker for the historian's session, or by the cell
        proc = _historian_process(site_path)
        await asyncio.to_thread(_wait_for_line, proc, "historian for site t")
        status = await _until_stored(site_path, capsys, 600)
        assert status["events"] == 600
        assert status["marks"] == {"cut-07": [600, 600]}
        await asyncio.sleep(1.0)  # a late re-send would show as a duplicate, never a double
        status = await _status(site_path, capsys)
        assert status is not None and status["events"] == 600
    finally:
        await link.stop()
        store.close()
        if proc.poll() is None:
            _stop(proc)
