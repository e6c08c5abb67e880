"""Signed unit codes: genuine, altered, forged; key files and `cellctl verify`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from cellctl.domain.codes import encode_unit
from cellctl.labels import keys
from cellctl.labels.errors import KeyFileError
from cellctl.labels.raster import build_job, read_back
from cellctl.labels.render import render
from cellctl.labels.samples import sample_values
from cellctl.labels.template import find_template
from cellctl.labels.verify import verify_text

ROOT = Path(__file__).resolve().parents[2]


def test_genuine(key_pair):
    private, public, _, _ = key_pair
    v = verify_text(encode_unit("MUG-B0042-0007", private), public)
    assert v.genuine and v.serial == "MUG-B0042-0007"


def test_altered_serial_is_rejected(key_pair):
    private, public, _, _ = key_pair
    code = encode_unit("MUG-B0042-0007", private).replace("0007", "0008", 1)
    v = verify_text(code, public)
    assert not v.genuine and "does not match serial MUG-B0042-0008" in v.reason


def test_forged_signature_is_rejected(key_pair):
    _, public, _, _ = key_pair
    forged = encode_unit("MUG-B0042-0007", Ed25519PrivateKey.generate())
    v = verify_text(forged, public)
    assert not v.genuine and "forged" in v.reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("CU:MUG-1:ABC", "damaged"),
        ("CU:MUG-1", "damaged or altered"),
        ("CB:B0042", "carries no signature"),
        ("hello", "not a cellctl code"),
    ],
)
def test_not_a_valid_unit_code(key_pair, text, reason):
    v = verify_text(text, key_pair[1])
    assert not v.genuine and reason in v.reason


def test_the_unit_code_fits_a_29_mm_label(key_pair):
    code = encode_unit("MUG-BLUE-B0042-0007", key_pair[0])
    assert len(code) <= 130
    t = find_template("unit_serial")
    r = render(t, {**sample_values(), "unit_code": code})
    assert t.size_mm[0] < 26 and r.codes[0].payload == code


def test_key_files(tmp_path):
    private, public = keys.generate(tmp_path / "k" / "site.key")
    assert (private.stat().st_mode & 0o777) == 0o600
    assert public == tmp_path / "k" / "site.pub"
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        keys.generate(private)
    os.chmod(private, 0o640)
    with pytest.raises(KeyFileError, match=rf"mode 640\): run `chmod 600 {private}`"):
        keys.load_private(private)
    os.chmod(private, 0o600)
    keys.load_private(private)
    odd = tmp_path / "k" / "odd"
    odd.write_bytes(public.read_bytes())
    os.chmod(odd, 0o600)
    with pytest.raises(KeyFileError, match="not an unencrypted PEM private key"):
        keys.load_private(odd)
    with pytest.raises(KeyFileError, match="cellctl label keygen"):
        keys.load_private(tmp_path / "missing.key")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cellctl", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cellctl_verify_reads_a_printed_label(tmp_path):
    r = _cli("label", "keygen", "--out", str(tmp_path / "site.key"))
    assert r.returncode == 0, r.stderr
    private = keys.load_private(tmp_path / "site.key")
    t = find_template("unit_serial")
    label = render(t, {**sample_values(), "unit_code": encode_unit("MUG-0001", private)})
    (page,) = read_back(build_job([label.image], "QL-700", t.media))
    page.convert("L").save(tmp_path / "scan.png")
    pub = str(tmp_path / "site.pub")

    r = _cli("verify", str(tmp_path / "scan.png"), "--public-key", pub)
    assert r.returncode == 0 and r.stdout.startswith("GENUINE: serial MUG-0001"), r.stderr

    forged = encode_unit("MUG-0001", Ed25519PrivateKey.generate())
    r = _cli("verify", forged, "--public-key", pub)
    assert r.returncode == 1 and r.stdout.startswith("NOT GENUINE: the signature does not match")

    Image.new("L", (100, 100), 255).save(tmp_path / "blank.png")
    r = _cli("verify", str(tmp_path / "blank.png"), "--public-key", pub)
    assert r.returncode == 1 and "no code found" in r.stderr and "Traceback" not in r.stderr
