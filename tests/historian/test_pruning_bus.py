"""Bounded station stores with the real broker and the real historian (both backends):
the historian confirms what it stored, the cell records it and prunes only that; a
re-ask for a pruned seq is answered with a clear log, and the link carries on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest

from cellctl.bus.broker_process import Mosquitto
from cellctl.bus.cell_link import CellLink
from cellctl.bus.confirmed import decode_confirmed
from cellctl.bus.intake import resend_request
from cellctl.bus.topics import Topics
from cellctl.config.models import MqttConfig
from cellctl.domain.events import Event
from cellctl.historian.answers import SiteContext
from cellctl.historian.backends import open_store
from cellctl.historian.service import Historian
from cellctl.station.housekeeping import prune_daily
from cellctl.store import pruning
from cellctl.store.station_store import StationStore
from tests.waiting import wait_until

SITE = "t"
T = Topics(SITE)
CELL = "cut-07"
OLD = datetime.now(UTC) - timedelta(days=45)


def _count(good: int, when: datetime = OLD) -> Event:
    payload = {"run_id": "R9", "step": 0, "good": good, "scrap": 0}
    return Event("units_counted", CELL, payload, time=pruning.iso(when))


@pytest.fixture
async def historian(store_url: str, mosquitto: Mosquitto) -> AsyncIterator[Historian]:
    h = Historian(
        open_store(store_url),
        context=SiteContext(site_id=SITE),
        mqtt=MqttConfig(url=mosquitto.url, keepalive_s=2),
        gap_grace_s=0.3,
    )
    await h.start()
    await h.wait_connected()
    try:
        yield h
    finally:
        await h.stop()
        h.store.close()


async def test_only_what_the_historian_confirmed_is_pruned(
    historian: Historian, mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = StationStore(tmp_path / f"{CELL}.db", CELL)
    store.append_many(_count(i) for i in range(1, 31))
    # Before anything reached the historian: old, but nothing is confirmed.
    assert pruning.prune(store.conn, retention_days=30).pruned == 0
    link = CellLink(store, site=SITE, kind="cut", mqtt=historian.mqtt, heartbeat_s=0.3)
    await link.start()
    try:
        await wait_until(lambda: historian.store.count() == 30, 20, "events stored")
        await wait_until(lambda: pruning.confirmed_seq(store.conn) == 30, 10, "confirmation")
        assert link.confirmed_seq == 30
        # The confirmation is retained: a cell that connects later hears it too.
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.subscribe(T.historian_confirmed(CELL), qos=1)
            async with asyncio.timeout(5):
                message = await anext(aiter(client.messages))
            assert message.retain
            assert decode_confirmed(bytes(message.payload)) == (30, store.events()[29].id)
        # New events the historian has not confirmed yet: the link is away.
        await link.stop()
        store.append_many(_count(i, OLD + timedelta(hours=1)) for i in range(31, 41))
        result = pruning.prune(store.conn, retention_days=30)
        # Up to what was confirmed, never the unconfirmed 31.. (waiting in the outbox).
        assert (result.pruned, result.through_seq) == (30, 30)
        assert result.limited_by in ("the outbox", "the confirmation")
        assert [e.seq for e in store.events()] == list(range(31, 41))
        assert store.check() == []
        # The historian still holds all of it.
        assert historian.store.seq_marks()[CELL] == (30, 30)

        # A re-ask for a pruned seq (should not happen: confirmed) gets a clear log.
        link = CellLink(store, site=SITE, kind="cut", mqtt=historian.mqtt, heartbeat_s=0.3)
        await link.start()
        await wait_until(lambda: historian.store.count() == 40, 20, "the rest stored")
        with caplog.at_level(logging.WARNING, logger="cellctl.bus.cell_link"):
            async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
                await client.publish(T.cell_resend(CELL), resend_request(3, 12), qos=1)
            await wait_until(
                lambda: any("was pruned" in r.getMessage() for r in caplog.records),
                10,
                "the pruned re-ask logged",
            )
        (line,) = [r.getMessage() for r in caplog.records if "was pruned" in r.getMessage()]
        assert "resend 3..12" in line and "seq 3..12 was pruned" in line
        # The link carries on: a new event goes through and is confirmed.
        store.append(_count(99, datetime.now(UTC)))
        link.notify()
        await wait_until(lambda: pruning.confirmed_seq(store.conn) == 41, 10, "41 confirmed")
        assert link.connected and historian.store.count() == 41
    finally:
        await link.stop()
        store.close()


async def test_the_station_prunes_at_start(tmp_path: Path) -> None:
    path = tmp_path / f"{CELL}.db"
    store = StationStore(path, CELL)
    store.append_many(_count(i) for i in range(1, 11))
    store.mark_sent(e.id for e in store.events())
    pruning.record_confirmed(store.conn, 10)
    task = asyncio.create_task(prune_daily(path, 30, every_s=3600))
    try:
        await wait_until(lambda: pruning.pruned(store.conn).events == 9, 10, "pruned at start")
    finally:
        task.cancel()
    assert store.event_count() == 1 and store.check() == []
    store.close()


async def test_a_fresh_store_under_the_same_id_does_not_take_the_old_mark(
    historian: Historian, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = StationStore(tmp_path / "old.db", CELL)
    old.append_many(_count(i) for i in range(1, 21))
    link = CellLink(old, site=SITE, kind="cut", mqtt=historian.mqtt, heartbeat_s=0.3)
    await link.start()
    try:
        await wait_until(lambda: pruning.confirmed_seq(old.conn) == 20, 20, "old confirmed")
    finally:
        await link.stop()
        old.close()
    # The card is replaced: a new store starts again at seq 1 under the same cell id.
    fresh = StationStore(tmp_path / "fresh.db", CELL)
    fresh.append_many(_count(i) for i in range(1, 31))
    link = CellLink(fresh, site=SITE, kind="cut", mqtt=historian.mqtt, heartbeat_s=0.3)
    with caplog.at_level(logging.WARNING, logger="cellctl.store.pruning"):
        await link.start()
        try:
            await wait_until(
                lambda: any("not taken" in r.getMessage() for r in caplog.records),
                10,
                "the old mark refused",
            )
            await wait_until(lambda: link.backlog == 0, 10, "fresh events sent")
        finally:
            await link.stop()
    # The historian kept the fresh seqs 1..20 out as conflicts: nothing is confirmed, so
    # nothing of the fresh store may go.
    assert pruning.confirmed_seq(fresh.conn) == 0
    assert historian.counters.conflicts >= 1
    assert pruning.prune(fresh.conn, retention_days=30).pruned == 0
    assert fresh.event_count() == 30
    fresh.close()
