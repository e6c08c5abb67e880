"""MQTT over TLS with passwords, and the shipped ACL (deploy/mosquitto/) enforced by Mosquitto.

The broker is a real Mosquitto started with deploy/mosquitto/mosquitto.conf (only its
port, file paths and logging substituted), a CA and broker certificate made in the
test, a password file made by mosquitto_passwd, and the shipped acl file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
import pytest

from cellctl.bus.cell_link import CellLink
from cellctl.bus.codec import decode_status, encode
from cellctl.bus.connection import client_kwargs
from cellctl.config.models import MqttConfig
from cellctl.domain.events import Event
from cellctl.scheduler.service import Scheduler
from cellctl.store.scheduler_store import SchedulerStore
from cellctl.store.station_store import StationStore
from tests.security.tls_broker import SecureBroker, make_certs
from tests.waiting import wait_until

BASE = "cellctl/v1/demo"


def client(cfg: MqttConfig, name: str) -> aiomqtt.Client:
    return aiomqtt.Client(**client_kwargs(cfg), identifier=f"test-{name}")


async def test_cell_events_reach_the_scheduler_and_board_over_tls(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    store = StationStore(tmp_path / "cut-01.db", "cut-01")
    link = CellLink(store, site="demo", kind="cut", mqtt=secure_broker.mqtt("cut-01"))
    assert link.mqtt.tls and link.mqtt.url.startswith("mqtts://")
    received: list[Event] = []
    arrived = asyncio.Event()

    def applied(events: list[Event]) -> None:
        received.extend(events)
        if len(received) >= 3:
            arrived.set()

    scheduler = Scheduler(
        SchedulerStore(tmp_path / "scheduler.db"),
        site="demo",
        mqtt=secure_broker.mqtt("scheduler"),
        on_applied=applied,
    )
    await scheduler.start()
    await link.start()
    try:
        await scheduler.wait_connected(10)
        await link.wait_connected(10)
        stored = store.append(
            Event("cell_started", "cut-01", {}),
            Event("operator_signed_in", "cut-01", {"badge": "OP-ADA", "role": "machinist"}),
            Event("units_counted", "cut-01", {"run_id": "R-1", "step": 0, "good": 3, "scrap": 1}),
        )
        link.notify()
        await asyncio.wait_for(arrived.wait(), 15)
        assert [e.id for e in received] == [e.id for e in stored]
        await wait_until(lambda: store.outbox_count() == 0, what="the outbox to drain")

        # The board (its own user) reads the cell's retained status through TLS too.
        async with client(secure_broker.mqtt("board"), "board") as board:
            await board.subscribe(f"{BASE}/cells/cut-01/status", qos=1)
            async for message in board.messages:
                status = decode_status(message.payload)
                break
        assert status["cell"] == "cut-01" and status["online"] is True
    finally:
        await link.stop()
        await scheduler.stop()
        store.close()


async def test_wrong_password_and_anonymous_are_refused(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    for cfg in (
        secure_broker.mqtt("cut-01", "not-the-password"),
        secure_broker.mqtt("nobody", "whatever"),
        secure_broker.mqtt(None),
    ):
        with pytest.raises(aiomqtt.MqttError) as err:
            async with client(cfg, "intruder"):
                pass
        assert "authori" in str(err.value).lower() or "password" in str(err.value).lower()

    # A CellLink with a wrong password keeps its events and reports why it is offline.
    store = StationStore(tmp_path / "cut-01.db", "cut-01")
    store.append(Event("cell_started", "cut-01", {}))
    link = CellLink(
        store, site="demo", kind="cut", mqtt=secure_broker.mqtt("cut-01", "not-the-password")
    )
    await link.start()
    try:
        await wait_until(lambda: link.last_error is not None, what="the link's refusal")
        assert not link.connected
        assert store.outbox_count() == 1
        assert link.status_line() == "offline — 1 events waiting"
    finally:
        await link.stop()
        store.close()


async def test_plain_tcp_and_an_unknown_ca_cannot_connect(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    good = secure_broker.mqtt("cut-01")
    plain = MqttConfig(
        url=good.url.replace("mqtts://", "mqtt://"), username="cut-01", password=good.password
    )
    other_ca = make_certs(tmp_path / "other")["ca"]
    wrong_ca = MqttConfig(url=good.url, username="cut-01", password=good.password, ca_file=other_ca)
    for cfg in (plain, wrong_ca):
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client(**client_kwargs(cfg), identifier="t-x", timeout=3):
                pass


async def _collect_until(sub: aiomqtt.Client, last_topic: str) -> list[str]:
    """Topics received, in order, up to and including `last_topic` (sent last)."""
    topics: list[str] = []
    async for message in sub.messages:
        topics.append(str(message.topic))
        if topics[-1] == last_topic:
            return topics
    return topics


async def test_a_cell_cannot_publish_another_cells_topics(secure_broker: SecureBroker) -> None:
    forged = {
        f"{BASE}/cells/print-01/status": {
            "v": 1,
            "cell": "print-01",
            "state": "down",
            "online": True,
        },
        f"{BASE}/cells/print-01/events": {"schema": 1},
        f"{BASE}/cells/print-01/assign": {
            "v": 1,
            "assign_id": "A-x",
            "run_id": "R-x",
            "step": 0,
            "quantity": 1,
        },
        f"{BASE}/cells/cut-01/assign": {
            "v": 1,
            "assign_id": "A-self",
            "run_id": "R-self",
            "step": 0,
            "quantity": 1,
        },
        f"{BASE}/scheduler/command": {
            "v": 1,
            "action": "cancel",
            "badge": "OP-SAM",
            "run_id": "R-1",
        },
        f"{BASE}/scheduler/queue": {"v": 1, "runs": []},
        f"{BASE}/holds": {"v": 1, "holds": {"B1": {"held": False, "reason": "forged"}}},
        f"{BASE}/runs/submit": {"v": 1, "sku": "X"},
    }
    legit = f"{BASE}/cells/cut-01/status"
    async with (
        client(secure_broker.mqtt("scheduler"), "sched") as sched,
        client(secure_broker.mqtt("cut-01"), "cut") as cut,
    ):
        await sched.subscribe(f"{BASE}/#", qos=1)
        for topic, body in forged.items():
            await cut.publish(topic, encode(body), qos=1)
        await cut.publish(
            legit, encode({"v": 1, "cell": "cut-01", "state": "idle", "online": True}), qos=1
        )
        topics = await asyncio.wait_for(_collect_until(sched, legit), 10)
    # Mosquitto delivers one publisher's messages in order: had any forged one
    # passed the ACL it would have arrived before the legitimate status.
    assert topics == [legit]


async def test_a_cell_reads_only_its_own_assignments_and_the_holds(
    secure_broker: SecureBroker,
) -> None:
    async with (
        client(secure_broker.mqtt("scheduler"), "sched") as sched,
        client(secure_broker.mqtt("cut-01"), "cut") as cut,
    ):
        await cut.subscribe(f"{BASE}/cells/+/assign", qos=1)
        await cut.subscribe(f"{BASE}/cells/+/resend", qos=1)
        await cut.subscribe(f"{BASE}/holds", qos=1)
        body = {"v": 1, "assign_id": "A-1", "run_id": "R-1", "step": 0, "quantity": 1}
        await sched.publish(f"{BASE}/cells/print-01/assign", encode(body), qos=1)
        await sched.publish(f"{BASE}/cells/print-01/resend", encode({"v": 1}), qos=1)
        await sched.publish(f"{BASE}/holds", encode({"v": 1, "holds": {}}), qos=1)
        await sched.publish(f"{BASE}/cells/cut-01/assign", encode(body), qos=1)
        topics = await asyncio.wait_for(_collect_until(cut, f"{BASE}/cells/cut-01/assign"), 10)
    # Every cell hears the holds; only its own assignments.
    assert topics == [f"{BASE}/holds", f"{BASE}/cells/cut-01/assign"]


async def test_the_board_may_only_send_scheduler_commands(secure_broker: SecureBroker) -> None:
    command = f"{BASE}/scheduler/command"
    async with (
        client(secure_broker.mqtt("scheduler"), "sched") as sched,
        client(secure_broker.mqtt("board"), "board") as board,
    ):
        await sched.subscribe(f"{BASE}/#", qos=1)
        body = {"v": 1, "assign_id": "A-1", "run_id": "R-1", "step": 0, "quantity": 1}
        await board.publish(f"{BASE}/cells/cut-01/assign", encode(body), qos=1)
        await board.publish(f"{BASE}/cells/cut-01/status", encode({"v": 1}), qos=1)
        await board.publish(f"{BASE}/runs/submit", encode({"v": 1}), qos=1)
        await board.publish(f"{BASE}/board/ack/cell_stale/cut-01", encode({"v": 1}), qos=1)
        await board.publish(
            command,
            encode({"v": 1, "action": "cancel", "badge": "OP-SAM", "run_id": "R-1"}),
            qos=1,
        )
        topics = await asyncio.wait_for(_collect_until(sched, command), 10)
    assert topics == [f"{BASE}/board/ack/cell_stale/cut-01", command]


async def test_the_board_feed_sees_cells_over_tls(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    from cellctl.board.feed import BoardFeed

    store = StationStore(tmp_path / "cut-01.db", "cut-01")
    link = CellLink(store, site="demo", kind="cut", mqtt=secure_broker.mqtt("cut-01"))
    board = BoardFeed("demo", secure_broker.mqtt("board"))
    await board.start()
    await link.start()
    try:
        await board.wait_connected(10)
        await link.wait_connected(10)
        stored = store.append(Event("cell_started", "cut-01", {}))
        link.notify()
        await wait_until(
            lambda: "cut-01" in board.cells and any(e.id == stored[0].id for e in board.events),
            what="the board to see cut-01 and its event",
        )
        assert board.cells["cut-01"].online
    finally:
        await link.stop()
        await board.stop()
        store.close()
