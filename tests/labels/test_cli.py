"""`cellctl label status|print|readback` against the simulated printer, in process."""

from __future__ import annotations

from cellctl.cli import main
from cellctl.labels.printer_sim import Roll
from cellctl.labels.raster import read_back

HOLD = ["-f", "batch=B1", "-f", "reason=bubbles", "-f", "operator=Q", "-f", "batch_code=CB:B1"]


def test_status_and_print_through_the_cli(sim, capsys, tmp_path):
    sim.load(Roll(29))
    assert main(["label", "status", "--printer", sim.url]) == 1
    assert "this job needs 62 mm endless" in capsys.readouterr().out
    assert main(["label", "print", "qc_hold_tag", "--printer", sim.url, *HOLD]) == 1
    assert "Wrong labels loaded" in capsys.readouterr().err
    assert sim.jobs == []

    sim.load(Roll(62))
    assert main(["label", "status", "--printer", sim.url]) == 0
    assert "QL-820NWB: 62 mm endless (62)" in capsys.readouterr().out
    rc = main(["label", "print", "qc_hold_tag", "--printer", sim.url, *HOLD, "--copies", "2"])
    assert rc == 0 and "2 label(s) printed" in capsys.readouterr().out
    assert len(sim.jobs) == 1 and len(read_back(sim.jobs[0])) == 2

    (tmp_path / "job.bin").write_bytes(sim.jobs[0])
    assert main(["label", "readback", str(tmp_path / "job.bin")]) == 0
    out = capsys.readouterr().out
    assert out.count("qr: CB:B1") == 2 and out.count("code128: 10B1") == 2


def test_missing_field_is_named(sim, capsys):
    assert main(["label", "print", "batch_traveller", "--printer", sim.url]) == 1
    assert "field 'site_name' not given" in capsys.readouterr().err
