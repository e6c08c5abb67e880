"""The board app on a real Mosquitto with a real scheduler and simulated cells."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cellctl.board.feed import BoardFeed
from cellctl.bus.broker_process import Mosquitto
from cellctl.domain.run_spec import parse_run
from cellctl.tui.board.app import BoardApp
from cellctl.tui.board.screens import CellScreen, RunScreen
from tests.board.conftest import SITE, Floor, run_spec, site_config
from tests.board.screen_text import svg_text
from tests.waiting import wait_until


def screen(app: BoardApp) -> str:
    return svg_text(app.export_screenshot())


async def test_cells_run_through_and_show_on_the_grid(floor: Floor) -> None:
    store = floor.scheduler_store()
    store.add_run(parse_run(run_spec("R1", "cut>print", quantity=6)))
    await floor.scheduler(store)
    feed = BoardFeed(floor.site)
    app = BoardApp(feed)
    async with app.run_test(size=(150, 40)) as pilot:
        await feed.wait_connected()
        await floor.cell("cut-01", "cut", cycle_s=0.01)
        await floor.cell("print-01", "print", cycle_s=0.01, scrap_every=3)
        await wait_until(lambda: store.run("R1")["status"] == "done", 20, "run R1 done")
        await wait_until(lambda: feed.cells["print-01"].event_good == 4, 10, "board counted")
        await wait_until(lambda: "good 4 scrap 2" in screen(app),
                         10, "print-01's counts on screen")  # fmt: skip
        # Statuses come on their own (coalesced) schedule: wait for both to say idle.
        await wait_until(lambda: "cut-01 IDLE" in screen(app) and "print-01 IDLE" in screen(app),
                         10, "both cells idle on screen")  # fmt: skip
        text = screen(app)
        # print-01 gets the 6 cut made and scraps every third (units conserved, issue 16).
        assert "yield 67%" in text  # 4 good of 6 made at print-01
        app.grid.focus()
        app.grid.select("cut-01")
        await pilot.press("right", "enter")
        assert isinstance(app.screen, CellScreen)
        await pilot.pause()
        drill = screen(app)
        assert "run_step_completed" in drill and "units_counted" in drill
        await pilot.press("escape")
        await pilot.press("r")
        await pilot.press(*"R1", "enter")
        assert isinstance(app.screen, RunScreen)
        await pilot.pause()
        rows = [line for line in screen(app).splitlines() if " done " in line]
        assert len(rows) == 2 and "cut-01" in rows[0] and "print-01" in rows[1]


async def test_reprioritise_round_trip_through_the_scheduler(floor: Floor) -> None:
    store = floor.scheduler_store()
    # No print cell: both runs wait in the queue, R-A first on margin and due date.
    store.add_run(parse_run(run_spec("R-A", "print", margin=50.0, due_h=2)))
    store.add_run(parse_run(run_spec("R-B", "print", margin=1.0, due_h=30)))
    sched = await floor.scheduler(store)
    feed = BoardFeed(floor.site)
    app = BoardApp(feed)

    def order() -> list[str]:
        return [r.run_id for r in feed.queue()]

    async with app.run_test(size=(160, 40)) as pilot:
        await feed.wait_connected()
        await wait_until(lambda: order() == ["R-A", "R-B"], 10, "queue R-A, R-B")
        await pilot.press("2")
        await pilot.pause()
        assert "margin 250 at stake" in screen(app)  # 50 × 5 units × SLA 1
        await pilot.press("down")  # the cursor on R-B
        # A machinist may not: the board refuses and sends nothing.
        await pilot.press("p", "enter", "enter", *"OP-ADA", "enter")
        await pilot.pause()
        assert store.command_log() == []
        await pilot.press("p", "enter", "enter", *"OP-SAM", "enter")
        await wait_until(lambda: order() == ["R-B", "R-A"], 10, "the board shows R-B first")
        assert store.run("R-B")["manual_priority"] == 10
        assert [(a, b, ok) for _, a, b, ok, _ in store.command_log()] == [
            ("prioritise", "OP-SAM", 1)
        ]

        def first_row() -> str:
            return next(ln for ln in screen(app).splitlines() if "R-A" in ln or "R-B" in ln)

        await wait_until(lambda: "R-B" in first_row(), 5, "R-B first on screen")
        assert "manual priority 10" in first_row()
    assert sched.dropped == 0


async def test_the_scheduler_checks_the_role_again(floor: Floor) -> None:
    store = floor.scheduler_store()
    store.add_run(parse_run(run_spec("R-A", "print")))
    await floor.scheduler(store)
    feed = BoardFeed(SITE, floor.site.mqtt)  # no operator list here: only the scheduler checks
    await feed.start()
    try:
        await feed.wait_connected()
        await feed.command("cancel", "OP-ADA", run_id="R-A")
        await wait_until(lambda: len(store.command_log()) == 1, 10, "the command logged")
        assert store.command_log()[0][3] == 0  # refused
        assert store.run("R-A")["status"] == "queued"
    finally:
        await feed.stop()


async def test_a_cell_that_stops_sending_shows_stale(mosquitto: Mosquitto, tmp_path: Path) -> None:
    site = site_config(mosquitto.url)
    feed = BoardFeed(site, stale_after_s=3.0)
    app = BoardApp(feed)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cellctl.demo.sim_cell", "--store", str(tmp_path / "c.db"),
         "--cell", "cut-07", "--kind", "cut", "--site", SITE, "--url", mosquitto.url,
         "--keepalive", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        async with app.run_test(size=(150, 30)):
            await feed.wait_connected()
            await wait_until(lambda: "cut-07" in feed.cells and feed.cells["cut-07"].online, 10)
            await wait_until(lambda: "cut-07 IDLE" in screen(app), 5, "cut-07 idle on screen")
            proc.send_signal(signal.SIGSTOP)  # alive to the broker (keepalive 60 s), but silent
            stopped = time.monotonic()
            await wait_until(lambda: "cut-07 STALE" in screen(app), 8, "cut-07 stale on screen")
            took = time.monotonic() - stopped
            assert took < 3.0 + 2.0 + 1.5, took  # stale_after + one heartbeat + the 1 s tick
            assert ("cell_stale", "cut-07") in {a.key for a in feed.alerts.open()}
            assert feed.cells["cut-07"].online  # the broker never said offline
            proc.send_signal(signal.SIGCONT)
            await wait_until(lambda: "cut-07 IDLE" in screen(app), 8, "cut-07 back")
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


async def test_an_acknowledgement_reaches_every_board(publisher, broker_mqtt) -> None:
    boards = [BoardFeed(SITE, broker_mqtt) for _ in range(2)]
    for b in boards:
        await b.start()
    try:
        for b in boards:
            await b.wait_connected()
        await publisher.status("cut-09", "down")
        key = ("cell_down", "cut-09")
        await wait_until(lambda: all(key in b.alerts.items for b in boards), 10, "alert raised")
        assert boards[0].acknowledge(key, "OP-SAM")
        await wait_until(lambda: boards[1].alerts.items[key].acked_by == "OP-SAM", 10, "shared")
        late = BoardFeed(SITE, broker_mqtt)  # starts after the ack: the retained ack applies
        boards.append(late)
        await late.start()
        await wait_until(lambda: key in late.alerts.items and late.alerts.items[key].acked_by
                         == "OP-SAM", 10, "the late board has the alert, acknowledged")  # fmt: skip
        assert late.alerts.open() == []
        # Up again, then down again: a new alert that nobody has acknowledged yet.
        await publisher.status("cut-09", "idle")
        await wait_until(lambda: all(key not in b.alerts.items for b in boards), 10, "cleared")
        await wait_until(lambda: all(key not in b.alerts.shared for b in boards), 10, "unshared")
        await publisher.status("cut-09", "down")
        await wait_until(lambda: all(key in b.alerts.items for b in boards), 10, "raised again")
        assert [b.alerts.items[key].acked_by for b in boards] == [None, None, None]
    finally:
        for b in boards:
            await b.stop()


async def test_cancel_and_release_round_trip_through_the_scheduler(floor: Floor) -> None:
    """A supervisor's cancel and hold release go board -> scheduler; the release comes
    back on the retained holds topic that every station applies."""
    import asyncio

    import aiomqtt

    from cellctl.bus.codec import decode_holds
    from cellctl.bus.topics import Topics

    store = floor.scheduler_store()
    store.add_run(parse_run(run_spec("R-A", "print")))
    store.add_run(parse_run(run_spec("R-B", "print", batch="B-7")))
    store.set_hold("B-7", True, "lot rejected at QA", "OP-QUINN")
    sched = await floor.scheduler(store)
    feed = BoardFeed(floor.site)
    await feed.start()
    heard: list[dict[str, tuple[bool, str]]] = []
    async with aiomqtt.Client("127.0.0.1", floor.broker.port, identifier="a-station") as station:
        await station.subscribe(Topics(SITE).holds, qos=1)

        async def listen() -> None:
            async for message in station.messages:
                heard.append(decode_holds(message.payload))
                if heard[-1].get("B-7", (True, ""))[0] is False:
                    return

        listener = asyncio.create_task(listen())
        try:
            await feed.wait_connected()
            await feed.command("cancel", "OP-SAM", run_id="R-A")
            await feed.command("release_hold", "OP-SAM", batch="B-7", reason="reworked")
            await asyncio.wait_for(listener, 10)
        finally:
            listener.cancel()
            await feed.stop()
    assert heard[0]["B-7"] == (True, "lot rejected at QA")  # the retained copy first
    assert heard[-1]["B-7"] == (False, "reworked")
    assert store.run("R-A")["status"] == "cancelled"
    assert store.holds() == {"B-7": False}
    assert [(a, b, ok) for _, a, b, ok, _ in store.command_log()] == [
        ("cancel", "OP-SAM", 1),
        ("release_hold", "OP-SAM", 1),
    ]
    assert sched.dropped == 0
