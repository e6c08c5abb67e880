"""A QA cell learns a batch's serials from the site historian over the bus, keeps them in
its own store, and inspects the batch with the historian and the broker gone."""

from __future__ import annotations

from pathlib import Path

import aiomqtt

from cellctl.bus.broker_process import Mosquitto
from cellctl.bus.codec import encode_event
from cellctl.bus.site_request import ask_site
from cellctl.bus.topics import Topics
from cellctl.config.models import MqttConfig
from cellctl.domain.events import Event
from cellctl.historian.answers import SiteContext
from cellctl.historian.backends import open_store
from cellctl.historian.service import Historian
from cellctl.station.batch_cache import BatchCache, BatchLookup
from cellctl.store.station_store import StationStore
from tests.waiting import wait_until

SITE = "t"
SERIALS = ["MUG0001", "MUG0002", "MUG0003"]


def _lookup(store: StationStore, mqtt: MqttConfig) -> BatchLookup:
    async def ask(batch: str):
        return await ask_site(mqtt, SITE, "batch", {"batch": batch}, timeout_s=1.0)

    return BatchLookup(BatchCache(store.conn), lambda _batch: None, ask)


async def test_batch_cached_from_the_historian_and_kept_offline(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    mqtt = MqttConfig(url=mosquitto.url, keepalive_s=2)
    historian = Historian(
        open_store(tmp_path / "historian.db"), context=SiteContext(site_id=SITE), mqtt=mqtt
    )
    await historian.start()
    await historian.wait_connected()
    qa = StationStore(tmp_path / "qa-01.db", "qa-01")
    lookup = _lookup(qa, mqtt)
    try:
        assert lookup("B1") is None  # offered before its serials reached the historian
        assert lookup.wanted == {"B1"}
        assert await lookup.fetch("B1") is None
        assert "the site historian says: batch 'B1'" in lookup.why_missing("B1")
        issued = Event("serials_allocated", "cut-01", {"scope": "R1", "first": SERIALS[0],
                       "count": 3, "serials": SERIALS, "batch": "B1", "sku": "MUG",
                       "run_id": "R1"}, seq=1)  # fmt: skip
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.publish(Topics(SITE).cell_events("cut-01"), encode_event(issued), qos=1)
        await wait_until(lambda: historian.store.count() == 1, 10, "serials stored")
        assert await lookup.fetch_wanted() == 1  # asked again, answered, kept
        assert lookup.wanted == set()
    finally:
        await historian.stop()
        historian.store.close()
    mosquitto.stop()  # the network is gone
    qa.close()
    qa = StationStore(tmp_path / "qa-01.db", "qa-01")  # and the kiosk restarted
    try:
        offline = _lookup(qa, mqtt)
        lot = offline("B1")
        assert lot is not None
        assert (lot.batch, lot.sku, lot.run_id, lot.serials) == ("B1", "MUG", "R1", tuple(SERIALS))
        # A batch it was never given truly needs the historian: said, and kept asking.
        assert offline("B2") is None
        assert await offline.fetch("B2") is None
        assert "cannot reach the broker" in offline.why_missing("B2")
        assert offline.wanted == {"B2"}
    finally:
        qa.close()
