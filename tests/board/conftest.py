from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from cellctl.bus.broker_process import Mosquitto
from cellctl.bus.codec import encode
from cellctl.bus.topics import Topics
from cellctl.config.models import MqttConfig, Operator, SiteConfig, SiteInfo
from cellctl.demo.sim_cell import SimCell
from cellctl.domain.events import Event
from cellctl.scheduler import Scheduler
from cellctl.store.scheduler_store import SchedulerStore
from tests.fixtures.broker import mosquitto  # noqa: F401  (the fixture)

SITE = "t"
TOPICS = Topics(SITE)


def site_config(url: str = "mqtt://127.0.0.1:1883") -> SiteConfig:
    return SiteConfig(
        site=SiteInfo(id=SITE, name="test site"),
        mqtt=MqttConfig(url=url, keepalive_s=2),
        operators=[
            Operator(name="Ada", badge="OP-ADA", role="machinist"),
            Operator(name="Quinn", badge="OP-QUINN", role="qa"),
            Operator(name="Sam", badge="OP-SAM", role="supervisor"),
        ],
    )


def status(cell: str, state: str = "idle", *, online: bool = True, **fields: Any) -> bytes:
    body = {"v": 1, "cell": cell, "kind": "cut", "state": state, "online": online,
            "time": "2026-01-05T08:00:00.000Z", **fields}  # fmt: skip
    return encode(body)


def event(cell: str, etype: str, seq: int, **payload: Any) -> Event:
    return Event(etype, cell, payload, operator="OP-ADA", seq=seq, time="2026-01-05T08:00:00.000Z")


class Publisher:
    """A plain MQTT client for tests: publishes what a cell or the scheduler would."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client

    async def status(self, cell: str, state: str = "idle", **kw: Any) -> None:
        await self.client.publish(
            TOPICS.cell_status(cell), status(cell, state, **kw), qos=1, retain=True
        )

    async def event(self, e: Event) -> None:
        await self.client.publish(TOPICS.cell_events(e.cell), encode(e.to_dict()), qos=1)

    async def raw(self, topic: str, payload: bytes, retain: bool = False) -> None:
        await self.client.publish(topic, payload, qos=1, retain=retain)


@pytest.fixture
async def publisher(mosquitto: Mosquitto) -> AsyncIterator[Publisher]:  # noqa: F811
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        yield Publisher(client)


@pytest.fixture
def broker_mqtt(mosquitto: Mosquitto) -> MqttConfig:  # noqa: F811
    return MqttConfig(url=mosquitto.url, keepalive_s=2)


class Floor:
    """A scheduler and simulated cells on one broker, stopped together."""

    def __init__(self, broker: Mosquitto, tmp: Path) -> None:
        self.broker = broker
        self.tmp = tmp
        self.site = site_config(broker.url)
        self.db = tmp / "scheduler.db"
        self.started: list[Any] = []

    def scheduler_store(self) -> SchedulerStore:
        return SchedulerStore(self.db, synchronous="NORMAL")

    async def scheduler(self, store: SchedulerStore) -> Scheduler:
        s = Scheduler(store, site=self.site, gap_grace_s=0.5)
        await s.start()
        await s.wait_connected()
        self.started.append(s)
        return s

    async def cell(self, cell: str, kind: str, **kw: Any) -> SimCell:
        c = SimCell(self.tmp / f"{cell}.db", cell=cell, kind=kind, site=SITE,
                    mqtt=self.site.mqtt, synchronous="NORMAL", **kw)  # fmt: skip
        await c.start()
        await c.link.wait_connected()
        self.started.append(c)
        return c

    async def close(self) -> None:
        for thing in reversed(self.started):
            await thing.stop()


@pytest.fixture
async def floor(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Floor]:  # noqa: F811
    f = Floor(mosquitto, tmp_path)
    try:
        yield f
    finally:
        await f.close()


def run_spec(run_id: str, routing: str, *, quantity: int = 5, margin: float = 4.0,
             due_h: float = 1.0, **kw: Any) -> dict[str, Any]:  # fmt: skip
    due = (datetime.now(UTC) + timedelta(hours=due_h)).isoformat()
    return {"id": run_id, "sku": "MUG", "quantity": quantity, "unit_margin": margin, "due": due,
            "routing": routing, "cycle_s": 0.02, **kw}  # fmt: skip
