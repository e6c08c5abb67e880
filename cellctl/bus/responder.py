"""Answering a request that came with an MQTT 5 response topic and correlation data: the
one reply path of every service that answers questions (the historian, the scheduler).

A handler returns the result or raises `RequestRefused` with the reason a person reads;
a bug in a handler costs that one answer (an error reply), never the service.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cellctl.bus.codec import PAYLOAD_VERSION, PayloadError, decode, encode

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], Awaitable[Any]]


class RequestRefused(Exception):
    """A request that cannot be answered as asked; the text is the reply's error."""


async def answer(
    client: aiomqtt.Client,
    message: aiomqtt.Message,
    handle: Handler,
    *,
    service: str,
    on_malformed: Callable[[str], None] | None = None,
) -> bool:
    """Answer one request on its response topic; False when it had none (nobody to tell).
    `on_malformed` hears of a request that could not be read (to count it)."""
    props = message.properties
    reply_to = getattr(props, "ResponseTopic", None) if props else None
    correlation = getattr(props, "CorrelationData", None) if props else None
    if not reply_to:
        log.warning("%s: a request on %s without a response topic, dropped", service, message.topic)
        if on_malformed is not None:
            on_malformed("request without response topic")
        return False
    what = str(message.topic).rsplit("/", 1)[-1]
    try:
        body = decode(message.payload if isinstance(message.payload, bytes) else b"")
        reply: dict[str, Any] = {
            "v": PAYLOAD_VERSION,
            "ok": True,
            "result": await handle(what, body),
        }
    except PayloadError as exc:
        if on_malformed is not None:
            on_malformed(str(exc))
        reply = {"v": PAYLOAD_VERSION, "ok": False, "error": str(exc)}
    except RequestRefused as exc:
        reply = {"v": PAYLOAD_VERSION, "ok": False, "error": str(exc)}
    except Exception as exc:
        log.exception("%s: request %s failed", service, what)
        reply = {"v": PAYLOAD_VERSION, "ok": False, "error": f"the {service} failed: {exc!r}"}
    out = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho ships no types
    if correlation is not None:
        out.CorrelationData = correlation
    await client.publish(reply_to, encode(reply), qos=1, properties=out, timeout=10)
    return True
