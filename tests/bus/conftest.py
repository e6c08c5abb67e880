from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cellctl.bus.broker_process import Mosquitto
from cellctl.config.models import MqttConfig, Operator, SiteConfig, SiteInfo
from cellctl.demo.sim_cell import SimCell
from cellctl.scheduler import Scheduler
from cellctl.store.scheduler_store import SchedulerStore

SITE = "t"


def site_config(url: str) -> SiteConfig:
    return SiteConfig(
        site=SiteInfo(id=SITE, name="test site"),
        mqtt=MqttConfig(url=url, keepalive_s=2),
        operators=[
            Operator(name="Ada", badge="OP-ADA", role="machinist"),
            Operator(name="Quinn", badge="OP-QUINN", role="qa"),
            Operator(name="Sam", badge="OP-SAM", role="supervisor"),
        ],
    )


class Factory:
    """Builds schedulers and simulated cells against one broker; stops them all."""

    def __init__(self, broker: Mosquitto, tmp: Path) -> None:
        self.broker = broker
        self.tmp = tmp
        self.site = site_config(broker.url)
        self.started: list[Scheduler | SimCell] = []

    def scheduler_store(self) -> SchedulerStore:
        return SchedulerStore(self.tmp / "scheduler.db", synchronous="NORMAL")

    async def scheduler(self, store: SchedulerStore | None = None, **kw) -> Scheduler:
        kw.setdefault("gap_grace_s", 0.5)
        s = Scheduler(store or self.scheduler_store(), site=self.site, **kw)
        await s.start()
        await s.wait_connected()
        self.started.append(s)
        return s

    async def cell(self, cell: str, kind: str, **kw) -> SimCell:
        c = SimCell(
            self.tmp / f"{cell}.db",
            cell=cell,
            kind=kind,
            site=SITE,
            mqtt=self.site.mqtt,
            synchronous="NORMAL",
            **kw,
        )
        await c.start()
        await c.link.wait_connected()
        self.started.append(c)
        return c

    async def close(self) -> None:
        for thing in reversed(self.started):
            try:
                async with asyncio.timeout(10):
                    await thing.stop()
            except TimeoutError:
                for task in asyncio.all_tasks():
                    task.print_stack(file=sys.stderr)
                raise AssertionError(f"{thing!r} did not stop within 10 s") from None
        self.started.clear()


@pytest.fixture
async def factory(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Factory]:
    f = Factory(mosquitto, tmp_path)
    try:
        yield f
    finally:
        await f.close()
        import os

        if os.environ.get("DEBUG_TASKS"):
            await asyncio.sleep(0.5)
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    print("LEFT", task, file=sys.stderr)
                    task.print_stack(file=sys.stderr)
