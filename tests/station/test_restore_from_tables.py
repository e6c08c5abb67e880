"""A restarting cell reads its read tables and open step only; what it restores must be
exactly what a full replay of its log gives (the way it restored before schema 4)."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellctl.config.load import load_station
from cellctl.domain.assignment import Assignment, AssignmentError
from cellctl.domain.events import Event
from cellctl.domain.states import CellState
from cellctl.station.controller import Refused, StationController
from cellctl.store.db import StoreError
from cellctl.store.schema import MIGRATIONS, _split
from cellctl.store.station_store import StationStore
from tests.station.conftest import DEMO, FakeClock, assignment
from tests.station.helpers import ACTIONS, act, snapshot


class FullReplayController(StationController):
    """The restore as it was: read tables rebuilt from the whole log, then the log
    scanned backwards for the last accepted assignment not completed."""

    def _restore(self) -> None:
        tables = self.store.read_tables()
        status = {r[0]: r for r in tables["cell_status"]}.get(self.cell)
        self.state = CellState(status[1]) if status else CellState.IDLE
        if status and status[2]:
            self.operator = self.site.operator(status[2])
        for batch, held, reason, *_ in tables["holds"]:
            if held:
                self.held_batches[batch] = reason
        for _eid, reason, _planned, _started, ended in tables["downtime"]:
            if ended is None:
                self.downtime_open = reason
        for e in reversed(self.store.events()):
            if e.type in ("run_step_completed", "run_step_released", "assignment_declined"):
                break
            if e.type == "assignment_accepted" and "assignment" in e.payload:
                try:
                    self.assignment = Assignment.from_dict(e.payload["assignment"])
                    self.assignment_accepted = True
                except AssignmentError:
                    pass
                break
        if self.state == CellState.OFFLINE:
            self.state = CellState.IDLE


OPERATORS = ("OP-ADA", "OP-QUINN")


def replayed_copy(store: StationStore, folder: Path) -> StationStore:
    """A fresh store holding the same log, its read tables built by replaying it."""
    copy = StationStore(folder / "replayed.db", store.cell)
    copy.append_many(store.events())
    return copy


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(ACTIONS, min_size=1, max_size=60))
def test_restore_from_tables_equals_a_full_replay(actions: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        shutil.copytree(DEMO, demo, ignore=shutil.ignore_patterns("var"))
        loaded = load_station(demo / "cut-01.toml")
        clock = FakeClock()
        live = StationController(loaded, StationStore(loaded.store_path(), loaded.id), clock=clock)
        live.sign_in_badge("OP-ADA")
        for action in actions:
            with contextlib.suppress(Refused, StoreError):
                act(live, action)
        live.store.close()
        restarted = StationController(
            loaded, StationStore(loaded.store_path(), loaded.id), clock=clock
        )
        reference = FullReplayController(
            loaded, replayed_copy(restarted.store, Path(tmp)), clock=clock
        )
        assert snapshot(restarted) == snapshot(reference)
        assert restarted.store.check() == []
        restarted.store.close()
        reference.store.close()


def test_an_open_step_survives_a_restart_with_its_terms(
    demo_dir: Path, clock: FakeClock, cut: StationController
) -> None:
    cut.sign_in_badge("OP-ADA")
    cut.offer_assignment(assignment(quantity=7, title="Seven mugs"))
    cut.accept_assignment()
    cut.start_step()
    cut.count_good(2)
    cut.store.close()
    loaded = load_station(demo_dir / "cut-01.toml")
    again = StationController(loaded, StationStore(loaded.store_path(), loaded.id), clock=clock)
    assert again.assignment is not None
    assert (again.assignment.quantity, again.assignment.title) == (7, "Seven mugs")
    assert again.state == CellState.RUNNING and again.counts() == (2, 0)


def test_a_store_from_before_schema_4_gains_its_open_step(tmp_path: Path) -> None:
    path = tmp_path / "cut-01.db"
    store = StationStore(path, "cut-01")
    terms = assignment()
    store.append(
        Event("assignment_accepted", "cut-01", {"run_id": "R-1", "step": 0, "assignment": terms}),
        Event("run_step_completed", "cut-01", {"run_id": "R-1", "step": 0}),
        Event("assignment_accepted", "cut-01", {"run_id": "R-100", "step": 0, "assignment": terms}),
        Event("units_counted", "cut-01", {"run_id": "R-100", "step": 0, "good": 1, "scrap": 0}),
    )
    store.close()
    # Take the file back to schema 3, as a cell running the previous cellctl left it.
    conn = sqlite3.connect(path)
    for statement in [s for m in MIGRATIONS[3:] for s in _split(m)]:
        _create, what, name, *_ = statement.split()
        conn.execute(f"DROP {what} {name}")
    conn.execute("PRAGMA user_version=3")
    conn.commit()
    conn.close()
    store = StationStore(path, "cut-01")
    assert store.conn.execute("SELECT cell, seq FROM open_step").fetchall() == [("cut-01", 3)]
    assert store.check() == []
    assert store.rebuild() == []


def test_check_catches_a_tampered_open_step(cut: StationController) -> None:
    cut.sign_in_badge("OP-ADA")
    cut.offer_assignment(assignment())
    cut.accept_assignment()
    assert cut.store.check() == []
    cut.store.conn.execute("DELETE FROM open_step")
    assert cut.store.check() == ["read table open_step differs from a rebuild of the log"]
    assert cut.store.rebuild() == ["open_step"]
    assert cut.store.check() == []


def test_check_catches_a_tampered_count_and_leaves_the_tables_as_they_were(
    cut: StationController,
) -> None:
    cut.sign_in_badge("OP-ADA")
    cut.offer_assignment(assignment())
    cut.accept_assignment()
    cut.start_step()
    cut.count_good(3)
    cut.store.conn.execute("UPDATE step_counts SET good = 30")
    assert cut.store.check() == ["read table step_counts differs from a rebuild of the log"]
    assert cut.counts() == (30, 0)  # check reports; it does not repair
    temp = cut.store.conn.execute("SELECT name FROM temp.sqlite_master").fetchall()
    assert temp == []
