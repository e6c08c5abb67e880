"""Asking the site a question over the bus: MQTT 5 request/response.

The request goes to `site/request/{what}` with a response topic of this client's own and
a fresh correlation id; the answer is the message on that topic carrying the same id.
Nobody answering within the timeout, or no broker, is a clear error, never a hang.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cellctl.bus.codec import PAYLOAD_VERSION, encode
from cellctl.bus.connection import NO_DELAY, client_kwargs
from cellctl.bus.topics import Topics
from cellctl.config.models import MqttConfig

DEFAULT_TIMEOUT_S = 3.0


class SiteRequestError(Exception):
    """The site did not answer, or answered that it cannot; the text says which."""


class SiteUnanswered(SiteRequestError):
    pass


class SiteRefused(SiteRequestError):
    """The historian answered with an error (a bad query, a name it does not know)."""


async def ask_site(
    mqtt: MqttConfig,
    site_id: str,
    what: str,
    body: dict[str, Any],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Any:
    """The result of one request to the site historian."""
    topics = Topics(site_id)
    client_id = f"cellctl-ask-{uuid.uuid4().hex[:12]}"
    reply_topic = topics.site_reply(client_id)
    correlation = uuid.uuid4().bytes
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = reply_topic
    props.CorrelationData = correlation
    try:
        async with aiomqtt.Client(
            **client_kwargs(mqtt),
            identifier=client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            socket_options=NO_DELAY,
            timeout=timeout_s,
        ) as client:
            await client.subscribe(reply_topic, qos=1)
            payload = encode({"v": PAYLOAD_VERSION, **body})
            await client.publish(topics.site_request(what), payload, qos=1, properties=props)
            try:
                async with asyncio.timeout(timeout_s):
                    async for message in client.messages:
                        got = getattr(message.properties, "CorrelationData", None)
                        if got == correlation:
                            return _result(message.payload)
            except TimeoutError:
                raise SiteUnanswered(
                    f"the site historian at {mqtt.url} (site {site_id}) did not answer within "
                    f"{timeout_s:g} s: is `cellctl historian run` running on the central "
                    "machine?"
                ) from None
    except aiomqtt.MqttError as exc:
        raise SiteUnanswered(f"cannot reach the broker at {mqtt.url}: {exc}") from None
    raise SiteUnanswered(f"the link to the broker at {mqtt.url} closed before an answer")


def _result(raw: object) -> Any:
    try:
        data = json.loads(bytes(raw).decode("utf-8"))  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise SiteRefused(f"the historian's answer is unreadable: {exc}") from None
    if not isinstance(data, dict) or data.get("v") != PAYLOAD_VERSION:
        raise SiteRefused("the historian's answer is not a version 1 reply")
    if not data.get("ok"):
        raise SiteRefused(str(data.get("error") or "the historian refused without a reason"))
    return data.get("result")


def ask_site_sync(
    mqtt: MqttConfig, site_id: str, what: str, body: dict[str, Any], *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Any:  # fmt: skip
    """`ask_site` for a command line."""
    return asyncio.run(ask_site(mqtt, site_id, what, body, timeout_s=timeout_s))
