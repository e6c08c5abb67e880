"""The historian on a real broker, on both backends: every event once (duplicates and
bad messages dropped, gaps re-asked from the cell), and questions answered over MQTT 5."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest

from cellctl.bus.broker_process import Mosquitto
from cellctl.bus.cell_link import CellLink
from cellctl.bus.codec import encode, encode_event
from cellctl.bus.site_request import SiteRefused, SiteUnanswered, ask_site
from cellctl.bus.topics import Topics
from cellctl.config.models import MqttConfig
from cellctl.domain.events import Event
from cellctl.historian.answers import SiteContext
from cellctl.historian.backends import open_store
from cellctl.historian.service import Historian
from cellctl.store.station_store import StationStore
from tests.fixtures.postgres import PostgresCluster, postgres_available
from tests.waiting import wait_until

SITE = "t"
T = Topics(SITE)


def _count(cell: str, good: int = 1) -> Event:
    return Event("units_counted", cell, {"run_id": "R9", "step": 0, "good": good, "scrap": 0})


async def _historian(url: str, broker: Mosquitto) -> Historian:
    h = Historian(
        open_store(url),
        context=SiteContext(site_id=SITE),
        mqtt=MqttConfig(url=broker.url, keepalive_s=2),
        gap_grace_s=0.3,
    )
    await h.start()
    await h.wait_connected()
    return h


@pytest.fixture
async def historian(store_url: str, mosquitto: Mosquitto) -> AsyncIterator[Historian]:
    h = await _historian(store_url, mosquitto)
    try:
        yield h
    finally:
        await h.stop()
        h.store.close()


async def test_every_event_once_with_gaps_re_asked(
    historian: Historian, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    store = StationStore(tmp_path / "cut-07.db", "cut-07")
    events = store.append_many(_count("cut-07", i) for i in range(1, 11))
    # Seq 5 (a hole) and seq 10 (the tail) left the outbox but never arrived.
    store.mark_sent([events[4].id, events[9].id])
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        topic = T.cell_events("cut-07")
        for e in (events[0], events[0], events[1]):  # a duplicate
            await client.publish(topic, encode_event(e), qos=1)
        await client.publish(topic, b"{not json", qos=1)
        await client.publish(topic, encode_event(_count("print-01").with_seq(1)), qos=1)
        await client.publish(topic, encode({"v": 2, "id": "x"}), qos=1)
    link = CellLink(store, site=SITE, kind="cut", mqtt=historian.mqtt, heartbeat_s=0.3)
    await link.start()
    try:
        await wait_until(lambda: historian.store.count() == 10, 20, "gap filled by re-send")
        assert historian.store.seq_marks()["cut-07"] == (10, 10)
        assert historian.counters.resend_requests >= 1
        await wait_until(lambda: link.backlog == 0, 10, "re-sent rows acknowledged")
        assert historian.store.count() == 10  # the copies sent twice were dropped
        assert historian.counters.duplicates >= 1
        # Malformed, foreign (another cell's event on this cell's topic), future version.
        assert historian.counters.dropped == 3
        stored = {e.id for e in historian.store.events_named([("r", "R9")])}
        assert stored == {e.id for e in events}
    finally:
        await link.stop()
        store.close()


async def test_questions_over_the_bus(historian: Historian, mosquitto: Mosquitto) -> None:
    cell = "cut-01"
    serials = ["MUG0001", "MUG0002"]
    issued = [
        Event("run_step_started", cell, {"run_id": "R1", "step": 0}, "OP-ADA", seq=1),
        Event("serials_allocated", cell, {"scope": "R1", "first": serials[0], "count": 2,
              "serials": serials, "batch": "B1", "sku": "MUG", "run_id": "R1"}, seq=2),
        Event("units_counted", cell, {"run_id": "R1", "step": 0, "good": 2, "scrap": 0},
              "OP-ADA", seq=3),
    ]  # fmt: skip
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        for e in issued:
            await client.publish(T.cell_events(cell), encode_event(e), qos=1)
    await wait_until(lambda: historian.store.count() == 3, 10, "events stored")
    mqtt = historian.mqtt
    unit = await ask_site(mqtt, SITE, "trace", {"query": "MUG0002"})
    assert (unit["kind"], unit["serial"], unit["batch"], unit["runs"]) == (
        "unit", "MUG0002", "B1", ["R1"])  # fmt: skip
    assert unit["steps"][0]["good"] == 2
    batch = await ask_site(mqtt, SITE, "batch", {"batch": "B1"})
    assert batch == {"batch": "B1", "sku": "MUG", "run_id": "R1", "serials": serials}
    run = await ask_site(mqtt, SITE, "run", {"run_id": "R1"})
    assert [e["seq"] for e in run["events"]] == [1, 2, 3]
    today = datetime.now(UTC).date()
    period = {"from": str(today - timedelta(days=2)), "to": str(today + timedelta(days=2))}
    report = await ask_site(mqtt, SITE, "report", period)
    assert report["counts"][0]["good"] == 2
    # What a board that starts fills its metrics and its trace list from.
    recent = await ask_site(mqtt, SITE, "events", {"since": period["from"]})
    assert [e["seq"] for e in recent["events"]] == [1, 2, 3] and not recent["truncated"]
    named = await ask_site(mqtt, SITE, "events", {"serial": "MUG0002"})
    assert [e["type"] for e in named["events"]] == ["serials_allocated"]
    with pytest.raises(SiteRefused, match="until must be after since"):
        await ask_site(mqtt, SITE, "events", {"since": period["to"], "until": period["from"]})
    # A bad query gets an error reply, not silence.
    with pytest.raises(SiteRefused, match="neither a serial nor a batch"):
        await ask_site(mqtt, SITE, "trace", {"query": "NOPE-1"})
    with pytest.raises(SiteRefused, match="query must be"):
        await ask_site(mqtt, SITE, "trace", {"serial": 5})
    with pytest.raises(SiteRefused, match="unknown request 'bogus'"):
        await ask_site(mqtt, SITE, "bogus", {})
    with pytest.raises(SiteRefused, match="to must be after from"):
        await ask_site(mqtt, SITE, "report", {"from": "2026-02-01", "to": "2026-01-01"})
    assert historian.counters.bad_requests == 5


async def test_nobody_answers(mosquitto: Mosquitto) -> None:
    mqtt = MqttConfig(url=mosquitto.url)
    started = time.monotonic()
    with pytest.raises(SiteUnanswered, match=r"did not answer within 0\.5 s"):
        await ask_site(mqtt, SITE, "trace", {"query": "X"}, timeout_s=0.5)
    assert time.monotonic() - started < 3


async def test_no_broker() -> None:
    from cellctl.bus.broker_process import free_port

    mqtt = MqttConfig(url=f"mqtt://127.0.0.1:{free_port()}")
    with pytest.raises(SiteUnanswered, match="cannot reach the broker"):
        await ask_site(mqtt, SITE, "trace", {"query": "X"}, timeout_s=0.5)


def _count_or_none(historian: Historian) -> int | None:
    """The stored count, or None while the historian has not reconnected yet."""
    try:
        return historian.store.count()
    except Exception:
        return None


@pytest.mark.skipif(postgres_available() is not None, reason=str(postgres_available()))
async def test_database_restart_loses_and_doubles_nothing(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    cluster = PostgresCluster().start()
    try:
        url = cluster.create_database("h")
        historian = await _historian(url, mosquitto)
        store = StationStore(tmp_path / "cut-07.db", "cut-07")
        link = CellLink(store, site=SITE, kind="cut", mqtt=historian.mqtt, heartbeat_s=0.3)
        await link.start()
        try:
            store.append_many(_count("cut-07", i) for i in range(1, 6))
            link.notify()
            await wait_until(lambda: historian.store.count() == 5, 20, "first events stored")
            cluster.kill()  # the database goes away without warning
            store.append_many(_count("cut-07", i) for i in range(6, 21))
            # Twice: a reconnect has failed while it was away (the chaos suite found the
            # historian then dropping events on a connection that was gone).
            await wait_until(lambda: historian.counters.store_outages >= 2, 20, "outage seen")
            cluster.start()
            await wait_until(lambda: _count_or_none(historian) == 20, 30, "caught up")
            await wait_until(lambda: link.backlog == 0, 10, "cell drained")
            assert historian.store.seq_marks()["cut-07"] == (20, 20)
            assert historian.store.count() == 20
            assert historian.counters.dropped == 0
        finally:
            await link.stop()
            store.close()
            await historian.stop()
            historian.store.close()
    finally:
        cluster.remove()


async def test_an_event_the_database_refuses_costs_that_event_only(store_url: str) -> None:
    """PostgreSQL text cannot hold a NUL character (SQLite can): the batch is stored event
    by event and only the refused one is counted and dropped."""
    h = Historian(open_store(store_url), context=SiteContext(site_id=SITE))
    try:
        odd = Event("cell_started", "cut-01", {}, "OP-\x00ADA", seq=2)
        await h._store([_count("cut-01").with_seq(1), odd, _count("cut-01").with_seq(3)])
        refused = h.store.backend == "postgres"
        assert h.store.count() == (2 if refused else 3)
        assert h.counters.dropped == (1 if refused else 0)
        assert h.counters.stored == h.store.count()
    finally:
        h.store.close()
