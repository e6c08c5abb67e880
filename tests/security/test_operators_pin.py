"""`cellctl operators set-pin`: only a salted hash reaches the site file, nothing leaks."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from cellctl.cli import main
from cellctl.config.load import load_site
from cellctl.domain.pins import verify_pin

PIN = "908172"


def test_set_pin_from_stdin_writes_only_a_hash(demo_dir: Path, monkeypatch, capsys, caplog):
    site = demo_dir / "site.toml"
    before = site.read_text()
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr("sys.stdin", io.StringIO(PIN + "\n"))

    assert (
        main(["operators", "set-pin", "--site", str(site), "--badge", "OP-ADA", "--pin-stdin"]) == 0
    )

    after = site.read_text()
    out, err = capsys.readouterr()
    for where in (after, out, err, caplog.text):
        assert PIN not in where
    op = load_site(site).operator("OP-ADA")
    assert op is not None and op.pin_hash is not None
    assert verify_pin(PIN, op.pin_hash) and not verify_pin("1111", op.pin_hash)
    # Every other line, comments included, is as it was; the other operators keep theirs.
    assert len(after.splitlines()) == len(before.splitlines())
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 1 and changed[0][1].startswith('pin_hash = "scrypt$')
    quinn = load_site(site).operator("OP-QUINN")
    assert quinn is not None and verify_pin("2222", quinn.pin_hash or "")


def test_set_pin_adds_the_line_when_the_operator_had_none(demo_dir: Path, monkeypatch):
    site = demo_dir / "site.toml"
    text = site.read_text()
    lines = text.splitlines(keepends=True)
    # Drop the pin_hash line of Sam's [[operators]] table.
    header = max(
        i
        for i, ln in enumerate(lines[: text.splitlines().index('badge = "OP-SAM"')])
        if ln.strip() == "[[operators]]"
    )
    at = next(i for i in range(header, len(lines)) if lines[i].startswith("pin_hash"))
    del lines[at]
    site.write_text("".join(lines))
    assert load_site(site).operator("OP-SAM").pin_hash is None
    site.chmod(0o640)

    monkeypatch.setattr("sys.stdin", io.StringIO("4321\n"))
    assert (
        main(["operators", "set-pin", "--site", str(site), "--badge", "OP-SAM", "--pin-stdin"]) == 0
    )
    sam = load_site(site).operator("OP-SAM")
    assert sam is not None and verify_pin("4321", sam.pin_hash or "")
    assert "4321" not in site.read_text()
    assert site.stat().st_mode & 0o777 == 0o640  # the file's mode is kept


def test_set_pin_interactive_asks_twice(demo_dir: Path, monkeypatch, capsys):
    site = demo_dir / "site.toml"
    before = site.read_text()
    answers = iter([PIN, "000000"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["operators", "set-pin", "--site", str(site), "--badge", "OP-ADA"]) == 1
    assert "the two PINs differ: nothing changed" in capsys.readouterr().err
    assert site.read_text() == before

    answers = iter([PIN, PIN])
    assert main(["operators", "set-pin", "--site", str(site), "--badge", "OP-ADA"]) == 0
    op = load_site(site).operator("OP-ADA")
    assert op is not None and verify_pin(PIN, op.pin_hash or "")
    assert PIN not in site.read_text()


@pytest.mark.parametrize("bad", ["99", "99ab", "9999999999999", ""])
def test_bad_pins_and_badges_change_nothing(demo_dir: Path, monkeypatch, capsys, bad: str):
    site = demo_dir / "site.toml"
    before = site.read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(bad + "\n"))
    assert (
        main(["operators", "set-pin", "--site", str(site), "--badge", "OP-ADA", "--pin-stdin"]) == 1
    )
    err = capsys.readouterr().err
    assert "4 to 12 digits" in err
    if bad:
        assert bad not in err
    monkeypatch.setattr("sys.stdin", io.StringIO("1234\n"))
    assert (
        main(["operators", "set-pin", "--site", str(site), "--badge", "OP-NOBODY", "--pin-stdin"])
        == 1
    )
    assert "no operator with badge 'OP-NOBODY'" in capsys.readouterr().err
    assert site.read_text() == before


def test_a_plain_pin_in_the_site_file_is_refused(demo_dir: Path, capsys):
    site = demo_dir / "site.toml"
    text = site.read_text()
    first = next(ln for ln in text.splitlines() if ln.startswith("pin_hash"))
    site.write_text(text.replace(first, 'pin_hash = "1111"'))
    assert main(["operators", "list", "--site", str(site)]) == 1
    assert "never a plain PIN" in capsys.readouterr().err


def test_list_shows_who_has_a_pin(demo_dir: Path, capsys):
    assert main(["operators", "list", "--site", str(demo_dir / "site.toml")]) == 0
    out = capsys.readouterr().out
    assert "OP-ADA" in out and "PIN set" in out and "scrypt" not in out
