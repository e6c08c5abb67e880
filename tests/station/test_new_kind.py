"""A new kind of cell is one kind module and a station file: here a laser-marking cell,
defined in this test alone, runs a step through the real station runtime and controller,
takes part in a run's routing, and `config check` knows it while it is registered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cellctl.domain.run_spec import RunSpecError, parse_run
from cellctl.errors import CliError
from cellctl.site.check import check_paths
from cellctl.station.controller import Refused
from cellctl.station.runtime import StationRuntime, open_station
from stations.kind import CellKind
from stations.kinds import names, register, spec, unregister
from tests.station.conftest import assignment

MARK = CellKind("mark", drivers=("line", "none"), streams_job=False, labels_before_qa="units")

STATION = """\
[station]
id = "mark-01"
kind = "mark"
name = "Laser marker 1"
site = "site.toml"
ideal_cycle_s = 1.0

[[scanners]]
kind = "wedge"
"""


@pytest.fixture
def marking(demo_dir: Path) -> Iterator[Path]:
    register(MARK)
    station = demo_dir / "mark-01.toml"
    station.write_text(STATION)
    try:
        yield station
    finally:
        unregister("mark")


async def test_a_kind_defined_here_runs_a_step(marking: Path) -> None:
    assert "mark" in names() and spec("mark").machine_start("none", has_job=False) == "none"
    controller = open_station(marking)
    runtime = StationRuntime(controller, connect_broker=False)
    assert runtime.qa is None  # it does not inspect
    controller.sign_in_badge("OP-ADA")
    controller.offer_assignment(assignment(kind="mark", quantity=3, next_kind="qa"))
    controller.accept_assignment()
    await runtime.start_step()
    for _ in range(3):
        controller.count_good()
    assert controller.counts() == (3, 0)
    assert spec(controller.kind).labels_when_done("qa") == "units"
    controller.complete_step()
    types = [e.type for e in controller.store.events()]
    assert "run_step_completed" in types and types.count("units_counted") == 3
    # A step for another kind is refused at this cell, as at any other.
    with pytest.raises(Refused, match="this is a mark cell; that step is for a cut cell"):
        controller.offer_assignment(assignment(run_id="R-2", kind="cut"))
    controller.store.close()


def test_routing_and_config_check_know_a_registered_kind(marking: Path) -> None:
    run = {"id": "R-M", "sku": "TAG", "quantity": 5, "unit_margin": 1, "due": "2026-12-31",
           "routing": "cut>mark>qa"}  # fmt: skip
    assert parse_run(run, kinds=names()).routing == ("cut", "mark", "qa")
    with pytest.raises(RunSpecError, match="unknown cell kind 'mark'"):
        parse_run(run)  # the built-in kinds alone
    assert check_paths([marking]) == []
    unregister("mark")
    (problem,) = check_paths([marking])
    assert "station.kind: 'mark' is not a cell kind this cellctl knows" in problem
    with pytest.raises(CliError, match="'mark' is not a cell kind"):
        open_station(marking)
