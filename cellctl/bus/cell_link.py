"""The station's link to the broker: retained status with a last will, the outbox
drain, assignments and resend requests.

The station controller owns one CellLink. With no broker the station keeps
working: events stay in the store's outbox and the link keeps retrying with
back-off. Rows leave the outbox only after the broker acknowledged them (QoS 1
PUBACK), so a lost connection re-sends them, never loses them; consumers drop the
duplicates by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt

from cellctl.bus.codec import (
    PAYLOAD_VERSION,
    PayloadError,
    decode_assign,
    decode_holds,
    decode_resend,
    encode,
    encode_event,
)
from cellctl.bus.confirmed import decode_confirmed
from cellctl.bus.connection import Backoff
from cellctl.bus.session import Endpoint, MqttSession
from cellctl.bus.topics import Topics
from cellctl.config.models import MqttConfig
from cellctl.domain.events import Event, utc_now_iso
from cellctl.store import pruning
from cellctl.store.station_store import StationStore

log = logging.getLogger(__name__)

# Called with the assignment dict, or None when the scheduler withdraws it.
AssignHandler = Callable[[dict[str, Any] | None], Awaitable[None] | None]
HoldsHandler = Callable[[dict[str, tuple[bool, str]]], None]


class CellLink:
    def __init__(
        self,
        store: StationStore,
        *,
        site: str,
        kind: str,
        mqtt: MqttConfig,
        on_assign: AssignHandler | None = None,
        on_holds: HoldsHandler | None = None,
        status: dict[str, Any] | None = None,
        drain_batch: int = 200,
        publish_timeout_s: float = 5.0,
        heartbeat_s: float = 2.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.store = store
        self.cell = store.cell
        self.kind = kind
        self.mqtt = mqtt
        self.topics = Topics(site)
        self.on_assign = on_assign
        self.on_holds = on_holds
        self.drain_batch = drain_batch
        self.publish_timeout_s = publish_timeout_s
        self.heartbeat_s = heartbeat_s
        self.status_min_interval_s = 0.1
        self.backoff = backoff or Backoff()
        self.sent = 0
        self._status: dict[str, Any] = {"state": "idle", **(status or {})}
        self._wake = asyncio.Event()
        self._status_dirty = asyncio.Event()
        self._last_assign_id: str | None = None
        self.confirmed_seq = 0
        will = aiomqtt.Will(
            self.topics.cell_status(self.cell),
            encode(self.status_payload(online=False)),
            qos=1,
            retain=True,
        )
        endpoint = Endpoint(
            f"cellctl-{self.topics.site}-{self.cell}",
            will=will,
            clean_session=True,
            max_inflight=100,
            pending_calls_threshold=100_000,
        )
        self.session = MqttSession(mqtt, [endpoint], name=self.cell, backoff=self.backoff)

    @property
    def connected(self) -> bool:
        return self.session.connected

    @property
    def last_error(self) -> str | None:
        return self.session.last_error

    @property
    def _client(self) -> aiomqtt.Client | None:
        return self.session.client

    @property
    def _stopping(self) -> bool:
        return self.session.stopping

    # -- what the controller and the status line use ---------------------------

    @property
    def backlog(self) -> int:
        return self.store.outbox_count()

    def status_line(self) -> str:
        backlog = self.backlog
        if self.connected:
            return "online" if not backlog else f"online — sending {backlog} events"
        return f"offline — {backlog} events waiting"

    def notify(self) -> None:
        """New events are in the outbox: drain now rather than at the next poll."""
        self._wake.set()

    def update_status(self, **fields: Any) -> None:
        """Merge fields (state, operator, run, step, counts, health...) into the status."""
        self._status.update(fields)
        self._status_dirty.set()

    def status_payload(self, *, online: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = dict(self._status) if online else {"state": "offline"}
        body.update(
            v=PAYLOAD_VERSION,
            cell=self.cell,
            kind=self.kind,
            online=online,
            time=utc_now_iso(),
        )
        if online:
            body.update(last_seq=self.store.last_seq(), backlog=self.backlog)
        return body

    def accept(self, assignment: dict[str, Any], operator: str | None = None) -> list[Event]:
        """Record that this cell takes the assignment (the event reaches the scheduler)."""
        return self._record(assignment, "assignment_accepted", operator)

    def decline(
        self, assignment: dict[str, Any], reason: str, operator: str | None = None
    ) -> list[Event]:
        return self._record(assignment, "assignment_declined", operator, reason=reason)

    def _record(
        self, assignment: dict[str, Any], etype: str, operator: str | None, **extra: Any
    ) -> list[Event]:
        payload = {
            "run_id": assignment["run_id"],
            "step": assignment["step"],
            "assign_id": assignment["assign_id"],
            **extra,
        }
        stored = self.store.append(Event(etype, self.cell, payload, operator=operator))
        self.notify()
        return stored

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await self.session.wait_connected(timeout)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        self.session.start(self._connected_work, f"cell-link-{self.cell}")

    async def stop(self) -> None:
        """Say offline explicitly (a clean disconnect suppresses the will), then leave."""
        client = self._client
        if client is not None and self.connected:
            with contextlib.suppress(Exception):
                await client.publish(
                    self.topics.cell_status(self.cell),
                    encode(self.status_payload(online=False)),
                    qos=1,
                    retain=True,
                    timeout=2.0,
                )
        self.session.stop()
        self._wake.set()
        self._status_dirty.set()
        await self.session.close()

    # -- the connection loop ------------------------------------------------------

    async def _connected_work(self, clients: list[aiomqtt.Client]) -> None:
        (client,) = clients
        await client.subscribe(self.topics.cell_assign(self.cell), qos=1)
        await client.subscribe(self.topics.cell_resend(self.cell), qos=1)
        await client.subscribe(self.topics.historian_confirmed(self.cell), qos=1)
        if self.on_holds is not None:
            await client.subscribe(self.topics.holds, qos=1)
        await self._publish_status(client)
        self.session.up()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._listen(client))
            tg.create_task(self._drain(client))
            tg.create_task(self._status_loop(client))

    async def _publish_status(self, client: aiomqtt.Client) -> None:
        self._status_dirty.clear()
        await client.publish(
            self.topics.cell_status(self.cell),
            encode(self.status_payload()),
            qos=1,
            retain=True,
            timeout=self.publish_timeout_s,
        )

    async def _status_loop(self, client: aiomqtt.Client) -> None:
        while not self._stopping:
            # asyncio.timeout, not wait_for: in 3.11 wait_for can swallow a cancel
            # that races with the inner wait, and stop() would then hang.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.heartbeat_s):
                    await self._status_dirty.wait()
            await self._publish_status(client)
            # Coalesce bursts (a count per unit) into at most ten statuses a second.
            await asyncio.sleep(self.status_min_interval_s)

    async def _drain(self, client: aiomqtt.Client) -> None:
        topic = self.topics.cell_events(self.cell)
        while not self._stopping:
            self._wake.clear()
            batch = self.store.pending(self.drain_batch)
            if not batch:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._wake.wait()
                continue
            # Tasks start in creation order, so paho writes the batch in seq order.
            results = await asyncio.gather(
                *(
                    client.publish(topic, encode_event(e), qos=1, timeout=self.publish_timeout_s)
                    for e in batch
                ),
                return_exceptions=True,
            )
            acked = [e.id for e, r in zip(batch, results, strict=True) if r is None]
            self.store.mark_sent(acked)
            self.sent += len(acked)
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                raise aiomqtt.MqttError(f"{len(failed)} events not acknowledged: {failed[0]!r}")
            if len(batch) < self.drain_batch:
                self._status_dirty.set()

    async def _listen(self, client: aiomqtt.Client) -> None:
        assign_topic = self.topics.cell_assign(self.cell)
        resend_topic = self.topics.cell_resend(self.cell)
        confirmed_topic = self.topics.historian_confirmed(self.cell)
        async for message in client.messages:
            topic = str(message.topic)
            payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
            try:
                if topic == assign_topic:
                    await self._handle_assign(decode_assign(payload))
                elif topic == resend_topic:
                    first, last = decode_resend(payload)
                    gone = pruning.describe_resend(self.store.conn, first, last)
                    if gone is not None:
                        log.warning("%s: resend %d..%d requested: %s", self.cell, first, last, gone)
                    n = self.store.requeue(first, last)
                    log.info("%s: resend %d..%d requested, %d queued", self.cell, first, last, n)
                    self.notify()
                elif topic == confirmed_topic:
                    hwm, event_id = decode_confirmed(payload)
                    try:
                        self.confirmed_seq = pruning.record_confirmed(
                            self.store.conn, hwm, event_id
                        )
                    except sqlite3.Error as exc:  # a full disk: nothing is lost by waiting
                        log.warning("%s: historian's mark %d not recorded (%s); the next "
                                    "one will be", self.cell, hwm, exc)  # fmt: skip
                elif topic == self.topics.holds and self.on_holds is not None:
                    self.on_holds(decode_holds(payload))
            except PayloadError as exc:
                log.warning("%s: dropped a malformed message on %s: %s", self.cell, topic, exc)
            except (aiomqtt.MqttError, asyncio.CancelledError):
                raise
            except Exception:
                log.exception("%s: failed on a message on %s; dropped it", self.cell, topic)

    async def _handle_assign(self, assignment: dict[str, Any] | None) -> None:
        if assignment is not None and assignment.get("withdrawn"):
            self._last_assign_id = None
        elif assignment is not None and assignment["assign_id"] == self._last_assign_id:
            return  # the retained copy again after a reconnect
        else:
            self._last_assign_id = None if assignment is None else assignment["assign_id"]
        if self.on_assign is None:
            return
        try:
            result = self.on_assign(assignment)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("%s: the assignment handler failed", self.cell)
