"""`cellctl board` (and --web) finds a running demo by itself: its site and its broker,
whose port is new at every start."""

from __future__ import annotations

import argparse
from pathlib import Path

from cellctl.bus.broker_process import Mosquitto
from cellctl.commands.board import _find_demo
from cellctl.demo.locate import find_running_demo
from cellctl.demo.runner import Broker


def _args(**kw: object) -> argparse.Namespace:
    return argparse.Namespace(**{"site": None, "broker": None, "site_id": "demo", **kw})


async def test_the_board_finds_the_running_demo(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CELLCTL_DEMO_DIR", str(tmp_path))
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "site.toml").write_text('[site]\nid = "demo"\nname = "Demo"\n')
    assert find_running_demo() is None  # no demo running
    broker = Broker(tmp_path)
    await broker.start()
    try:
        found = find_running_demo()
        assert found is not None and found.broker == broker.url
        args = _args()
        _find_demo(args)
        assert (args.site, args.broker) == (str(tmp_path / "site" / "site.toml"), broker.url)
        named = _args(broker="mqtt://127.0.0.1:1")
        _find_demo(named)  # a broker named on the command line wins
        assert named.site is None
    finally:
        await broker.stop()
    assert find_running_demo() is None  # stopped: nothing to find


def test_a_killed_demo_is_not_found(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "site.toml").write_text("")
    gone = Mosquitto().start()
    (tmp_path / "broker.url").write_text(gone.url)
    gone.stop()
    assert find_running_demo(tmp_path) is None
