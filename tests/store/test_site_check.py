"""`cellctl store check --site`: every run's step counts against conservation of units."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cellctl.cli import main
from cellctl.domain.events import Event
from cellctl.domain.run_spec import parse_run
from cellctl.store.scheduler_store import SchedulerStore

DEMO = Path(__file__).resolve().parents[2] / "stations" / "demo"


def _site(tmp_path: Path) -> tuple[Path, SchedulerStore]:
    root = tmp_path / "site"
    shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("var"))
    (root / "var").mkdir()
    store = SchedulerStore(root / "var" / "scheduler.db")
    due = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    spec = {"id": "R-POSTER", "sku": "POSTER", "quantity": 10, "unit_margin": 9.0, "due": due,
            "routing": "cut>print>qa"}  # fmt: skip
    store.add_run(parse_run(spec))
    return root / "site.toml", store


def _step(store: SchedulerStore, cell: str, step: int, good: int, scrap: int, seq: int) -> int:
    body = store.assign("R-POSTER", step, cell, f"A-{step}")
    events = [
        Event("assignment_accepted", cell, {"run_id": "R-POSTER", "step": step,
              "assign_id": body["assign_id"]}, seq=seq),
        Event("units_counted", cell, {"run_id": "R-POSTER", "step": step, "good": good,
              "scrap": scrap}, seq=seq + 1),
        Event("run_step_completed", cell, {"run_id": "R-POSTER", "step": step, "good": good,
              "scrap": scrap}, seq=seq + 2),
    ]  # fmt: skip
    store.apply_events(events)
    return seq + 3


def test_site_check_passes_when_units_add_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site, store = _site(tmp_path)
    seq = _step(store, "cut-01", 0, 10, 1, 1)
    _step(store, "print-01", 1, 9, 1, seq)
    store.close()
    assert main(["store", "check", "--site", str(site)]) == 0
    assert "ok: 1 run(s)" in capsys.readouterr().out


def test_site_check_fails_on_a_step_that_used_more_than_came(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site, store = _site(tmp_path)
    seq = _step(store, "cut-01", 0, 10, 0, 1)
    seq = _step(store, "print-01", 1, 9, 1, seq)
    # print-01 then counts 2 more that never came from cut (offline, an old kiosk).
    more = {"run_id": "R-POSTER", "step": 1, "good": 2, "scrap": 0}
    store.apply_events([Event("units_counted", "print-01", more, seq=seq)])
    store.close()
    assert main(["store", "check", "--site", str(site)]) == 1
    out = capsys.readouterr().out
    assert (
        "conservation: R-POSTER step 1: print has 11 good + 1 scrap = 12, but only 10 came "
        "good from cut"
    ) in out
    assert "1 of 1 run(s) break conservation of units" in out


def test_site_check_without_a_store_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "empty"
    shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("var"))
    assert main(["store", "check", "--site", str(root / "site.toml")]) != 0
    assert "no scheduler store at" in capsys.readouterr().err
    assert not (root / "var" / "scheduler.db").exists()  # the check created nothing
