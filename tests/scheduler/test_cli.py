"""`cellctl runs ...` asks the running scheduler over the bus: clear errors for unknown
runs, bad fields and missing rights, and a clear message when nobody answers."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cellctl.bus.broker_process import Mosquitto
from cellctl.cli import main
from cellctl.config.load import load_site
from cellctl.scheduler import Scheduler
from cellctl.store.scheduler_store import SchedulerStore

ROOT = Path(__file__).resolve().parents[2]


class SchedulerThread:
    """The scheduler service on an event loop of its own, as on the central machine, so
    the command line's own `asyncio.run` can ask it from the test's thread."""

    def __init__(self, site_path: Path, url: str, db: Path) -> None:
        site = load_site(site_path)
        site = site.model_copy(update={"mqtt": site.mqtt.model_copy(update={"url": url})})
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.store: SchedulerStore | None = None

        async def start() -> Scheduler:
            self.store = SchedulerStore(db, synchronous="NORMAL")
            s = Scheduler(self.store, site=site, plan=False)
            await s.start()
            await s.wait_connected()
            return s

        self.scheduler = self._call(start())

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def stop(self) -> None:
        self._call(self.scheduler.stop())
        if self.store is not None:
            self.store.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def site(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[list[str]]:
    shutil.copy(ROOT / "stations/demo/site.toml", tmp_path / "site.toml")
    sched = SchedulerThread(tmp_path / "site.toml", mosquitto.url, tmp_path / "scheduler.db")
    try:
        yield ["--site", str(tmp_path / "site.toml"), "--url", mosquitto.url]
    finally:
        sched.stop()


def _submit(site: list[str], run_id: str, *extra: str) -> int:
    fields = ["--sku", "MUG", "--quantity", "4", "--margin", "2", "--due", "2026-12-01T09:00Z"]
    return main(["runs", "submit", *site, "--id", run_id, *fields, "--routing", "cut>qa", *extra])


def test_runs_commands(site: list[str], capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert _submit(site, "R1") == 0
    assert "queued run R1" in capsys.readouterr().out
    assert _submit(site, "R1") == 1
    assert "exists already" in capsys.readouterr().err
    assert main(["runs", "submit", *site, "--id", "R2", "--sku", "MUG", "--quantity", "0",
                 "--margin", "x", "--due", "soon", "--routing", "cut>weld"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    for part in ("quantity must be at least 1", "unit_margin", "due 'soon'", "'weld'"):
        assert part in err
    assert "Traceback" not in err
    assert main(["runs", "prioritise", *site, "R1", "3", "--by", "OP-ADA"]) == 1
    assert "may not prioritise" in capsys.readouterr().err
    assert main(["runs", "prioritise", *site, "NOPE", "3", "--by", "OP-SAM"]) == 1
    assert "no run 'NOPE'" in capsys.readouterr().err
    assert main(["runs", "prioritise", *site, "R1", "3", "--by", "OP-SAM"]) == 0
    assert "run R1 priority 3" in capsys.readouterr().out
    csv = tmp_path / "plan.csv"
    csv.write_text(
        "id,sku,quantity,unit_margin,due,routing\n"
        "C1,CUP,5,2,2026-12-01T10:00Z,print>qa\n"
        "C2,CUP,-1,2,2026-12-01,qa\n"
    )
    assert main(["runs", "import", *site, str(csv)]) == 1
    assert "plan.csv:3: quantity" in capsys.readouterr().err
    good = tmp_path / "good.csv"
    good.write_text(
        "id,sku,quantity,unit_margin,due,routing\n"
        "C1,CUP,5,2,2026-12-01T10:00Z,print>qa\n"
        "R1,CUP,5,2,2026-12-01T10:00Z,print>qa\n"
    )
    assert main(["runs", "import", *site, str(good)]) == 1  # R1 is taken: nothing imported
    assert "run 'R1' exists already" in capsys.readouterr().err
    assert main(["runs", "list", *site, "--json"]) == 0
    rows = __import__("json").loads(capsys.readouterr().out)
    assert [(r["id"], r["manual_priority"]) for r in rows] == [("R1", 3)]
    assert main(["runs", "cancel", *site, "R1", "--by", "OP-SAM"]) == 0
    assert "run R1 cancelled" in capsys.readouterr().out
    assert main(["runs", "cancel", *site, "R1", "--by", "OP-SAM"]) == 1
    assert "cancelled already" in capsys.readouterr().err
    # Forensics on one machine: the store file read in place, orders refused there.
    db = ["--db", str(tmp_path / "scheduler.db")]
    assert main(["runs", "show", *site, *db, "R1"]) == 0
    assert '"status": "cancelled"' in capsys.readouterr().out
    assert main(["runs", "cancel", *site, *db, "R1", "--by", "OP-SAM"]) == 1
    assert "orders go to the running scheduler" in capsys.readouterr().err


def test_nobody_answering_is_said(tmp_path: Path, mosquitto: Mosquitto, capsys) -> None:
    shutil.copy(ROOT / "stations/demo/site.toml", tmp_path / "site.toml")
    site = ["--site", str(tmp_path / "site.toml"), "--url", mosquitto.url, "--timeout", "0.5"]
    assert main(["runs", "list", *site]) == 1
    err = capsys.readouterr().err
    assert "the scheduler at" in err and "did not answer within 0.5 s" in err
    assert "cellctl scheduler run" in err
