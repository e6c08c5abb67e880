"""Telling the shop when a run is done or held: a webhook and an MQTT event.

The watcher derives the notices from what this process hears on the bus: a run is done
when its last step (the assignment the cell accepted has no `next_kind`) is completed;
held when the scheduler's retained queue lists it under `held`. Each notice is sent
once (`IdempotencyStore.first_notice`).

Webhooks never block the bus: a notice is queued; a worker POSTs it with an HMAC-SHA256
signature header (`X-Cellctl-Signature: sha256=<hex of the body>`, keyed by the hook's
secret) and retries with exponential back-off up to the hook's `attempts`."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from cellctl.bus.codec import PAYLOAD_VERSION
from cellctl.config.api import Webhook
from cellctl.domain.events import Event, utc_now_iso

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Cellctl-Signature"
QUEUE_MAX = 10_000


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class RunWatcher:
    """Turns bus traffic into `run_done` / `run_held` notices."""

    def __init__(self, notify: Callable[[str, str, dict[str, Any]], None]) -> None:
        self._notify = notify
        self._last_step: dict[str, int] = {}
        self._held: set[str] = set()

    def on_event(self, e: Event) -> None:
        p = e.payload
        if e.type == "assignment_accepted":
            a = p.get("assignment") or {}
            if "next_kind" in a and a.get("next_kind") is None:
                self._last_step[str(p["run_id"])] = int(p["step"])
        elif e.type == "run_step_completed":
            rid = str(p["run_id"])
            if self._last_step.get(rid) == int(p["step"]):
                self._notify("run_done", rid, {"cell": e.cell, "time": e.time})

    def on_queue(self, snapshot: dict[str, Any]) -> None:
        held = {str(r) for r in snapshot.get("held") or []}
        for rid in sorted(held - self._held):
            self._notify("run_held", rid, {"time": snapshot.get("time")})
        self._held = held


class Notifier:
    def __init__(
        self,
        hooks: list[Webhook],
        publish: Callable[[dict[str, Any]], Awaitable[None]] | None,
        first_notice: Callable[[str, str], bool],
        *,
        environ: dict[str, str] | None = None,
        first_delay_s: float = 0.5,
        max_delay_s: float = 60.0,
    ) -> None:
        env = os.environ if environ is None else environ
        self.hooks = [(h, (env.get(h.secret_env) or "").encode() if h.secret_env else b"")
                      for h in hooks]  # fmt: skip
        self._publish = publish
        self._first_notice = first_notice
        self._queue: asyncio.Queue[tuple[Webhook, bytes, bytes]] = asyncio.Queue(QUEUE_MAX)
        self._tasks: list[asyncio.Task[None]] = []
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.delivered = 0
        self.failed = 0
        self.dropped = 0

    def notify(self, kind: str, run_id: str, detail: dict[str, Any]) -> None:
        """Called from the bus consumer: queue, never wait."""
        if not self._first_notice(run_id, kind):
            return
        body = {"v": PAYLOAD_VERSION, "event": kind, "run_id": run_id, "at": utc_now_iso(),
                **detail}  # fmt: skip
        if self._publish is not None:
            self._tasks.append(asyncio.ensure_future(self._publish(body)))
        raw = json.dumps(body, sort_keys=True).encode()
        for hook, secret in self.hooks:
            if kind not in hook.events:
                continue
            try:
                self._queue.put_nowait((hook, secret, raw))
            except asyncio.QueueFull:
                self.dropped += 1
                log.warning("api: webhook queue full; dropped %s of %s", kind, run_id)
        self._tasks = [t for t in self._tasks if not t.done()]

    async def run(self, workers: int = 2) -> None:
        async with httpx.AsyncClient(timeout=10.0) as client:
            await asyncio.gather(*(self._worker(client) for _ in range(workers)))

    async def _worker(self, client: httpx.AsyncClient) -> None:
        while True:
            hook, secret, raw = await self._queue.get()
            await self._deliver(client, hook, secret, raw)

    async def _deliver(
        self, client: httpx.AsyncClient, hook: Webhook, secret: bytes, raw: bytes
    ) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "cellctl-api"}
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, raw)
        delay = self.first_delay_s
        for attempt in range(1, hook.attempts + 1):
            try:
                resp = await client.post(hook.url, content=raw, headers=headers)
                if resp.status_code < 300:
                    self.delivered += 1
                    return
                why = f"HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                why = str(exc) or type(exc).__name__
            log.info("api: webhook %s attempt %d failed (%s)", hook.url, attempt, why)
            if attempt < hook.attempts:
                await asyncio.sleep(delay)
                delay = min(self.max_delay_s, delay * 2)
        self.failed += 1
        log.warning("api: webhook %s gave up after %d attempts", hook.url, hook.attempts)

    async def drain(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks)
