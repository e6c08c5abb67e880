"""Building aiomqtt clients from the site's MqttConfig, and the reconnect back-off.

aiomqtt 2 has no built-in reconnect: callers wrap `async with client` in a loop
and wait `Backoff.next()` between attempts.
"""

from __future__ import annotations

import random
from typing import Any

import aiomqtt

from cellctl.config.models import MqttConfig


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
