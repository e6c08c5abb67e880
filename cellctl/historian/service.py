"""The site historian service: every cell's events from the bus, stored once, and the
site's questions answered over MQTT 5 request/response.

Exactly once, as the scheduler does it (cellctl.bus.intake): a persistent session keeps
QoS 1 events while the historian is away; duplicates are dropped on the event id; a gap
in a cell's seq is asked again. A batch is stored before anything else is read from the
broker; when the database is away the batch is kept and retried until it is stored, and
what a crash loses before that comes back by the gap re-ask (cells keep every event
until we confirm holding it: `cellctl/bus/confirmed.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from cellctl.bus.codec import (
    PAYLOAD_VERSION,
    PayloadError,
    decode_event,
    decode_status,
    encode,
)
from cellctl.bus.confirmed import ConfirmationThrottle, encode_confirmed, event_id_at
from cellctl.bus.connection import Backoff
from cellctl.bus.intake import GapTracker, message_batches, resend_request
from cellctl.bus.responder import RequestRefused
from cellctl.bus.responder import answer as reply_to_request
from cellctl.bus.session import MqttSession, consumer_endpoints
from cellctl.bus.tasks import cancel_and_wait
from cellctl.bus.topics import Topics
from cellctl.config.models import MqttConfig
from cellctl.domain.events import Event, utc_now_iso
from cellctl.historian.answers import BadQuery, SiteContext, answer
from cellctl.historian.backends import open_store
from cellctl.historian.store import HistorianStore, IngestResult, StoreUnavailable

log = logging.getLogger(__name__)

# The broker keeps our session (and QoS 1 events for it) this long while we are away.
SESSION_EXPIRY_S = 7 * 24 * 3600


@dataclass
class CellSeen:
    online: bool = False
    last_seq: int = 0
    backlog: int = 0
    kind: str | None = None


@dataclass
class Counters:
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    dropped: int = 0
    requests: int = 0
    bad_requests: int = 0
    store_outages: int = 0
    resend_requests: int = 0
    drop_reasons: dict[str, int] = field(default_factory=dict)


class Historian:
    def __init__(
        self,
        store: HistorianStore,
        *,
        context: SiteContext,
        mqtt: MqttConfig | None = None,
        gap_grace_s: float = 1.0,
        tick_s: float = 0.2,
    ) -> None:
        self.store = store
        self.ctx = context
        self.topics = Topics(context.site_id)
        self.mqtt = mqtt or MqttConfig()
        self.gap_grace_s = gap_grace_s
        self.tick_s = tick_s
        self.cells: dict[str, CellSeen] = {}
        self.gaps = GapTracker("historian")
        # What we hold per cell, told to the cells (retained) so they may prune it.
        self.confirmations = ConfirmationThrottle()
        self.counters = Counters()
        self.store_backoff = Backoff(first=0.2, cap=5.0)
        # Requests are answered in a worker thread on a connection of their own, so a
        # month's report never holds up the intake.
        self._reader: HistorianStore | None = None
        self._reader_lock = asyncio.Lock()
        self._request_tasks: set[asyncio.Task[None]] = set()
        will = aiomqtt.Will(
            self.topics.historian_status, encode(self.status(online=False)), qos=1, retain=True
        )
        self.session = MqttSession(
            self.mqtt,
            consumer_endpoints(f"cellctl-historian-{self.topics.site}", will),
            name="historian",
            on_lost=self._link_lost,
        )
        self.backoff = self.session.backoff

    @property
    def connected(self) -> bool:
        return self.session.connected

    @property
    def _stopping(self) -> bool:
        return self.session.stopping

    def _link_lost(self) -> None:
        for view in self.cells.values():
            view.online = False

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self.session.start(self._connected_work, "historian")

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await self.session.wait_connected(timeout)

    async def stop(self) -> None:
        self.session.stop()
        for task in list(self._request_tasks):
            await cancel_and_wait(task)
        await self.session.close()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def status(self, *, online: bool = True) -> dict[str, Any]:
        c = self.counters
        return {
            "v": PAYLOAD_VERSION,
            "online": online,
            "time": utc_now_iso(),
            "backend": self.store.backend,
            "stored": c.stored,
            "duplicates": c.duplicates,
            "conflicts": c.conflicts,
            "dropped_messages": c.dropped,
            "requests": c.requests,
            "bad_requests": c.bad_requests,
            "store_outages": c.store_outages,
            "gaps": sorted(self.gaps.gaps),
        }

    async def _connected_work(self, clients: list[aiomqtt.Client]) -> None:
        intake, answers = clients
        await intake.subscribe(self.topics.all_status, qos=1)
        await intake.subscribe(self.topics.all_events, qos=1)
        await answers.subscribe(self.topics.all_site_requests, qos=1)
        await self._publish_status(intake)
        self.session.up()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._consume(intake))
            tg.create_task(self._serve(answers))
            tg.create_task(self._ticker(intake))

    async def _publish_status(self, client: aiomqtt.Client) -> None:
        await client.publish(
            self.topics.historian_status, encode(self.status()), qos=1, retain=True, timeout=10
        )

    # -- intake --------------------------------------------------------------------------

    async def _consume(self, client: aiomqtt.Client) -> None:
        async for batch in message_batches(client):
            await self.handle_batch(client, batch)

    def _drop(self, reason: str, topic: str, detail: object) -> None:
        self.counters.dropped += 1
        self.counters.drop_reasons[reason] = self.counters.drop_reasons.get(reason, 0) + 1
        log.warning("historian: dropped a message on %s: %s", topic, detail)

    async def handle_batch(self, client: aiomqtt.Client, batch: list[aiomqtt.Message]) -> None:
        events: list[Event] = []
        for message in batch:
            topic = str(message.topic)
            raw = message.payload if isinstance(message.payload, bytes | bytearray) else b""
            try:
                where = self.topics.cell_of(topic)
                if where is not None and where[1] == "events":
                    events.append(decode_event(raw, where[0]))
                elif where is not None and where[1] == "status":
                    self._on_status(where[0], decode_status(raw))
            except PayloadError as exc:
                self._drop("malformed", topic, exc)
        if events:
            await self._store(events)

    async def _store(self, events: list[Event]) -> None:
        """Store the batch; while the database is away, keep it and try again (nothing
        more is read from the broker meanwhile, so nothing is passed over). A batch the
        database refuses for another reason is stored event by event, and an event it
        still refuses is counted and dropped (logged), as the scheduler does."""
        while True:
            try:
                result = self.store.ingest(events)
                break
            except StoreUnavailable as exc:
                await self._wait_for_store(exc)
            except Exception:
                log.exception("historian: a batch of %d events failed; storing singly", len(events))
                result = await self._store_singly(events)
                break
        self.store_backoff.reset()
        self.counters.stored += len(result.stored)
        self.counters.duplicates += result.duplicates
        self.counters.conflicts += result.conflicts

    async def _wait_for_store(self, exc: Exception) -> None:
        self.counters.store_outages += 1
        delay = self.store_backoff.next()
        log.error("historian: database unavailable (%s); retrying in %.1f s", exc, delay)
        await asyncio.sleep(delay)
        with contextlib.suppress(StoreUnavailable):
            self.store.reconnect()

    async def _store_singly(self, events: list[Event]) -> IngestResult:
        total = IngestResult()
        for event in events:
            while True:
                try:
                    one = self.store.ingest([event])
                    break
                except StoreUnavailable as exc:
                    await self._wait_for_store(exc)
                except Exception as exc:
                    self._drop("refused by the database", f"{event.cell} seq {event.seq}", exc)
                    one = IngestResult()
                    break
            total.stored += one.stored
            total.duplicates += one.duplicates
            total.conflicts += one.conflicts
        return total

    def _on_status(self, cell: str, status: dict[str, Any]) -> None:
        if status["cell"] != cell:
            raise PayloadError(f"status of {status['cell']!r} on the topic of {cell!r}")
        view = self.cells.setdefault(cell, CellSeen())
        if status["online"] and not view.online:
            self.gaps.cell_back(cell)
        view.online = status["online"]
        view.last_seq = status.get("last_seq") or view.last_seq
        view.backlog = status.get("backlog") or 0
        view.kind = status.get("kind") or view.kind

    async def _ticker(self, client: aiomqtt.Client) -> None:
        last_status = 0.0
        marks_failing = False
        while not self._stopping:
            await asyncio.sleep(self.tick_s)
            try:
                marks = self.store.seq_marks()
            except Exception as exc:  # the intake notices and waits for the database
                if not marks_failing:
                    log.info("historian: cannot read sequence marks (%s)", exc)
                marks_failing = True
                continue
            marks_failing = False
            for cell, (first, last) in self.gaps.due(marks, self.cells, self.gap_grace_s).items():
                self.counters.resend_requests += 1
                await client.publish(
                    self.topics.cell_resend(cell), resend_request(first, last), qos=1, timeout=10
                )
            for cell, hwm in self.confirmations.due(marks).items():
                await client.publish(
                    self.topics.historian_confirmed(cell),
                    encode_confirmed(hwm, event_id_at(self.store, cell, hwm)),
                    qos=1,
                    retain=True,
                    timeout=10,
                )
                self.confirmations.sent(cell, hwm)
            now = time.monotonic()
            if now - last_status > 5.0:
                await self._publish_status(client)
                last_status = now

    # -- requests ------------------------------------------------------------------------

    async def _serve(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            task = asyncio.create_task(self._answer(client, message))
            self._request_tasks.add(task)
            task.add_done_callback(self._request_tasks.discard)

    async def _answer(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        def malformed(why: str) -> None:
            if why == "request without response topic":
                self._drop(why, str(message.topic), "no response topic")
            else:
                self.counters.requests += 1
                self.counters.bad_requests += 1

        await reply_to_request(
            client, message, self._handle, service="historian", on_malformed=malformed
        )

    async def _handle(self, what: str, body: dict[str, Any]) -> Any:
        self.counters.requests += 1
        try:
            return await self._ask_store(what, body)
        except BadQuery as exc:
            self.counters.bad_requests += 1
            raise RequestRefused(str(exc)) from None
        except StoreUnavailable as exc:
            raise RequestRefused(f"the historian's database is unavailable: {exc}") from None

    async def _ask_store(self, what: str, body: dict[str, Any]) -> Any:
        async with self._reader_lock:
            if self._reader is None:
                self._reader = await asyncio.to_thread(open_store, self.store.target)
            reader = self._reader
            status = self.status()
            try:
                return await asyncio.to_thread(answer, reader, what, body, self.ctx, status)
            except StoreUnavailable:
                reader.close()
                self._reader = None
                raise
            except Exception as exc:
                if reader._unavailable(exc):
                    reader.close()
                    self._reader = None
                    raise StoreUnavailable(str(exc)) from exc
                raise
