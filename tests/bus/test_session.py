"""The one MQTT session loop: up, the broker killed and back on the same port, up again
with the subscriptions made anew; a last will said when the link dies; a clean stop."""

from __future__ import annotations

import asyncio

import aiomqtt

from cellctl.bus.broker_process import Mosquitto
from cellctl.bus.session import Endpoint, MqttSession
from cellctl.bus.tasks import cancel_and_wait
from cellctl.config.models import MqttConfig
from tests.waiting import wait_until


async def test_reconnects_after_the_broker_comes_back_and_stops_cleanly(
    mosquitto: Mosquitto,
) -> None:
    mqtt = MqttConfig(url=mosquitto.url, keepalive_s=2)
    will = aiomqtt.Will("t/will", b"gone", qos=1, retain=True)
    session = MqttSession(mqtt, [Endpoint("t-session", will=will)], name="test")
    heard: asyncio.Queue[bytes] = asyncio.Queue()
    connections = 0

    async def work(clients: list[aiomqtt.Client]) -> None:
        nonlocal connections
        (client,) = clients
        await client.subscribe("t/in", qos=1)
        connections += 1
        session.up()
        async for message in client.messages:
            await heard.put(bytes(message.payload))  # type: ignore[arg-type]  # bytes here

    async def say(text: bytes) -> None:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.publish("t/in", text, qos=1)

    task = asyncio.create_task(session.run(work))
    try:
        await session.wait_connected(10)
        await say(b"one")
        assert await asyncio.wait_for(heard.get(), 10) == b"one"
        mosquitto.kill()
        await wait_until(lambda: not session.connected, 30)
        assert session.last_error  # what took it down, for the screen to say
        mosquitto.start()  # the same port: the session finds it again by itself
        await wait_until(lambda: connections == 2 and session.connected, 30)
        assert session.last_error is None
        await say(b"two")
        assert await asyncio.wait_for(heard.get(), 10) == b"two"
    finally:
        session.stop()
        await cancel_and_wait(task)
    assert not session.connected and session.clients == []
    assert task.done()
