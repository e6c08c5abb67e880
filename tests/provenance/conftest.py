"""A site with a provenance table, its historian on the broker holding one limited
edition batch that went through cut, print, finish and QA, and the site built from it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cellctl.bus.broker_process import Mosquitto
from cellctl.cli import main
from cellctl.config.load import load_site
from cellctl.domain.events import Event
from cellctl.historian.answers import SiteContext
from cellctl.historian.backends import open_store
from cellctl.historian.service import Historian
from cellctl.labels import keys

PRODUCT = 'Blue mug <img src=x onerror="window.__pwned=1"> & "Co"'
SITE_TOML = """
stations = []
historian_db = "var/historian.db"
signing_key = "keys/site.key"
public_key = "keys/site.pub"
[site]
id = "prov"
name = "Fox & Kiln Microfactory"
[mqtt]
url = "{url}"
[[operators]]
name = "Ada Machinist"
badge = "OP-ADA"
role = "machinist"
[provenance]
base_url = "https://maker.example/p/"
[provenance.products]
MUG-BLUE = '{product}'
"""
SERIALS = ["MUG-BLUE-B0042-0001", "MUG-BLUE-B0042-0002", "MUG-BLUE-B0042-0003"]


def _events() -> list[Event]:
    seqs: dict[str, int] = {}
    out: list[Event] = []

    def ev(etype: str, cell: str, day: int, hhmm: str, op: str | None = "OP-ADA", **p) -> None:
        seqs[cell] = seqs.get(cell, 0) + 1
        time = f"2026-11-{day:02}T{hhmm}:00.000Z"
        out.append(Event(etype, cell, p, op, time=time).with_seq(seqs[cell]))

    for step, (cell, kind, day) in enumerate(
        [("cut-01", "cut", 2), ("print-01", "print", 3), ("finish-01", "finish", 4)]
    ):
        key = {"run_id": "R-42", "step": step}
        assignment = {**key, "batch": "B0042", "sku": "MUG-BLUE", "kind": kind}
        ev("assignment_received", cell, day, "08:00", None, **key, assignment=assignment)
        ev("run_step_started", cell, day, "08:05", **key)
        if step == 0:
            ev("serials_allocated", cell, day, "08:06", scope="run:R-42", first=1, count=3,
               serials=SERIALS, run_id="R-42", batch="B0042", sku="MUG-BLUE",
               edition_size=250)  # fmt: skip
        ev("units_counted", cell, day, "09:00", **key, good=3, scrap=0)
        ev("run_step_completed", cell, day, "10:00", **key)
    ev("sample_drawn", "qa-01", 5, "08:00", batch="B0042", serials=SERIALS[1:2], n=1,
       lot_size=3, seed=1, run_id="R-42")  # fmt: skip
    ev("inspection_recorded", "qa-01", 5, "08:10", batch="B0042", serial=SERIALS[1], passed=True)
    ev("lot_judged", "qa-01", 5, "08:20", batch="B0042", accepted=True, n=1, inspected=1,
       run_id="R-42")  # fmt: skip
    return out


@dataclass
class ProvenanceSite:
    site_path: Path
    signing_key: Path
    public_key: Path
    out: Path


@pytest.fixture
async def prov_site(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[ProvenanceSite]:
    site_path = tmp_path / "central" / "site.toml"
    site_path.parent.mkdir()
    site_path.write_text(SITE_TOML.format(url=mosquitto.url, product=PRODUCT))
    private, public = keys.generate(site_path.parent / "keys" / "site.key",
                                    site_path.parent / "keys" / "site.pub")  # fmt: skip
    store = open_store(site_path.parent / "var" / "historian.db")
    store.bulk_load(_events())
    config = load_site(site_path)
    historian = Historian(store, context=SiteContext.load(config, site_path), mqtt=config.mqtt)
    await historian.start()
    await historian.wait_connected()
    try:
        yield ProvenanceSite(site_path, private, public, tmp_path / "public")
    finally:
        await historian.stop()
        store.close()


async def cli(args: list[str]) -> int:
    return await asyncio.to_thread(main, args)
