"""`cellctl outbox`: what waits for the broker, and queueing sent events again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cellctl.cli import main
from cellctl.config.load import load_station
from cellctl.domain.events import Event
from cellctl.store.station_store import StationStore


@pytest.fixture
def station(demo_dir: Path) -> tuple[Path, StationStore]:
    path = demo_dir / "cut-01.toml"
    loaded = load_station(path)
    store = StationStore(loaded.store_path(), loaded.id)
    store.append(Event("cell_started", "cut-01", {}))
    for n in range(5):
        store.append(
            Event(
                "units_counted",
                "cut-01",
                {"run_id": "R-1", "step": 0, "good": n, "scrap": 0},
            )
        )
    yield path, store
    store.close()


def test_list_shows_count_range_age_and_types(station, capsys) -> None:
    path, store = station
    store.mark_sent([e.id for e in store.pending(2)])  # seq 1 and 2 went out

    assert main(["outbox", "--station", str(path)]) == 0
    out = capsys.readouterr().out
    assert "4 events waiting, seq 3..6" in out
    assert "oldest queued" in out and " s ago" in out
    assert "4  units_counted" in out

    assert main(["outbox", "list", "--station", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["count"] == 4
    assert (summary["first_seq"], summary["last_seq"]) == (3, 6)
    assert summary["by_type"] == {"units_counted": 4}
    assert summary["last_event_seq"] == 6


def test_empty_outbox_says_so(station, capsys) -> None:
    path, store = station
    store.mark_sent([e.id for e in store.pending(100)])
    assert main(["outbox", "--station", str(path)]) == 0
    assert "the outbox is empty (last event seq 6)" in capsys.readouterr().out


def test_resend_requeues_sent_events_in_order(station, capsys) -> None:
    path, store = station
    store.mark_sent([e.id for e in store.pending(100)])
    assert store.outbox_count() == 0

    assert main(["outbox", "resend", "--station", str(path), "--from", "2", "--to", "4"]) == 0
    assert "queued 3 events (seq 2..4)" in capsys.readouterr().out
    assert [e.seq for e in store.pending(100)] == [2, 3, 4]

    # Overlapping ranges do not queue an event twice; --to defaults to the newest.
    assert main(["outbox", "resend", "--station", str(path), "--from", "4"]) == 0
    out = capsys.readouterr().out
    assert "queued 2 events (seq 4..6)" in out and "1 were still waiting" in out
    assert [e.seq for e in store.pending(100)] == [2, 3, 4, 5, 6]


def test_resend_refuses_nonsense_ranges(station, capsys) -> None:
    path, store = station
    assert main(["outbox", "resend", "--station", str(path), "--from", "5", "--to", "2"]) == 1
    assert "is not a range" in capsys.readouterr().err
    assert main(["outbox", "resend", "--station", str(path), "--from", "99"]) == 1
    assert "newest event is seq 6" in capsys.readouterr().err
    assert main(["outbox", "list", "--station", str(path), "--from", "2"]) == 1
    assert "go with `resend`" in capsys.readouterr().err
    assert store.outbox_count() == 6  # nothing changed


def test_missing_station_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["outbox", "--station", str(tmp_path / "nope.toml")]) == 1
    assert "file not found" in capsys.readouterr().err
