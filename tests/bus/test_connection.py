"""The loop's handler for paho's late socket-watch requests after a lost link."""

from __future__ import annotations

import asyncio
import logging
import socket

from cellctl.bus.connection import tolerate_closed_socket_callbacks


async def test_a_watch_on_a_closed_socket_is_one_line_and_other_errors_still_surface(
    caplog,
) -> None:
    loop = asyncio.get_running_loop()
    seen: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    tolerate_closed_socket_callbacks(loop)
    tolerate_closed_socket_callbacks(loop)  # twice: still one layer
    a, b = socket.socketpair()
    fd = a.fileno()
    a.close()
    b.close()
    done = asyncio.Event()
    with caplog.at_level(logging.INFO, logger="cellctl.bus.connection"):
        # What aiomqtt does from paho's thread, arriving after the socket closed.
        loop.call_soon(loop.add_writer, fd, lambda: None)
        loop.call_soon(done.set)
        await done.wait()
    assert seen == []
    assert "MQTT socket closed before the loop could watch it" in caplog.text

    def broken() -> None:
        raise ValueError("a real bug")

    done.clear()
    loop.call_soon(broken)
    loop.call_soon(done.set)
    await done.wait()
    assert [type(c.get("exception")) for c in seen] == [ValueError]


def test_a_stopped_mosquitto_leaves_no_folder() -> None:
    from cellctl.bus.broker_process import Mosquitto

    broker = Mosquitto().start()
    assert broker.workdir is not None and broker.workdir.name.startswith("mosq-")
    broker.stop()
    assert not broker.workdir.exists()
    broker.start()  # restartable on the same port (the fault tests do)
    broker.stop()
    assert not broker.workdir.exists()
