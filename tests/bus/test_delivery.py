"""Delivery faults: duplicates, malformed payloads, lost messages (gaps)."""

from __future__ import annotations

import asyncio
import json

import aiomqtt

from cellctl.bus.cell_link import CellLink
from cellctl.bus.codec import encode, encode_event
from cellctl.bus.topics import Topics
from cellctl.domain.events import Event
from cellctl.store.station_store import StationStore
from tests.bus.conftest import SITE, Factory
from tests.waiting import wait_until

T = Topics(SITE)


def _count(cell: str, good: int = 1) -> Event:
    return Event("units_counted", cell, {"run_id": "R9", "step": 0, "good": good, "scrap": 0})


async def test_same_event_delivered_twice_is_applied_once(factory: Factory, tmp_path) -> None:
    sched = await factory.scheduler()
    store = StationStore(tmp_path / "x.db", "cut-07")
    e1, e2 = store.append(_count("cut-07", 3), _count("cut-07", 4))
    async with aiomqtt.Client("127.0.0.1", factory.broker.port) as client:
        for e in (e1, e1, e2, e1, e2):
            await client.publish(T.cell_events("cut-07"), encode_event(e), qos=1)
    await wait_until(lambda: sched.duplicates == 3, 10, "three duplicates seen")
    assert sched.store.totals_by_cell()["cut-07"] == {("R9", 0): (7, 0)}
    assert sched.store.applied_count() == 2
    store.close()


async def test_malformed_payloads_are_dropped_and_the_consumer_goes_on(
    factory: Factory, tmp_path
) -> None:
    sched = await factory.scheduler()
    store = StationStore(tmp_path / "x.db", "cut-07")
    (good,) = store.append(_count("cut-07", 5))
    other = StationStore(tmp_path / "y.db", "cut-08")
    (foreign,) = other.append(_count("cut-08"))
    bad_type = {**good.to_dict(), "type": "units_teleported", "id": foreign.id}
    bad_schema = {**good.to_dict(), "schema": 2}
    no_payload_key = {**good.to_dict(), "payload": {"run_id": "R9", "step": 0}}
    (typed,) = other.append(_count("cut-08"))
    bad_count = {**typed.to_dict(), "cell": "cut-07", "seq": 99,
                 "payload": {"run_id": "R9", "step": 0, "good": "many", "scrap": 0}}  # fmt: skip
    events_topic = T.cell_events("cut-07")
    junk = [
        (events_topic, b"not json"),
        (events_topic, b"\xff\xfe\x00"),
        (events_topic, b"[1, 2, 3]"),
        (events_topic, json.dumps(bad_type).encode()),
        (events_topic, json.dumps(bad_schema).encode()),
        (events_topic, json.dumps(no_payload_key).encode()),
        (events_topic, encode_event(foreign)),  # cut-08's event on cut-07's topic
        (events_topic, json.dumps(bad_count).encode()),  # well-formed, but good="many"
        (events_topic, b'{"v": 1, "x": "' + b"a" * 70_000 + b'"}'),  # oversized
        (T.cell_status("cut-07"), encode({"v": 1, "cell": "cut-07", "state": "idle"})),
        (T.runs_submit, encode({"v": 1, "id": "R-BAD", "sku": "X", "quantity": 0})),
        (T.scheduler_command, encode({"v": 1, "action": "explode", "badge": "OP-SAM"})),
        (T.scheduler_command, b'{"v": 7, "action": "cancel"}'),
    ]
    async with aiomqtt.Client("127.0.0.1", factory.broker.port) as client:
        for topic, payload in junk:
            await client.publish(topic, payload, qos=1)
        await client.publish(events_topic, encode_event(good), qos=1)
    await wait_until(lambda: sched.store.applied_count() == 1, 10, "the good event applied")
    assert sched.dropped == len(junk)
    assert sched.store.totals_by_cell() == {"cut-07": {("R9", 0): (5, 0)}}
    assert sched.connected
    assert sched.store.runs() == []
    store.close()
    other.close()


async def test_lost_events_are_noticed_and_resent(factory: Factory, tmp_path) -> None:
    sched = await factory.scheduler()
    store = StationStore(tmp_path / "cut-07.db", "cut-07")
    events = store.append_many(_count("cut-07", i) for i in range(1, 11))
    # Pretend seq 5 (a hole) and seq 10 (the tail) left the outbox but never arrived.
    store.mark_sent([events[4].id, events[9].id])
    link = CellLink(store, site=SITE, kind="cut", mqtt=factory.site.mqtt, heartbeat_s=0.3)
    await link.start()
    try:
        await wait_until(lambda: sched.store.applied_count() == 10, 15, "gap filled by resend")
        assert sched.store.seq_marks()["cut-07"] == (10, 10)
        assert sched.store.totals_by_cell()["cut-07"] == {("R9", 0): (55, 0)}
        await wait_until(lambda: link.backlog == 0, 10, "re-sent rows acknowledged")
        assert sched.store.applied_count() == 10  # the re-sent copies were duplicates
    finally:
        await link.stop()
        store.close()


async def test_every_resend_request_counted_is_published(factory: Factory, tmp_path) -> None:
    # No grace: the batch that shows the gap makes the first request due at once.
    sched = await factory.scheduler(gap_grace_s=0.0)
    store = StationStore(tmp_path / "cut-07.db", "cut-07")
    events = store.append_many(_count("cut-07", i) for i in range(1, 5))
    async with aiomqtt.Client("127.0.0.1", factory.broker.port) as client:
        await client.subscribe(T.cell_resend("cut-07"), qos=1)
        for e in (events[0], events[1], events[3]):  # seq 3 lost on the way
            await client.publish(T.cell_events("cut-07"), encode_event(e), qos=1)
        async with asyncio.timeout(10):
            message = await anext(aiter(client.messages))
        # The asks grow apart (2 s after the first): this one is the first counted.
        assert json.loads(message.payload)["from_seq"] == 3
        assert sched.gaps["cut-07"].requests == 1
    store.close()
