"""Bounded station stores on real SQLite: only confirmed, old, sent events go; what
remains checks out; a restart after pruning restores what a never-pruned store gives."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellctl.config.load import load_station
from cellctl.domain.events import Event
from cellctl.station.controller import Refused, StationController
from cellctl.store import pruning
from cellctl.store.db import StoreError
from cellctl.store.station_store import StationStore
from tests.station.conftest import DEMO, FakeClock
from tests.station.helpers import ACTIONS, act, snapshot

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _count(cell: str, days_ago: float, good: int = 1) -> Event:
    return Event(
        "units_counted",
        cell,
        {"run_id": "R1", "step": 0, "good": good, "scrap": 0},
        time=pruning.iso(NOW - timedelta(days=days_ago)),
    )


def _store(tmp_path: Path, ages: list[float]) -> StationStore:
    store = StationStore(tmp_path / "cut-01.db", "cut-01")
    store.append_many(_count("cut-01", a) for a in ages)
    return store


def _sent(store: StationStore, through: int) -> None:
    store.mark_sent(e.id for e in store.events() if e.seq <= through)


def test_unconfirmed_events_are_never_pruned(tmp_path: Path) -> None:
    store = _store(tmp_path, [90.0] * 20)
    _sent(store, 20)
    result = pruning.prune(store.conn, retention_days=30, now=NOW)
    assert (result.pruned, store.event_count()) == (0, 20)
    assert result.limited_by == "the confirmation"
    pruning.record_confirmed(store.conn, 8)
    result = pruning.prune(store.conn, retention_days=30, now=NOW)
    assert (result.pruned, result.through_seq) == (8, 8)
    assert [e.seq for e in store.events()][:1] == [9]
    assert store.check() == []


def test_confirmed_and_old_go_young_and_unsent_stay(tmp_path: Path) -> None:
    # seq 1-10: 60 days old; 11-15: 40 days old but still in the outbox; 16-20: 5 days.
    store = _store(tmp_path, [60.0] * 10 + [40.0] * 5 + [5.0] * 5)
    before = store.read_tables()
    _sent(store, 10)
    _sent_later = [e.id for e in store.events() if e.seq > 15]
    store.mark_sent(_sent_later)
    pruning.record_confirmed(store.conn, 20)
    result = pruning.prune(store.conn, retention_days=30, now=NOW)
    assert (result.pruned, result.limited_by) == (10, "the outbox")
    _sent(store, 15)
    result = pruning.prune(store.conn, retention_days=30, now=NOW)
    assert (result.pruned, result.through_seq, result.limited_by) == (5, 15, "the retention")
    assert [e.seq for e in store.events()] == [16, 17, 18, 19, 20]
    # The read tables did not move, and a rebuild from checkpoint + log gives them again.
    assert store.read_tables() == before
    assert store.rebuild() == []
    assert store.check() == []
    rec = pruning.pruned(store.conn)
    assert (rec.events, rec.runs, rec.through_seq) == (15, 2, 15)
    assert rec.through_time == pruning.iso(NOW - timedelta(days=40))
    # Numbering goes on from the last seq, never back over the pruned range.
    (e,) = store.append(_count("cut-01", 0))
    assert e.seq == 21
    # Everything confirmed and old: the last event stays (it carries the seq on).
    _sent(store, 21)
    result = pruning.prune(store.conn, retention_days=30, now=NOW + timedelta(days=90))
    assert result.through_seq == 20 and store.event_count() == 1
    assert store.check() == []


def test_check_still_finds_a_missing_event_after_pruning(tmp_path: Path) -> None:
    store = _store(tmp_path, [60.0] * 10 + [1.0] * 10)
    _sent(store, 20)
    pruning.record_confirmed(store.conn, 20)
    pruning.prune(store.conn, retention_days=30, now=NOW)
    assert store.check() == []
    store.conn.execute("DELETE FROM events WHERE seq = 11")
    problems = store.check()
    assert any("starts at seq 12" in p and "11..11" in p for p in problems), problems
    store.conn.execute("DELETE FROM events WHERE seq = 15")
    assert any("1 gap(s)" in p for p in store.check())


def test_pruning_in_chunks_and_what_a_restart_points_at(tmp_path: Path) -> None:
    store = _store(tmp_path, [60.0] * 50)
    accepted = Event(
        "assignment_accepted",
        "cut-01",
        {"run_id": "R1", "step": 0, "assignment": {"run_id": "R1", "step": 0}},
        time=pruning.iso(NOW - timedelta(days=60)),
    )
    store.append(accepted)
    store.append_many(_count("cut-01", 59) for _ in range(10))
    before = store.read_tables()
    _sent(store, 61)
    pruning.record_confirmed(store.conn, 61)
    result = pruning.prune(store.conn, retention_days=30, now=NOW, chunk=7)
    # The open step's acceptance (seq 51) and what follows stay.
    assert (result.pruned, result.through_seq, result.limited_by) == (50, 50, "the open step")
    assert pruning.pruned(store.conn).runs == 1
    assert store.read_tables() == before
    assert store.check() == []


def test_confirmation_never_goes_back_nor_past_the_last_seq(tmp_path: Path) -> None:
    store = _store(tmp_path, [1.0] * 5)
    assert pruning.record_confirmed(store.conn, 3) == 3
    assert pruning.record_confirmed(store.conn, 2) == 3
    assert pruning.record_confirmed(store.conn, 99) == 5
    assert pruning.confirmed_seq(store.conn) == 5


def test_confirmation_names_the_event_it_holds(tmp_path: Path) -> None:
    store = _store(tmp_path, [1.0] * 5)
    ids = [e.id for e in store.events()]
    assert pruning.record_confirmed(store.conn, 3, ids[2]) == 3
    # Another history's event at seq 4, or a seq this store does not have: not taken.
    assert pruning.record_confirmed(store.conn, 4, "someone-else") == 3
    assert pruning.record_confirmed(store.conn, 9, "ev-9") == 3
    assert pruning.record_confirmed(store.conn, 5, ids[4]) == 5


def test_resend_of_a_pruned_range_is_explained(tmp_path: Path) -> None:
    store = _store(tmp_path, [60.0] * 10)
    _sent(store, 10)
    pruning.record_confirmed(store.conn, 10)
    pruning.prune(store.conn, retention_days=30, now=NOW)
    assert pruning.describe_resend(store.conn, 10, 10) is None  # the last one stays
    why = pruning.describe_resend(store.conn, 2, 9)
    assert why is not None and "seq 2..9 was pruned" in why
    assert store.requeue(2, 9) == 0  # nothing to queue, and no failure


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(ACTIONS, min_size=1, max_size=40),
    st.lists(ACTIONS, min_size=0, max_size=20),
    st.floats(min_value=0, max_value=1),
    st.integers(min_value=1, max_value=9),
)
def test_restart_after_pruning_restores_what_an_unpruned_store_gives(
    first: list[str], second: list[str], confirm_share: float, chunk: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        shutil.copytree(DEMO, demo, ignore=shutil.ignore_patterns("var"))
        loaded = load_station(demo / "cut-01.toml")
        pruned_path, whole_path = loaded.store_path(), Path(tmp) / "whole.db"
        clock = FakeClock()

        def run(path: Path, actions: list[str]) -> None:
            c = StationController(loaded, StationStore(path, loaded.id), clock=clock)
            c.sign_in_badge("OP-ADA")
            for action in actions:
                with contextlib.suppress(Refused, StoreError):
                    act(c, action)
            c.store.close()

        def prune_some() -> None:
            store = StationStore(pruned_path, loaded.id)
            last = store.last_seq()
            store.mark_sent(e.id for e in store.pending(10_000))
            pruning.record_confirmed(store.conn, round(last * confirm_share))
            pruning.prune(
                store.conn, retention_days=30, now=datetime.now(UTC) + timedelta(60), chunk=chunk
            )
            assert store.check() == []
            store.close()

        def copy_whole() -> None:
            with sqlite3.connect(pruned_path) as src, sqlite3.connect(whole_path) as dst:
                src.backup(dst)

        run(pruned_path, first)
        copy_whole()
        prune_some()
        for path in (pruned_path, whole_path):
            run(path, second)
        prune_some()
        pruned = StationController(loaded, StationStore(pruned_path, loaded.id), clock=clock)
        whole = StationController(loaded, StationStore(whole_path, loaded.id), clock=clock)
        try:
            assert snapshot(pruned) == snapshot(whole)
            # (the read tables themselves differ in times and ids: each ran `second` anew)
            assert pruned.store.check() == []
            assert pruned.store.rebuild() == []
        finally:
            pruned.store.close()
            whole.store.close()


def test_store_info_and_prune_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cellctl.cli import main

    demo = tmp_path / "demo"
    shutil.copytree(DEMO, demo, ignore=shutil.ignore_patterns("var"))
    station = demo / "cut-01.toml"
    loaded = load_station(station)
    store = StationStore(loaded.store_path(), loaded.id)
    old = datetime.now(UTC) - timedelta(days=40)
    store.append_many(
        Event("units_counted", loaded.id, {"run_id": "R1", "step": 0, "good": 1, "scrap": 0},
              time=pruning.iso(old + timedelta(minutes=i)))
        for i in range(50)
    )  # fmt: skip
    store.mark_sent(e.id for e in store.pending(40))
    pruning.record_confirmed(store.conn, 45)
    store.close()
    assert main(["store", "prune", "--station", str(station)]) == 0
    out = capsys.readouterr().out
    assert "pruned 40 events (retention 30 days)" in out and "held back by the outbox" in out
    assert main(["store", "info", "--station", str(station)]) == 0
    out = capsys.readouterr().out
    assert "events kept: 10 (seq 41..50)" in out
    assert "confirmed by the historian: through seq 45" in out
    assert "pruned: 40 events through seq 40" in out
    assert main(["store", "check", "--station", str(station)]) == 0
    assert "seq 41 on; 40 pruned" in capsys.readouterr().out
    assert main(["store", "prune", "--station", str(station), "--retention-days", "50"]) == 0
    assert "pruned 0 events (retention 50 days)" in capsys.readouterr().out
