"""`cellctl report` over a real station store."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from cellctl.cli import main
from cellctl.domain.events import Event
from cellctl.store.station_store import StationStore


def _e(etype: str, hhmm: str, **payload) -> Event:
    return Event(etype, "cut-01", payload, operator="OP-ADA", time=f"2026-01-05T{hhmm}:00.000Z")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "cut-01.db"
    s = StationStore(path, "cut-01", synchronous="NORMAL")
    s.append(
        _e("run_step_started", "07:50", run_id="R1", step=0),
        _e("units_counted", "07:55", run_id="R1", step=0, good=3, scrap=0),  # before the period
        _e("units_counted", "08:10", run_id="R1", step=0, good=8, scrap=2, reworked=1),
        _e("defect_recorded", "08:11", run_id="R1", code="BURN", severity="major", count=2),
        _e("defect_recorded", "08:12", run_id="R1", code="DIM", severity="critical"),
        _e("downtime_started", "08:20", reason="JAM"),
        _e("downtime_ended", "08:30"),
        _e("downtime_started", "09:00", reason="CHANGEOVER", planned=True),
        _e("downtime_ended", "09:10"),
        _e("run_step_completed", "09:30", run_id="R1", step=0),
    )
    s.close()
    return path


def test_json_report_has_every_table(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["report", "--from", "2026-01-05T08:00", "--to", "2026-01-05T10:00",
               "--format", "json", "--store", str(store)])  # fmt: skip
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["events"] == 8
    [run] = report["runs"]
    assert (run["run_id"], run["good"], run["scrap"], run["steps_completed"]) == ("R1", 8, 2, 1)
    assert run["yield"] == 0.8 and run["first_pass_yield"] == 0.7
    assert [(d["code"], d["count"]) for d in report["defects"]] == [("BURN", 2), ("DIM", 1)]
    assert [(d["reason"], d["duration_s"], d["planned"]) for d in report["downtime"]] == [
        ("JAM", 600.0, False), ("CHANGEOVER", 600.0, True)]  # fmt: skip
    [oee] = report["oee"]
    # 2 h scheduled, 10 min planned stop, 10 min unplanned; 10 units at 60 s ideal, 8 good.
    assert (oee["planned_s"], oee["run_s"]) == (6600.0, 6000.0)
    assert oee["availability"] == round(6000 / 6600, 4)
    assert oee["performance"] == 0.1 and oee["quality"] == 0.8
    assert oee["oee"] == round(60 * 8 / 6600, 4)


def test_csv_report_one_table_and_all(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "counts.csv"
    args = ["report", "--from", "2026-01-05", "--to", "2026-01-06", "--format", "csv",
            "--store", str(store)]  # fmt: skip
    assert main([*args, "--table", "counts", "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows == [{"run_id": "R1", "step": "0", "cell": "cut-01", "good": "11", "scrap": "2",
                     "reworked": "1", "yield": "0.8462", "first_pass_yield": "0.7692"}]  # fmt: skip
    assert main([*args, "--out", str(out)]) == 0
    sections = [r["section"] for r in csv.DictReader(io.StringIO(out.read_text()))]
    assert sections == ["runs", "counts", "defects", "defects", "downtime", "downtime", "oee"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from", "2026-01-05", "--to", "2026-01-04"], "--to must be after --from"),
        (["--from", "yesterday", "--to", "2026-01-04"], "is not a date"),
    ],
)
def test_bad_requests_say_why(store: Path, capsys, extra: list[str], message: str) -> None:
    assert main(["report", "--store", str(store), *extra]) == 1
    assert message in capsys.readouterr().err


def test_a_missing_or_foreign_store_is_named(tmp_path: Path, capsys) -> None:
    period = ["--from", "2026-01-05", "--to", "2026-01-06"]
    assert main(["report", *period, "--store", str(tmp_path / "nope.db")]) == 1
    assert "no such store file" in capsys.readouterr().err
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    assert main(["report", *period, "--store", str(junk)]) == 1
    assert "not a station store" in capsys.readouterr().err
