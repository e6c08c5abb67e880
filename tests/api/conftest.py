"""The API against real parts: Mosquitto, the site historian (SQLite), the scheduler, and
uvicorn on a free loopback port, spoken to with httpx."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from cellctl.api.app import create_app
from cellctl.bus.broker_process import Mosquitto
from cellctl.config.api import ApiConfig, ApiToken, Webhook
from cellctl.config.models import MqttConfig, Operator, SiteConfig, SiteInfo
from cellctl.historian.answers import SiteContext
from cellctl.historian.backends import open_store
from cellctl.historian.service import Historian
from cellctl.scheduler.service import Scheduler
from cellctl.store.scheduler_store import SchedulerStore

SITE = "apit"
TOKENS = {"viewer": "view-secret", "planner": "plan-secret", "supervisor": "boss-secret",
          "machinist": "mach-secret"}  # fmt: skip
HOOK_SECRET = "hook-secret-123"
RUN_BODY = {"sku": "MUG-FOX", "quantity": 5, "unit_margin": 4.5, "due": "2026-12-24T12:00:00Z",
            "routing": ["cut", "qa"], "title": "Fox mug"}  # fmt: skip


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def site_config(url: str, tmp: Path, hook_url: str | None = None) -> SiteConfig:
    api = ApiConfig(
        state_db=tmp / "api.db",
        max_body_bytes=4096,
        tokens=[
            ApiToken(name="board-tv", role="viewer", sha256=sha(TOKENS["viewer"])),
            ApiToken(name="webshop", role="planner", env="TEST_PLAN_TOKEN", badge="OP-SAM"),
            ApiToken(
                name="sam", role="supervisor", sha256=sha(TOKENS["supervisor"]), badge="OP-SAM"
            ),  # fmt: skip
        ],
        webhooks=[Webhook(url=hook_url, secret_env="TEST_HOOK_SECRET", attempts=4)]
        if hook_url
        else [],
    )
    return SiteConfig(
        site=SiteInfo(id=SITE, name="api test site"),
        mqtt=MqttConfig(url=url, keepalive_s=2),
        operators=[
            Operator(name="Ada", badge="OP-ADA", role="machinist"),
            Operator(name="Sam", badge="OP-SAM", role="supervisor"),
        ],
        api=api,
    )


ENV = {"TEST_PLAN_TOKEN": TOKENS["planner"], "TEST_HOOK_SECRET": HOOK_SECRET}


@dataclass
class Served:
    base: str
    app: object
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 10)


async def serve(app: object) -> Served:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return Served(f"http://127.0.0.1:{port}", app, server, task)


@dataclass
class Floor:
    broker: Mosquitto
    site: SiteConfig
    historian: Historian | None
    scheduler: Scheduler
    api: Served
    http: httpx.AsyncClient


@pytest.fixture
async def floor(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Floor]:
    site = site_config(mosquitto.url, tmp_path)
    historian = Historian(
        open_store(str(tmp_path / "historian.db")),
        context=SiteContext(site_id=SITE),
        mqtt=site.mqtt,
    )
    await historian.start()
    await historian.wait_connected()
    scheduler = Scheduler(
        SchedulerStore(tmp_path / "scheduler.db"), site=site, tick_s=0.05, plan=False
    )
    await scheduler.start()
    await scheduler.wait_connected()
    served = await serve(create_app(site, None, environ=ENV))
    http = httpx.AsyncClient(base_url=served.base, timeout=10)
    try:
        yield Floor(mosquitto, site, historian, scheduler, served, http)
    finally:
        await http.aclose()
        await served.stop()
        await scheduler.stop()
        await historian.stop()
        historian.store.close()
