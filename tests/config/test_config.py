from __future__ import annotations

from pathlib import Path

import pytest

from cellctl.cli import main
from cellctl.config.load import check_paths, load_site, load_station
from cellctl.errors import ConfigError

DEMO = Path(__file__).resolve().parents[2] / "stations" / "demo"


def test_demo_site_and_stations_load() -> None:
    site = load_site(DEMO / "site.toml")
    assert site.site.id == "demo"
    assert {o.role for o in site.operators} == {"machinist", "qa", "supervisor"}
    kinds = {load_station(DEMO / f).config.station.kind for f in site.stations}
    assert kinds == {"cut", "print", "finish", "qa"}
    assert check_paths([DEMO / "site.toml"]) == []


def test_every_problem_is_listed_with_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "site.toml"
    bad.write_text(
        '[site]\nid = "x y"\n\n[mqtt]\nurl = "http://broker"\n\n'
        '[[operators]]\nname = "A"\nbadge = "B1"\nrole = "boss"\n\n'
        '[[defects]]\ncode = "D"\ndescription = "d"\nseverity = "minor"\ncolour = "red"\n'
    )
    problems = check_paths([bad])
    text = "\n".join(problems)
    assert all(p.startswith(str(bad)) for p in problems)
    assert "site.id" in text
    assert "site.name: required key is missing" in text
    assert "mqtt.url" in text and "mqtt://" in text
    assert "operators[0].role" in text and "'boss'" in text
    assert "defects[0].colour (line 16): unknown key" in text
    assert len(problems) == 5


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "s.toml"
    bad.write_text("[station]\nid = cut-01\n")
    with pytest.raises(ConfigError) as info:
        load_station(bad)
    assert "line 2" in info.value.problems[0]


def test_plain_pin_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "site.toml"
    bad.write_text(
        '[site]\nid = "s"\nname = "S"\n[[operators]]\nname = "A"\nbadge = "B"\n'
        'role = "qa"\npin_hash = "1234"\n'
    )
    (problem,) = check_paths([bad])
    assert "never a plain PIN" in problem


def test_station_with_missing_site_and_bad_serial_format(tmp_path: Path) -> None:
    st = tmp_path / "cut.toml"
    st.write_text(
        'serial_format = "{sku}-{colour}"\n[station]\nid = "cut-9"\nkind = "cut"\n'
        'site = "nowhere.toml"\n[machine]\ndriver = "grbl"\n'
    )
    problems = check_paths([st])
    assert any("serial_format" in p and "colour" in p for p in problems)
    assert any("machine" in p and "needs a port" in p for p in problems)


def test_config_check_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(DEMO / "site.toml")]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[station]\nkind = 'lathe'\n")
    assert main(["config", "check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "station.id: required key is missing" in out
    assert "station.kind" in out and "'lathe'" in out
    assert "Traceback" not in out


def test_garbage_file_gives_problem_not_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    problems = check_paths([bad, tmp_path / "missing.toml"])
    assert "cannot read" in problems[0]
    assert "file not found" in problems[1]
