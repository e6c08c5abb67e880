"""The one MQTT session loop every application keeps: connect (TLS and credentials from
the site file, a last will), run the application's work on the connected client(s), and
when the link drops reconnect with back-off, until stopped.

aiomqtt 2 has no reconnect of its own; the cell link, the scheduler, the board and the
historian each had a copy of this loop. A service that needs two sessions at once (the
scheduler and the historian take events on MQTT 3.1.1 and answer requests on MQTT 5)
gives two `Endpoint`s and gets both clients, opened and lost together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiomqtt

from cellctl.bus.connection import (
    NO_DELAY,
    Backoff,
    client_kwargs,
    tolerate_closed_socket_callbacks,
)
from cellctl.bus.tasks import cancel_and_wait
from cellctl.config.models import MqttConfig

log = logging.getLogger(__name__)

Work = Callable[[list[aiomqtt.Client]], Awaitable[None]]


@dataclass(frozen=True)
class Endpoint:
    """One client of a session: its identifier, last will and session kind."""

    identifier: str | None = None  # None: a fresh one per connection (a viewer's session)
    will: aiomqtt.Will | None = None
    clean_session: bool | None = None  # False: the broker keeps QoS 1 messages for us
    mqtt5: bool = False
    max_inflight: int | None = None
    # Many publishes in flight is a batched drain's design, not a leak.
    pending_calls_threshold: int | None = None
    # Request/response: no Nagle delay on small replies (connection.NO_DELAY).
    no_delay: bool = False


def consumer_endpoints(identifier: str, will: aiomqtt.Will) -> list[Endpoint]:
    """A central service's two sessions (the scheduler's, the historian's): events come in
    on MQTT 3.1.1 (paho builds an MQTT 5 property set per message, which alone would cost
    more than storing the event); questions on MQTT 5, for the response topic and
    correlation data."""
    return [
        # A persistent session: the broker keeps QoS 1 events for us while we restart,
        # so cells need not re-send what we would miss.
        Endpoint(identifier, will=will, clean_session=False, max_inflight=100,
                 pending_calls_threshold=100_000),
        # Answers in flight under load are by design (one task per question).
        Endpoint(f"{identifier}-answers", mqtt5=True, no_delay=True,
                 pending_calls_threshold=100_000),
    ]  # fmt: skip


class MqttSession:
    """Keeps `work` running on connected clients. `connected` and `wait_connected` say
    when the link is up; `last_error` what took it down; `stop` ends it cleanly."""

    def __init__(
        self,
        mqtt: MqttConfig,
        endpoints: Sequence[Endpoint],
        *,
        name: str,
        backoff: Backoff | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.mqtt = mqtt
        self.endpoints = list(endpoints)
        self.name = name
        self.backoff = backoff or Backoff()
        self.on_lost = on_lost
        self.connected = False
        self.last_error: str | None = None
        self.clients: list[aiomqtt.Client] = []
        self.stopping = False
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _client(self, e: Endpoint) -> aiomqtt.Client:
        kwargs: dict[str, Any] = {**client_kwargs(self.mqtt)}
        if e.identifier is not None:
            kwargs["identifier"] = e.identifier
        if e.will is not None:
            kwargs["will"] = e.will
        if e.clean_session is not None:
            kwargs["clean_session"] = e.clean_session
        if e.mqtt5:
            kwargs["protocol"] = aiomqtt.ProtocolVersion.V5
        if e.no_delay:
            kwargs["socket_options"] = NO_DELAY
        if e.max_inflight is not None:
            kwargs["max_inflight_messages"] = e.max_inflight
        client = aiomqtt.Client(**kwargs)
        if e.pending_calls_threshold is not None:
            client.pending_calls_threshold = e.pending_calls_threshold
        return client

    def up(self) -> None:
        """The application has subscribed and said hello: the link counts as up."""
        self.connected = True
        self.last_error = None
        self.backoff.reset()
        self._connected.set()

    async def wait_connected(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    async def run(self, work: Work) -> None:
        """Run until `stop`: `work` gets the connected clients (in the endpoints' order),
        subscribes, calls `up()` and runs until the link drops (an MqttError out of it)."""
        while not self.stopping:
            try:
                async with contextlib.AsyncExitStack() as stack:
                    self.clients = [
                        await stack.enter_async_context(self._client(e)) for e in self.endpoints
                    ]
                    await work(self.clients)
            except* (aiomqtt.MqttError, OSError, TimeoutError) as group:
                self.last_error = str(group.exceptions[0])
                log.info("%s: broker link lost (%s); retrying", self.name, self.last_error)
            except* Exception as group:  # e.g. a store failed: stay up and retry
                self.last_error = repr(group.exceptions[0])
                log.error("%s: failed (%s); retrying", self.name, self.last_error)
            finally:
                self.clients = []
                self.connected = False
                self._connected.clear()
                if self.on_lost is not None:
                    self.on_lost()
            if not self.stopping:
                await asyncio.sleep(self.backoff.next())

    def stop(self) -> None:
        """No more reconnects; `close` then ends the task `start` made."""
        self.stopping = True

    @property
    def client(self) -> aiomqtt.Client | None:
        """The first endpoint's client while connected (None between connections)."""
        return self.clients[0] if self.clients else None

    def start(self, work: Work, task_name: str) -> None:
        """Run `run(work)` in a task of its own (once; again only after `close`)."""
        if self._task is None:
            tolerate_closed_socket_callbacks(asyncio.get_running_loop())
            self._task = asyncio.create_task(self.run(work), name=task_name)

    async def close(self) -> None:
        """Stop, and wait until the task `start` made has ended."""
        self.stop()
        await cancel_and_wait(self._task)
        self._task = None
