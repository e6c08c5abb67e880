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
    who = (
        f"the site historian at {mqtt.url} (site {site_id})",
        "is `cellctl historian run` running on the central machine?",
    )
    return await _ask(mqtt, site_id, Topics(site_id).site_request(what), body, who, timeout_s)


async def ask_scheduler(
    mqtt: MqttConfig,
    site_id: str,
    what: str,
    body: dict[str, Any],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Any:
    """The result of one request to the scheduler (the runs, or an order about them)."""
    who = (
        f"the scheduler at {mqtt.url} (site {site_id})",
        "is `cellctl scheduler run` running on the central machine?",
    )
    return await _ask(mqtt, site_id, Topics(site_id).scheduler_request(what), body, who, timeout_s)


async def _ask(
    mqtt: MqttConfig,
    site_id: str,
    request_topic: str,
    body: dict[str, Any],
    who: tuple[str, str],
    timeout_s: float,
) -> Any:
    topics = Topics(site_id)
    client_id = f"cellctl-ask-{uuid.uuid4().hex[:12]}"
    reply_topic = topics.site_reply(client_id)
    correlation = uuid.uuid4().bytes
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho ships no types
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
            await client.publish(request_topic, payload, qos=1, properties=props)
            try:
                async with asyncio.timeout(timeout_s):
                    async for message in client.messages:
                        got = getattr(message.properties, "CorrelationData", None)
                        if got == correlation:
                            return _result(message.payload, who[0])
            except TimeoutError:
                raise SiteUnanswered(
                    f"{who[0]} did not answer within {timeout_s:g} s: {who[1]}"
                ) from None
    except aiomqtt.MqttError as exc:
        raise SiteUnanswered(f"cannot reach the broker at {mqtt.url}: {exc}") from None
    raise SiteUnanswered(f"the link to the broker at {mqtt.url} closed before an answer")


def _result(raw: object, who: str) -> Any:
    try:
        data = json.loads(bytes(raw).decode("utf-8"))  # type: ignore[call-overload]  # bytes() of a non-payload raises TypeError, said below
    except (TypeError, ValueError) as exc:
        raise SiteRefused(f"the answer of {who} is unreadable: {exc}") from None
    if not isinstance(data, dict) or data.get("v") != PAYLOAD_VERSION:
        raise SiteRefused(f"the answer of {who} is not a version 1 reply")
    if not data.get("ok"):
        raise SiteRefused(str(data.get("error") or f"{who} refused without a reason"))
    return data.get("result")


def ask_site_sync(
    mqtt: MqttConfig, site_id: str, what: str, body: dict[str, Any], *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Any:  # fmt: skip
    """`ask_site` for a command line."""
    return asyncio.run(ask_site(mqtt, site_id, what, body, timeout_s=timeout_s))


def ask_scheduler_sync(
    mqtt: MqttConfig, site_id: str, what: str, body: dict[str, Any], *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Any:  # fmt: skip
    """`ask_scheduler` for a command line."""
    return asyncio.run(ask_scheduler(mqtt, site_id, what, body, timeout_s=timeout_s))
