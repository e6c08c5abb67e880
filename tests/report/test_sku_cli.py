"""`cellctl report --table sku` from station stores (--store), and its mailable charts."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from cellctl.cli import main
from cellctl.store.station_store import StationStore
from tests.domain.sku_events import sku_event, sku_run


def _stores(tmp_path: Path) -> list[str]:
    events = (
        sku_run("R1", "MUG", "2026-12-01", 4, good=(10, 9), scrap=(0, 1))
        + sku_run("R2", "PIN/<b>", "2026-12-01", 6, good=(5, 5), scrap=(1, 0))
        + [
            sku_event(
                "defect_recorded",
                "qa-01",
                "2026-12-01T09:00:00.000Z",
                run_id="R1",
                code="CHIP",
                severity="minor",
            )
        ]  # fmt: skip
    )
    paths = []
    for cell in ("cut-01", "qa-01"):
        path = tmp_path / f"{cell}.db"
        store = StationStore(path, cell)
        store.append_many(sorted((e for e in events if e.cell == cell), key=lambda e: e.time))
        store.close()
        paths.append(str(path))
    return paths


def test_sku_table_json_csv_and_plots(tmp_path: Path, capsys) -> None:
    stores = [a for p in _stores(tmp_path) for a in ("--store", p)]
    period = ["--from", "2026-12-01", "--to", "2026-12-02"]
    assert main(["report", "--table", "sku", *period, *stores]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {r["sku"]: r for r in report["sku"]}
    assert rows["MUG"]["lead_p50_s"] == 4 * 3600.0 and rows["PIN/<b>"]["runs_done"] == 1
    assert main(["report", "--table", "sku", "--format", "csv", *period, *stores]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["section"] for r in table} == {"sku", "sku_steps", "sku_scrap"}
    out = tmp_path / "mail"
    assert main(["report", "--table", "sku", *period, *stores, "--plots", str(out)]) == 0
    assert "wrote 7 files" in capsys.readouterr().err
    for name in ("lead_time", "yield", "pareto_MUG"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (out / f"{name}.svg").read_bytes()[:500]
    page = (out / "index.html").read_text()
    assert "PIN/&lt;b&gt;" in page and "<b>" not in page  # what it shows is escaped
    # A period with none of these runs: empty tables, no error.
    assert main(["report", "--table", "sku", "--from", "2027-01-01", "--to", "2027-01-02",
                 *stores]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["sku"] == []
