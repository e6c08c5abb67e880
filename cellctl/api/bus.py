"""The API's one MQTT 5 session: it publishes submissions and commands, keeps the
scheduler's retained queue snapshot, hears the cells' events (for done/held notices)
and asks the site historian questions on a reply topic of its own.

One long-lived session, not `ask_site`'s connection per question: under 50 concurrent
shop clients a connect + subscribe per request would cost more than the answer. The
errors say the same as `ask_site`'s, so a person reads one text whichever asked."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cellctl.bus.codec import PAYLOAD_VERSION, PayloadError, decode, decode_event, encode
from cellctl.bus.scheduler_commands import publish_command, publish_submit
from cellctl.bus.session import Endpoint, MqttSession
from cellctl.bus.site_request import SiteRefused, SiteUnanswered
from cellctl.bus.topics import Topics
from cellctl.config.models import MqttConfig
from cellctl.domain.events import Event
from cellctl.domain.run_spec import RunSpec

log = logging.getLogger(__name__)


class ApiBus:
    def __init__(
        self,
        mqtt: MqttConfig,
        site_id: str,
        *,
        on_event: Callable[[Event], None] | None = None,
        on_queue: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.mqtt = mqtt
        self.site_id = site_id
        self.topics = Topics(site_id)
        self.client_id = f"cellctl-api-{site_id}-{uuid.uuid4().hex[:8]}"
        self.reply_topic = self.topics.site_reply(self.client_id)
        self.on_event = on_event
        self.on_queue = on_queue
        self.queue: dict[str, Any] | None = None
        self._waiting: dict[bytes, asyncio.Future[Any]] = {}
        # One MQTT 5 session (response topics) on the one session loop of the bus.
        self.session = MqttSession(
            mqtt,
            [Endpoint(self.client_id, mqtt5=True, no_delay=True,
                      pending_calls_threshold=100_000)],
            name="api",
            on_lost=self._link_lost,
        )  # fmt: skip

    @property
    def connected(self) -> bool:
        return self.session.connected

    @property
    def _client(self) -> aiomqtt.Client | None:
        return self.session.client

    # -- life --------------------------------------------------------------------------

    async def start(self) -> None:
        self.session.start(self._connected_work, "api-bus")

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await self.session.wait_connected(timeout)

    async def stop(self) -> None:
        await self.session.close()

    async def _connected_work(self, clients: list[aiomqtt.Client]) -> None:
        (client,) = clients
        await client.subscribe(self.reply_topic, qos=1)
        await client.subscribe(self.topics.scheduler_queue, qos=1)
        await client.subscribe(self.topics.all_events, qos=1)
        self.session.up()
        async for message in client.messages:
            self._dispatch(message)

    def _link_lost(self) -> None:
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(self._no_broker("the link was lost"))

    def _no_broker(self, why: str) -> SiteUnanswered:
        return SiteUnanswered(f"cannot reach the broker at {self.mqtt.url}: {why}")

    def _dispatch(self, message: aiomqtt.Message) -> None:
        topic = str(message.topic)
        raw = message.payload if isinstance(message.payload, bytes | bytearray) else b""
        try:
            if topic == self.reply_topic:
                got = getattr(message.properties, "CorrelationData", None)
                fut = self._waiting.pop(bytes(got), None) if got else None
                if fut is not None and not fut.done():
                    fut.set_result(raw)
            elif topic == self.topics.scheduler_queue:
                self.queue = decode(raw) if raw else None
                if self.queue is not None and self.on_queue is not None:
                    self.on_queue(self.queue)
            else:
                where = self.topics.cell_of(topic)
                if where is not None and where[1] == "events" and self.on_event is not None:
                    self.on_event(decode_event(raw, where[0]))
        except PayloadError as exc:
            log.warning("api: ignored a message on %s: %s", topic, exc)
        except Exception:  # a bug costs one message, never the session
            log.exception("api: failed on a message on %s", topic)

    # -- writing -----------------------------------------------------------------------

    def _need_client(self) -> aiomqtt.Client:
        client = self._client
        if client is None or not self.connected:
            raise self._no_broker("not connected; nothing was sent")
        return client

    async def submit(self, spec: RunSpec) -> None:
        try:
            await publish_submit(self._need_client(), self.topics, spec)
        except aiomqtt.MqttError as exc:
            raise self._no_broker(str(exc)) from None

    async def command(self, body: dict[str, Any]) -> None:
        try:
            await publish_command(self._need_client(), self.topics, body)
        except aiomqtt.MqttError as exc:
            raise self._no_broker(str(exc)) from None

    async def publish(self, topic: str, body: dict[str, Any]) -> None:
        with contextlib.suppress(aiomqtt.MqttError, SiteUnanswered):
            await self._need_client().publish(topic, encode(body), qos=1, timeout=5.0)

    # -- asking the historian --------------------------------------------------------------

    async def ask(self, what: str, body: dict[str, Any], timeout_s: float = 3.0) -> Any:
        client = self._need_client()
        correlation = uuid.uuid4().bytes
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho ships no types
        props.ResponseTopic = self.reply_topic
        props.CorrelationData = correlation
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = fut
        try:
            await client.publish(
                self.topics.site_request(what),
                encode({"v": PAYLOAD_VERSION, **body}),
                qos=1,
                properties=props,
                timeout=timeout_s,
            )
            raw = await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise SiteUnanswered(
                f"the site historian at {self.mqtt.url} (site {self.site_id}) did not answer "
                f"within {timeout_s:g} s: is `cellctl historian run` running on the central "
                "machine?"
            ) from None
        except aiomqtt.MqttError as exc:
            raise self._no_broker(str(exc)) from None
        finally:
            self._waiting.pop(correlation, None)
        return _result(raw)


def _result(raw: bytes) -> Any:
    try:
        data = json.loads(bytes(raw).decode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise SiteRefused(f"the historian's answer is unreadable: {exc}") from None
    if not isinstance(data, dict) or data.get("v") != PAYLOAD_VERSION:
        raise SiteRefused("the historian's answer is not a version 1 reply")
    if not data.get("ok"):
        raise SiteRefused(str(data.get("error") or "the historian refused without a reason"))
    return data.get("result")
