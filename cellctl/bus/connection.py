"""Building aiomqtt clients from the site's MqttConfig, and the reconnect back-off.

aiomqtt 2 has no built-in reconnect: callers wrap `async with client` in a loop
and wait `Backoff.next()` between attempts.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import socket
from typing import Any

import aiomqtt

from cellctl.config.models import MqttConfig

log = logging.getLogger(__name__)


# For request/response sessions: paho writes an MQTT 5 packet with properties in more
# than one send, and Nagle's algorithm then holds the tail until the peer's delayed ACK
# (~40 ms per leg, measured: 88 ms per question to the historian, 0.3 ms without).
NO_DELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)


def client_kwargs(mqtt: MqttConfig) -> dict[str, Any]:
    """Host, port, credentials and TLS for aiomqtt.Client."""
    kwargs: dict[str, Any] = {
        "hostname": mqtt.host,
        "port": mqtt.port,
        "keepalive": mqtt.keepalive_s,
        "username": mqtt.username,
        "password": mqtt.password,
    }
    if mqtt.tls:
        kwargs["tls_params"] = aiomqtt.TLSParameters(
            ca_certs=str(mqtt.ca_file) if mqtt.ca_file else None,
            certfile=str(mqtt.cert_file) if mqtt.cert_file else None,
            keyfile=str(mqtt.key_file) if mqtt.key_file else None,
        )
    return kwargs


class Backoff:
    """Exponential back-off with jitter, reset after a successful connection."""

    def __init__(self, first: float = 0.2, cap: float = 5.0) -> None:
        self.first = first
        self.cap = cap
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * 2)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = self.first


def tolerate_closed_socket_callbacks(loop: asyncio.AbstractEventLoop) -> None:
    """paho, from its own thread, asks aiomqtt to watch the socket for writing; when the
    broker has just dropped the link, that request can run after the socket closed, and
    asyncio logs a traceback for the harmless EBADF. Say that one case in a line; every
    other error in the loop still goes to the handler that was there before."""
    previous = loop.get_exception_handler()
    if getattr(previous, "tolerates_closed_sockets", False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        callback = getattr(context.get("handle"), "_callback", None)
        if (
            isinstance(exc, OSError)
            and exc.errno == errno.EBADF
            and getattr(callback, "__name__", "") in ("add_writer", "add_reader")
        ):
            log.info("MQTT socket closed before the loop could watch it (the link was lost)")
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.tolerates_closed_sockets = True  # type: ignore[attr-defined]  # a marker on the function: installed once
    loop.set_exception_handler(handler)
