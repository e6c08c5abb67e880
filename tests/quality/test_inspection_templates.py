"""Inspection templates: the demo SKUs load; every problem names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellctl.config.inspection import TemplateBook, load_template
from cellctl.config.load import load_site
from cellctl.errors import ConfigError
from tests.quality.conftest import DEMO

GOOD = """
[inspection]
sku = "{sku}"
level = "II"
aql = {aql}

[[checklist]]
id = "height"
text = "Height"
kind = "measure"
nominal = 80.0
tol_minus = 0.5
tol_plus = 0.25
unit = "mm"
"""


def _write(tmp_path: Path, sku: str, text: str) -> Path:
    p = tmp_path / f"{sku}.toml"
    p.write_text(text)
    return p


def test_demo_skus_each_have_a_valid_template() -> None:
    site = load_site(DEMO / "site.toml")
    book = TemplateBook(DEMO / "inspection", site)
    assert book.skus() == ["MUG-ENAMEL", "PIN-BADGE", "POSTER-A3", "TOTE-BAG"]
    assert book.check_all() == []
    mug = book.get("MUG-ENAMEL")
    assert (mug.inspection.level, mug.inspection.aql) == ("II", "1.0")
    assert [i.kind for i in mug.checklist] == ["pass_fail", "pass_fail", "measure", "measure"]
    assert book.get("PIN-BADGE").inspection.level == "S-4"


def test_tolerance_limits_are_inclusive(tmp_path: Path) -> None:
    t = load_template(_write(tmp_path, "MUG", GOOD.format(sku="MUG", aql=1.0)))
    assert t.inspection.aql == "1.0"  # a TOML float names the same column as "1.0"
    h = t.item("height")
    assert h is not None and h.spec == "80 -0.5/+0.25 mm"
    assert h.in_tolerance(79.5) and h.in_tolerance(80.25)
    assert not h.in_tolerance(79.49) and not h.in_tolerance(80.26)
    assert not h.in_tolerance(float("nan"))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (GOOD.format(sku="MUG", aql='"0.7"'), "inspection.aql (line 5)"),
        (GOOD.replace('level = "II"', 'level = "IV"').format(sku="MUG", aql=1), "inspection.level"),
        (GOOD.replace("nominal = 80.0\n", "").format(sku="MUG", aql=1), "needs nominal"),
        (GOOD.replace('"measure"', '"pass_fail"').format(sku="MUG", aql=1), "takes no nominal"),
        (
            GOOD.replace('kind = "measure"', 'kind = "gauge"').format(sku="MUG", aql=1),
            "checklist[0].kind",
        ),
        (
            GOOD.replace("tol_minus = 0.5", "tol_minus = -1").format(sku="MUG", aql=1),
            "checklist[0].tol_minus",
        ),
        (
            GOOD.replace('unit = "mm"', 'unit = "mm"\ncolour = 1').format(sku="MUG", aql=1),
            "checklist[0].colour",
        ),
        (GOOD.format(sku="OTHER", aql=1), "does not match the file name"),
        ("[inspection]\nsku = 'MUG'\naql = '1.0'\nchecklist = []\n", "checklist"),
        ("[inspection\n", "not valid TOML"),
    ],
)
def test_problems_name_the_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, "MUG", text)
    with pytest.raises(ConfigError) as err:
        load_template(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_defect_codes_are_checked_against_the_site(tmp_path: Path) -> None:
    site = load_site(DEMO / "site.toml")
    text = GOOD.format(sku="MUG", aql=1) + 'defect = "DENT"\n'
    with pytest.raises(ConfigError, match=r"checklist\[0\].defect: 'DENT' is not in the site"):
        load_template(_write(tmp_path, "MUG", text), site)
    book = TemplateBook(tmp_path, site)
    with pytest.raises(ConfigError, match="no inspection template for SKU 'NOPE'"):
        book.get("NOPE")
    assert len(book.check_all()) == 1


def test_config_check_of_the_site_checks_its_templates(site, capsys) -> None:
    from cellctl.cli import main

    assert main(["config", "check", str(site.site_path)]) == 0
    bad = site.root / "inspection" / "TOTE-BAG.toml"
    bad.write_text(bad.read_text().replace('aql = "4.0"', 'aql = "3.0"'))
    assert main(["config", "check", str(site.site_path)]) == 1
    out = capsys.readouterr()
    assert "TOTE-BAG.toml: inspection.aql" in out.out + out.err
