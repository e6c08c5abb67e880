from __future__ import annotations

from pathlib import Path

import pytest

from cellctl.cli import main
from cellctl.config.load import load_site, load_station
from cellctl.errors import ConfigError
from cellctl.site.check import check_paths

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


def test_one_run_reports_every_problem_of_every_file(tmp_path: Path) -> None:
    """A station with a bad field, a broken site, a wrong printer model and media and
    malformed endpoints: all of it in one run (it used to take four)."""
    (tmp_path / "site.toml").write_text(
        '[site]\nid = "s"\nname = "S"\n\n[[operators]]\nname = "A"\nbadge = "B1"\nrole = "boss"\n'
    )
    st = tmp_path / "cut.toml"
    st.write_text(
        '[station]\nid = "cut-9"\nkind = "cut"\ncolour = "red"\n\n'
        '[machine]\ndriver = "grbl"\nport = "bogus://ttyUSB0"\n\n'
        '[camera]\nsource = "ftp://cam"\n\n'
        '[[scanners]]\nkind = "serial"\nport = "socket://nohost"\n\n'
        '[printer]\nmodel = "QL-9999"\nmedia = "99x99"\nbackend = "ftp://x"\n'
    )
    text = "\n".join(check_paths([st]))
    assert "station.colour" in text  # the field
    assert "operators[0].role" in text and "'boss'" in text  # the site it names
    assert "printer.backend" in text and "'ftp://x'" in text
    assert "machine" in text and "'bogus://ttyUSB0'" in text
    assert "camera.source" in text and "'ftp://cam'" in text
    assert "scanners[0]" in text and "socket://host:port" in text
    # The printer section is broken (its backend): its model and media are still checked.
    assert "printer.model" in text and "QL-9999" in text
    assert "printer.media" in text and "99x99" in text


@pytest.mark.parametrize(
    ("section", "value"),
    [("printer", "backend = 'ftp://x'"), ("printer", "backend = 'tcp://'"),
     ("machine", "driver = 'grbl'\nport = 'sim://lathe'"),
     ("camera", "source = 'gopher://x'")],
)  # fmt: skip
def test_endpoints_the_kiosk_would_refuse_fail_the_check(
    tmp_path: Path, section: str, value: str
) -> None:
    (tmp_path / "site.toml").write_text('[site]\nid = "s"\nname = "S"\n')
    st = tmp_path / "st.toml"
    st.write_text(f'[station]\nid = "c"\nkind = "cut"\n\n[{section}]\n{value}\n')
    problems = check_paths([st])
    assert problems and all(section in p for p in problems), problems
    with pytest.raises(ConfigError):
        load_station(st)


def test_good_endpoints_pass(tmp_path: Path) -> None:
    (tmp_path / "site.toml").write_text('[site]\nid = "s"\nname = "S"\n')
    st = tmp_path / "st.toml"
    st.write_text(
        '[station]\nid = "c"\nkind = "cut"\n\n[machine]\ndriver = "grbl"\n'
        'port = "socket://10.0.0.5:23"\n\n[camera]\nsource = 0\n\n'
        '[[scanners]]\nkind = "serial"\nport = "/dev/ttyACM0"\n\n'
        '[printer]\nbackend = "tcp://192.168.1.20:9100"\n'
    )
    assert check_paths([st]) == []
