"""The real floor on one computer: every cell in a folder of its own, the scheduler and the
historian on the central machine's folder, the board's machine with the site file only,
and the broker the only link. A batch is cut, printed, finished, sampled and passed at QA
on another "machine" (which learned its serials from the historian), then traced and
reported from the board's machine by a process that cannot see any other folder."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cellctl.demo.runner import Demo, DemoOptions
from cellctl.domain import codes
from cellctl.labels import keys

ROOT = Path(__file__).resolve().parents[2]
KINDS = ["cut", "print", "finish", "qa"]


def _hidden_from(folders: list[Path]) -> list[str] | None:
    """A command prefix that runs a program with `folders` replaced by empty ones in a
    mount namespace of its own (the board's machine has none of them), or None where
    this runner may not make one."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        return None
    probe = subprocess.run([unshare, "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        return None
    mounts = " && ".join(f"mount -t tmpfs none '{f}'" for f in folders)
    return [
        unshare,
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        f'{mounts} && exec "$@"',
        "-",
    ]


def _accepted_batch(demo: Demo) -> str | None:
    """A batch QA accepted whose run went through all four kinds of cell."""
    qa = demo.controllers["qa-01"]
    for (payload,) in qa.store.conn.execute(
        "SELECT payload FROM events WHERE type = 'lot_judged' ORDER BY seq"
    ):
        lot = json.loads(payload)
        if lot.get("accepted") and str(lot.get("batch", "")).startswith(("B-FOX", "B-TOTE")):
            return lot["batch"]
    return None


async def test_a_batch_made_on_four_machines_is_traced_from_the_board(tmp_path: Path) -> None:
    work = tmp_path / "floor"
    demo = Demo(DemoOptions(workdir=work, down_cell=None, reject_batch=None, log=lambda _: None))
    await demo.start()
    try:
        async with asyncio.timeout(150):
            while (batch := _accepted_batch(demo)) is None:
                await asyncio.sleep(0.5)
        # QA had no file of the cells that issued the serials: the historian gave them.
        qa_folder = work / "cells" / "qa-01"
        assert sorted(p.name for p in qa_folder.rglob("*.db")) == ["qa-01.db", "qa-01.labels.db"]
        cached = (
            demo.controllers["qa-01"]
            .store.conn.execute("SELECT serials FROM qa_batch_cache WHERE batch = ?", (batch,))
            .fetchone()
        )
        assert cached is not None and json.loads(cached[0])

        # The board's machine: its site file, the broker's address, nothing else.
        board_site = work / "board" / "site.toml"
        hide = _hidden_from([work / "cells", work / "site"])
        prefix = hide or []
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        async def cellctl(*args: str) -> subprocess.CompletedProcess[str]:
            # In a thread: the demo's historian answers from this test's event loop.
            return await asyncio.to_thread(
                subprocess.run, [*prefix, sys.executable, "-m", "cellctl", *args],
                cwd=work / "board", capture_output=True, text=True, timeout=60, env=env,
            )  # fmt: skip

        site = ["--site", str(board_site), "--url", demo.broker.url]
        if hide is not None:  # the namespace works: the other folders look empty from there
            seen = await cellctl("config", "check", str(work / "cells" / "qa-01" / "qa-01.toml"))
            assert seen.returncode != 0 and "file not found" in seen.stdout + seen.stderr
        traced = await cellctl("trace", *site, "--json", batch)
        assert traced.returncode == 0, traced.stderr
        genealogy = json.loads(traced.stdout)
        kinds = {s["kind"] for s in genealogy["steps"] if s.get("kind")}
        cells = {s["cell"] for s in genealogy["steps"]}
        assert set(KINDS) <= kinds or {"cut-01", "finish-01", "qa-01"} <= cells, genealogy["steps"]
        assert any(lot["accepted"] for lot in genealogy["lots"]), genealogy["lots"]
        assert genealogy["samples"], "the sample QA drew is part of the batch's story"
        unit = genealogy["units"][0]
        one = await cellctl("trace", *site, "--json", unit)
        assert one.returncode == 0, one.stderr
        assert json.loads(one.stdout)["batch"] == batch
        today = datetime.now(UTC).date()
        # `verify` on the board's machine: genuine offline, its story from the historian.
        code = codes.encode_unit(unit, keys.load_private(work / "site" / "keys" / "site.key"))
        verified = await cellctl("verify", *site, "--history", code)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert verified.stdout.startswith("GENUINE"), verified.stdout
        assert f"batch {batch}" in verified.stdout and "QA accepted" in verified.stdout
        day = ["--from", str(today - timedelta(days=1)), "--to", str(today + timedelta(days=1))]
        report = await cellctl("report", *site, *day, "--table", "counts")
        assert report.returncode == 0, report.stderr
        counted = {r["cell"] for r in json.loads(report.stdout)["counts"]}
        assert {"cut-01", "qa-01"} <= counted
    finally:
        await demo.stop()
