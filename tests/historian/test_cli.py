"""`cellctl trace` and `cellctl report` ask the site historian over the bus by default,
and answer as reading the station store files directly (`--store`) does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cellctl.bus.broker_process import Mosquitto
from cellctl.cli import main
from cellctl.config.load import load_site
from cellctl.domain.events import Event
from cellctl.historian.answers import SiteContext
from cellctl.historian.service import Historian
from cellctl.historian.store import open_store
from cellctl.store.station_store import StationStore

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
