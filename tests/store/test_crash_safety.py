"""SIGKILL a process appending events and allocating serials, 50 times, and check
that nothing it reported committed was lost and no serial was issued twice."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from cellctl.store.station_store import StationStore

ROOT = Path(__file__).resolve().parents[2]
KILLS = 50


def _run_and_kill(db: Path, seed: int, rng: random.Random) -> tuple[list[str], list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.store.crash_child", str(db), str(seed)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    time.sleep(rng.uniform(0.0, 0.15))  # the kill moment itself is what is random here
    child.send_signal(signal.SIGKILL)
    out, _ = child.communicate()
    assert child.returncode == -signal.SIGKILL
    events: list[str] = []
    serials: list[str] = []
    for line in out.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by the kill was never a complete report
        events.extend(record.get("events", []))
        serials.extend(record.get("serials", []))
    return events, serials


def test_fifty_kills_lose_nothing_and_reuse_no_serial(tmp_path: Path) -> None:
    db = tmp_path / "cut-01.db"
    rng = random.Random(20261122)
    reported_events: list[str] = []
    reported_serials: list[str] = []
    for i in range(KILLS):
        events, serials = _run_and_kill(db, seed=i, rng=rng)
        reported_events += events
        reported_serials += serials

    assert len(reported_events) > KILLS, "the child should have committed work before kills"
    assert reported_serials, "the child should have allocated serials"
    store = StationStore(db, "cut-01")
    stored = store.events()
    ids = {e.id for e in stored}
    missing = [e for e in reported_events if e not in ids]
    assert missing == []

    issued = [s for e in stored if e.type == "serials_allocated" for s in e.payload["serials"]]
    assert len(issued) == len(set(issued)), "a serial was issued twice"
    assert set(reported_serials) <= set(issued)
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))

    before = store.read_tables()
    store.rebuild()
    assert store.read_tables() == before
    assert store.check() == []
