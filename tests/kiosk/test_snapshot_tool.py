"""The snapshot comparison itself: a missing or changed screen fails unless asked to
update."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kiosk.snapshot import UPDATE_ENV, compare_snapshot


def test_a_missing_snapshot_fails_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(UPDATE_ENV, raising=False)
    with pytest.raises(AssertionError, match="no stored screen"):
        compare_snapshot("screen\n", "new", tmp_path)
    assert not (tmp_path / "new.txt").exists()


def test_a_changed_snapshot_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UPDATE_ENV, raising=False)
    (tmp_path / "s.txt").write_text("old\n")
    with pytest.raises(AssertionError, match="screen differs"):
        compare_snapshot("new\n", "s", tmp_path)
    compare_snapshot("old\n", "s", tmp_path)


def test_update_env_writes_the_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(UPDATE_ENV, "1")
    compare_snapshot("screen\n", "new", tmp_path)
    assert (tmp_path / "new.txt").read_text() == "screen\n"
