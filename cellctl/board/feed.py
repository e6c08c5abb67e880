"""The supervisor board's model: the live picture of every cell, the queue and the alerts.

Headless: it subscribes to the site's cell status and events and the scheduler's
queue, and keeps what the board draws. Every message is validated; a bad one is
counted and dropped. Events are de-duplicated by id and gaps in a cell's
sequence are noticed. A cell is stale when nothing arrived from it for
`stale_after_s` by the board's own clock (cells heartbeat their status every
few seconds; their clocks may differ from ours, so their `time` is only shown).

The Textual board reads this model on a timer; it never owns the connection.
Each board process (one per browser viewer under textual-serve) has its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import aiomqtt

from cellctl.board.alerts import Alerts
from cellctl.board.history import BoardHistory
from cellctl.board.model import CellTile, check_numbers, clean_queue, short_word
from cellctl.board.queue import (
    QueueRow,
    RunFacts,
    queue_rows,
)
from cellctl.bus.codec import (
    PAYLOAD_VERSION,
    PayloadError,
    decode,
    decode_event,
    decode_status,
    encode,
)
from cellctl.bus.session import Endpoint, MqttSession
from cellctl.bus.topics import Topics
from cellctl.config.models import MqttConfig, SiteConfig
from cellctl.domain import metrics
from cellctl.domain.events import Event, utc_now_iso
from cellctl.domain.model import role_allows
from cellctl.domain.states import CellState

log = logging.getLogger(__name__)

# Board action -> the privileged action the scheduler checks for it.
ACTION_RIGHTS = {"prioritise": "prioritise", "cancel": "cancel_run", "release_hold": "qc_release"}
ACK_RIGHT = "ack_alert"  # not in PRIVILEGED_ACTIONS: every role may acknowledge
ALL_DAY = metrics.ShiftSpec("all day", "00:00", "00:00", days=metrics.WEEKDAYS)


class CommandRefused(Exception):
    """A supervisor action the board will not send (role, or a malformed request)."""


# Payload keys the board and the metrics do arithmetic on, per event type.


class BoardFeed:
    def __init__(
        self,
        site: str | SiteConfig,
        mqtt: MqttConfig | None = None,
        *,
        stale_after_s: float = 6.0,
        ideal_cycle_s: dict[str, float] | None = None,
        history: BoardHistory | None = None,
        max_events: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.site = site if isinstance(site, SiteConfig) else None
        site_id = site.site.id if isinstance(site, SiteConfig) else site
        self.topics = Topics(site_id)
        self.mqtt = mqtt or (self.site.mqtt if self.site else MqttConfig())
        self.stale_after_s = stale_after_s
        self.ideal_cycle_s = ideal_cycle_s or {}
        # The past, asked over the bus (never another machine's files).
        self.history = history or BoardHistory(self.mqtt, self.topics.site)
        self.clock = clock
        self.wall = wall
        self.cells: dict[str, CellTile] = {}
        self.events: deque[Event] = deque(maxlen=max_events)
        self.run_facts: dict[str, RunFacts] = {}
        self.queue_snapshot: dict[str, Any] | None = None
        self.scheduler_status: dict[str, Any] | None = None
        self.alerts = Alerts(on_ack_cleared=lambda key: self._send(self.ack_topic(key), b""))
        self._outgoing: list[tuple[str, bytes]] = []
        self._outgoing_ready = asyncio.Event()
        self.dropped = 0
        self.duplicates = 0
        self.last_drop: str | None = None
        self.version = 0
        self.queue_version = 0
        self._changed: set[str] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_limit = max_events * 2
        self._first_event_wall: dict[str, float] = {}
        # (event wall time, received wall time) since the UI last took them: the bench's
        # latency samples, and what the UI needs to know it has something new to draw.
        self._arrivals: list[float] = []
        self.measure = False
        self.listeners: list[Callable[[], None]] = []
        self.session = MqttSession(
            self.mqtt, [Endpoint(clean_session=True)], name="board", on_lost=self._link_lost
        )
        self.backoff = self.session.backoff

    @property
    def connected(self) -> bool:
        return self.session.connected

    @property
    def last_error(self) -> str | None:
        return self.session.last_error

    @property
    def _client(self) -> aiomqtt.Client | None:
        return self.session.client

    def _link_lost(self) -> None:
        self.version += 1

    # -- applying messages (no I/O: the tests drive this directly) ------------------------

    def handle(self, topic: str, raw: bytes | bytearray | str | None) -> None:
        """Apply one message; a malformed one is counted and dropped, never raised."""
        try:
            where = self.topics.cell_of(topic)
            if where is not None and where[1] == "events":
                self._on_event(decode_event(raw, where[0]))
            elif where is not None and where[1] == "status":
                self._on_status(where[0], decode_status(raw))
            elif topic == self.topics.scheduler_queue:
                self._on_queue(decode(raw) if raw else None)
            elif topic == self.topics.scheduler_status:
                self.scheduler_status = decode(raw) if raw else None
                self._conservation_alerts(self.scheduler_status or {})
                self.version += 1
            elif topic.startswith(self.ack_prefix):
                self._on_ack(topic, raw)
        except PayloadError as exc:
            self.dropped += 1
            self.last_drop = f"{topic}: {exc}"
            log.warning("board: dropped a message on %s: %s", topic, exc)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # Valid by the codec but not something the board can use: drop it, stay up.
            self.dropped += 1
            self.last_drop = f"{topic}: {exc!r}"
            log.exception("board: could not apply a message on %s", topic)

    def _tile(self, cell: str) -> CellTile:
        tile = self.cells.get(cell)
        if tile is None:
            now = self.clock()
            tile = self.cells[cell] = CellTile(cell, received=now, state_since=now)
        return tile

    def _touch(self, tile: CellTile) -> None:
        tile.received = self.clock()
        if tile.stale:
            tile.stale = False
            self.alerts.clear("cell_stale", tile.cell)
        self._changed.add(tile.cell)
        self.version += 1

    def _on_status(self, cell: str, s: dict[str, Any]) -> None:
        if s["cell"] != cell:
            raise PayloadError(f"status of {s['cell']!r} on the topic of {cell!r}")
        tile = self._tile(cell)
        state = str(s["state"]) if s["online"] else "offline"
        if state != tile.state:
            tile.state_since = self.clock()
        tile.state = state
        tile.online = bool(s["online"])
        tile.kind = s.get("kind") or tile.kind
        tile.cell_time = s.get("time")
        if tile.online:
            tile.operator = s.get("operator")
            tile.run_id = s.get("run_id", s.get("run"))
            tile.step = s.get("step")
            tile.good = s.get("good") if isinstance(s.get("good"), int) else None
            tile.scrap = s.get("scrap") if isinstance(s.get("scrap"), int) else None
            tile.outbox = int(s.get("outbox", s.get("backlog")) or 0)
            tile.printer = short_word(s.get("printer"))
            tile.scanner = short_word(s.get("scanner"))
            tile.machine = short_word(s.get("machine"))
            tile.link = short_word(s.get("link"))
        wall = self.wall()
        if not tile.online:
            self.alerts.raise_("cell_offline", cell, f"{cell} is offline", wall)
        else:
            self.alerts.clear("cell_offline", cell)
        if state == CellState.DOWN:
            self.alerts.raise_("cell_down", cell, f"{cell} is down", wall)
        else:
            self.alerts.clear("cell_down", cell)
        self._touch(tile)

    def _on_event(self, e: Event) -> None:
        check_numbers(e)
        if e.id in self._seen:
            self.duplicates += 1
            return
        self._seen[e.id] = None
        if len(self._seen) > self._seen_limit:
            self._seen.popitem(last=False)
        tile = self._tile(e.cell)
        if tile.last_seq and e.seq > tile.last_seq + 1:
            tile.gaps += e.seq - tile.last_seq - 1
        tile.last_seq = max(tile.last_seq, e.seq)
        tile.events.append(e)
        self.events.append(e)
        wall = self.wall()
        if e.cell not in self._first_event_wall:
            with contextlib.suppress(ValueError):
                self._first_event_wall[e.cell] = min(wall, metrics.parse_time(e.time).timestamp())
        p = e.payload
        if e.type in ("units_counted", "count_undone"):
            sign = 1 if e.type == "units_counted" else -1
            tile.event_good += sign * int(p.get("good", 0))
            tile.event_scrap += sign * int(p.get("scrap", 0))
        elif e.type == "machine_alarm":
            self.alerts.raise_(
                "machine_alarm", e.cell, f"{e.cell}: {p['code']} {p['message']}", wall
            )
        elif e.type == "batch_held":
            self.alerts.raise_(
                "hold", str(p["batch"]), f"batch {p['batch']} held: {p['reason']}", wall
            )
        elif e.type == "batch_released":
            self.alerts.clear("hold", str(p["batch"]))
        elif e.type in ("count_refused", "count_exceeds_upstream"):
            # Conservation (issue 16): a refused press, or a machine's count kept beyond
            # what came from upstream, is the supervisor's to look at.
            what = "count refused" if e.type == "count_refused" else "count kept over upstream"
            subject = f"{p['run_id']}/{p['step']}"
            self.alerts.raise_(
                "conservation", subject, f"{e.cell}: {what}: {p.get('reason', '')}", wall
            )
        elif e.type == "run_step_completed" and p.get("closed_short"):
            subject = f"{p['run_id']}/{p['step']}"
            self.alerts.raise_(
                "closed_short",
                subject,
                f"{e.cell} closed {p['run_id']} step {p['step']} short at {p.get('good', 0)} "
                f"good of {p.get('quantity', '?')}: {p['closed_short']}",
                wall,
            )
        if self.measure:
            sent = p.get("sent_at")
            self._arrivals.append(
                float(sent) if isinstance(sent, int | float) else
                metrics.parse_time(e.time).timestamp()
            )  # fmt: skip
        self._touch(tile)

    def _on_queue(self, snapshot: dict[str, Any] | None) -> None:
        if snapshot is not None:
            snapshot = clean_queue(snapshot)
        self.queue_snapshot = snapshot
        self.queue_version += 1
        self.version += 1
        self._check_due_risk()

    # -- acknowledgements, shared by every board of the site --------------------------------

    @property
    def ack_prefix(self) -> str:
        return f"{self.topics.base}/board/ack/"

    def ack_topic(self, key: tuple[str, str]) -> str:
        return f"{self.ack_prefix}{key[0]}/{quote(key[1], safe='')}"

    def acknowledge(self, key: tuple[str, str], by: str) -> bool:
        """Acknowledge an alert here and, retained on the bus, for every other board.

        The acknowledgement names who saw it: any operator of the site may give it (a
        machinist acknowledges their own cell's alarm); CommandRefused without a badge.
        """
        self.check_badge(ACK_RIGHT, by)
        if not self.alerts.ack(key, by):
            return False
        body = {"v": PAYLOAD_VERSION, "by": by, "time": utc_now_iso()}
        self.alerts.shared[key] = by
        self._send(self.ack_topic(key), encode(body))
        return True

    def _on_ack(self, topic: str, raw: bytes | bytearray | str | None) -> None:
        kind, _, subject = topic[len(self.ack_prefix) :].partition("/")
        key = (kind, unquote(subject))
        if not raw:
            self.alerts.shared.pop(key, None)  # the alert cleared: the next one is new
            return
        by = decode(raw).get("by")
        if not isinstance(by, str) or not by or len(by) > 64:
            raise PayloadError("an acknowledgement needs `by`, a badge")
        self.alerts.shared[key] = by
        alert = self.alerts.items.get(key)
        if alert is not None and alert.acked_by is None:
            self.alerts.ack(key, by)

    def _send(self, topic: str, payload: bytes) -> None:
        """Publish soon, from sync code; dropped with a log line when not connected."""
        if not self.connected:
            log.info("board: not connected, %s not shared", topic)
            return
        self._outgoing.append((topic, payload))
        self._outgoing_ready.set()

    async def _publish_loop(self, client: aiomqtt.Client) -> None:
        while True:
            await self._outgoing_ready.wait()
            self._outgoing_ready.clear()
            batch, self._outgoing = self._outgoing, []
            for topic, payload in batch:
                await client.publish(topic, payload, qos=1, retain=True, timeout=5.0)

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            raw = message.payload
            self.handle(str(message.topic), raw if isinstance(raw, bytes | bytearray) else b"")
            for listener in self.listeners:
                listener()

    # -- time passing -------------------------------------------------------------------------

    def tick(self) -> set[str]:
        """Mark cells stale that went quiet; returns the cells that changed."""
        now = self.clock()
        changed = set()
        for tile in self.cells.values():
            quiet = now - tile.received > self.stale_after_s
            if quiet and not tile.stale and tile.online:
                tile.stale = True
                changed.add(tile.cell)
                self.alerts.raise_(
                    "cell_stale", tile.cell,
                    f"{tile.cell} silent for {now - tile.received:.0f} s", self.wall(),
                )  # fmt: skip
        if changed:
            self._changed |= changed
            self.version += 1
        return changed

    def stale_cells(self) -> list[str]:
        return sorted(c for c, t in self.cells.items() if t.stale)

    def take_changes(self) -> set[str]:
        changed, self._changed = self._changed, set()
        return changed

    def take_arrivals(self) -> list[float]:
        arrivals, self._arrivals = self._arrivals, []
        return arrivals

    # -- the queue -----------------------------------------------------------------------------

    def cells_per_kind(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for t in self.cells.values():
            if t.online and not t.stale and t.kind:
                out[t.kind] += 1
        return dict(out)

    def _conservation_alerts(self, status: dict[str, Any]) -> None:
        """What the scheduler learned breaks conservation (issue 16), as alerts that
        clear when the scheduler no longer reports them (a step closed, say)."""
        found = status.get("conservation")
        if not isinstance(found, list):
            return
        wall = self.wall()
        now = set()
        for a in found:
            if isinstance(a, dict) and {"run_id", "step", "message"} <= a.keys():
                subject = f"{a['run_id']}/{a['step']}/{a.get('rule', '')}"
                now.add(subject)
                self.alerts.raise_("step_counts", subject, str(a["message"]), wall)
        for a in list(self.alerts.items.values()):
            if a.kind == "step_counts" and a.active and a.subject not in now:
                self.alerts.clear("step_counts", a.subject)

    def queue(self) -> list[QueueRow]:
        return queue_rows(self.queue_snapshot, self.run_facts, self.cells_per_kind(), self.wall())

    def _check_due_risk(self) -> None:
        rows = self.queue()
        wall = self.wall()
        at_risk = {r.run_id for r in rows if r.at_risk}
        for r in rows:
            if r.at_risk and r.eta_s is not None and r.due_s is not None:
                late = r.eta_s - r.due_s
                self.alerts.raise_(
                    "due_risk", r.run_id, f"run {r.run_id} may be {late / 60:.0f} min late", wall
                )
        for a in list(self.alerts.items.values()):
            if a.kind == "due_risk" and a.subject not in at_risk:
                self.alerts.clear("due_risk", a.subject)

    # -- drill-down ------------------------------------------------------------------------------

    def cell_events(self, cell: str) -> list[Event]:
        tile = self.cells.get(cell)
        return list(tile.events) if tile else []

    def run_progress(self, run_id: str) -> list[dict[str, Any]]:
        """Each step of a run seen so far: cell, status, good, scrap, first and last event;
        with the scheduler's word on every step once `fetch_run` has asked it."""
        steps: dict[int, dict[str, Any]] = {}
        for e in self.events:
            if e.payload.get("run_id") != run_id or "step" not in e.payload:
                continue
            step = int(e.payload["step"])
            s = steps.setdefault(
                step,
                {"step": step, "cells": set(), "status": "assigned", "good": 0, "scrap": 0,
                 "first": e.time, "last": e.time},
            )  # fmt: skip
            s["cells"].add(e.cell)
            s["last"] = e.time
            if e.type == "run_step_started":
                s["status"] = "running"
            elif e.type == "run_step_completed":
                s["status"] = "short" if e.payload.get("closed_short") else "done"
            elif e.type == "run_step_released":
                s["status"] = "released"
            elif e.type in ("units_counted", "count_undone"):
                sign = 1 if e.type == "units_counted" else -1
                s["good"] += sign * int(e.payload.get("good", 0))
                s["scrap"] += sign * int(e.payload.get("scrap", 0))
        for a in (self.queue_snapshot or {}).get("ready", []):
            if isinstance(a, dict) and a.get("run_id") == run_id:
                steps.setdefault(int(a.get("step", 0)), {"step": a.get("step"), "cells": set(),
                                 "status": "waiting", "good": 0, "scrap": 0,
                                 "first": None, "last": None})  # fmt: skip
        for row in self.history.run_steps.get(run_id, []):
            # The scheduler's word on every step of the run (asked over the bus).
            fresh = {"step": row["step"], "cells": set(), "status": row["status"], "good": 0,
                     "scrap": 0, "first": row["assigned_at"], "last": row["done_at"]}  # fmt: skip
            s = steps.setdefault(row["step"], fresh)
            # A step closed short on purpose reads as such (issue 16).
            s["status"] = "short" if row.get("closed_short") else row["status"]
            s["kind"] = row["kind"]
            s["good"], s["scrap"] = max(s["good"], row["good"]), max(s["scrap"], row["scrap"])
            if row["cell"]:
                s["cells"].add(row["cell"])
        return [
            {**s, "cells": sorted(s["cells"])}
            for _, s in sorted(steps.items(), key=lambda kv: kv[0])
        ]

    async def preload(self, hours: float = 8.0) -> int:
        """Fill the metrics with the last hours of the site, asked of the historian, so a
        board that restarts does not start from nothing; alerts stay live-only. Without
        an answer the board starts from what it hears (said in the log)."""
        since = datetime.fromtimestamp(self.wall() - hours * 3600, UTC)
        loaded = 0
        for e in await self.history.recent(since):
            if e.id in self._seen:
                continue
            with contextlib.suppress(PayloadError):
                check_numbers(e)
                self._seen[e.id] = None
                self.events.append(e)
                tile = self._tile(e.cell)
                tile.events.append(e)
                tile.last_seq = max(tile.last_seq, e.seq)
                first = metrics.parse_time(e.time).timestamp()
                self._first_event_wall[e.cell] = min(
                    self._first_event_wall.get(e.cell, first), first
                )
                loaded += 1
        if loaded:
            self.version += 1
        return loaded

    async def fetch_trace(self, serial: str) -> str | None:
        """Ask the historian for every event naming the serial; why not, or None."""
        return await self.history.fetch_serial(serial)

    async def fetch_run(self, run_id: str) -> str | None:
        """Ask the scheduler for the run's steps; why not, or None."""
        return await self.history.fetch_run(run_id)

    def trace(self, serial: str, *, history: bool = True) -> list[Event]:
        """Every event that names the serial (in `serial`, `serials` or a unit payload):
        those the board saw, and with `history` those the historian gave (`fetch_trace`)."""

        def names(value: Any) -> bool:
            if isinstance(value, str):
                return value == serial
            if isinstance(value, list):
                return any(names(v) for v in value)
            if isinstance(value, dict):
                return any(names(v) for v in value.values())
            return False

        found = {e.id: e for e in self.events if names(e.payload)}
        if history:
            for e in self.history.serials.get(serial, []):
                found.setdefault(e.id, e)
        return sorted(found.values(), key=lambda e: (e.time, e.cell, e.seq))

    # -- metrics -----------------------------------------------------------------------------------

    def _shifts(self) -> list[metrics.ShiftSpec]:
        if self.site and self.site.shifts:
            return [
                metrics.ShiftSpec(s.name, s.start, s.end, tuple(s.days), s.breaks_min)
                for s in self.site.shifts
            ]
        return [ALL_DAY]

    def oee_by_cell(self, window_s: float = 8 * 3600) -> dict[str, metrics.Oee]:
        """OEE per cell since the board first saw the cell (at most `window_s` back)."""
        end = datetime.fromtimestamp(self.wall(), UTC)
        out = {}
        events = list(self.events)
        for cell, first in self._first_event_wall.items():
            start = max(datetime.fromtimestamp(first, UTC), end - timedelta(seconds=window_s))
            if end <= start:
                continue
            cycle = self.ideal_cycle_s.get(cell) or self.ideal_cycle_s.get("*") or 60.0
            out[cell] = metrics.oee(
                events, cell, shifts=self._shifts(), period_start=start, period_end=end,
                ideal_cycle_s=cycle, planned_reasons=self._planned_reasons(), now=end,
            )  # fmt: skip
        return out

    def _planned_reasons(self) -> set[str]:
        if not self.site:
            return set()
        return {r.code for r in self.site.downtime_reasons if r.planned}

    def run_yields(self) -> dict[str, metrics.Yields]:
        return metrics.run_yields(self.events)

    def pareto(self) -> list[metrics.ParetoRow]:
        return metrics.defect_pareto(self.events)

    def sku_rows(self) -> list[dict[str, Any]]:
        """Lead time, yield and FPY per SKU over the events the board holds (its window;
        `cellctl report --table sku` covers any period)."""
        from cellctl.domain.sku_report import UNKNOWN_SKU, sku_report

        return [r for r in sku_report(self.events)["sku"] if r["sku"] != UNKNOWN_SKU]

    def throughput_per_hour(self, hours: int = 8) -> list[tuple[str, int]]:
        """Good units per clock hour (UTC), oldest first, the last `hours` hours."""
        now = datetime.fromtimestamp(self.wall(), UTC).replace(minute=0, second=0, microsecond=0)
        buckets = {now - timedelta(hours=h): 0 for h in range(hours - 1, -1, -1)}
        for e in self.events:
            if e.type not in ("units_counted", "count_undone"):
                continue
            hour = metrics.parse_time(e.time).replace(minute=0, second=0, microsecond=0)
            if hour in buckets:
                sign = 1 if e.type == "units_counted" else -1
                buckets[hour] += sign * int(e.payload.get("good", 0))
        return [(h.strftime("%H:00"), n) for h, n in buckets.items()]

    # -- supervisor actions ---------------------------------------------------------------------

    def check_action(self, action: str, badge: str) -> None:
        """Refuse here what the scheduler would refuse, so the person learns at once."""
        if action not in ACTION_RIGHTS:
            raise CommandRefused(f"unknown action {action!r}")
        self.check_badge(ACTION_RIGHTS[action], badge, action)

    def check_badge(self, right: str, badge: str, action: str | None = None) -> None:
        """Every board action names a person; `right` is what their role must allow
        (`PRIVILEGED_ACTIONS`: prioritise and cancel a supervisor's, release QA's or a
        supervisor's, acknowledging anyone's)."""
        action = action or right.replace("_", " ")
        if not badge:
            raise CommandRefused("scan or type your badge first")
        if self.site is None:
            return  # no operator list here: the scheduler checks the badge
        operator = self.site.operator(badge)
        if operator is None:
            raise CommandRefused(f"badge {badge} is not an operator of this site")
        if not role_allows(operator.role, right):
            raise CommandRefused(f"{operator.name} ({operator.role}) may not {action}")

    def command_body(self, action: str, badge: str, **fields: Any) -> dict[str, Any]:
        from cellctl.bus.scheduler_commands import CommandInvalid, command_payload

        self.check_action(action, badge)
        try:
            return command_payload(action, badge, **fields)
        except CommandInvalid as exc:
            raise CommandRefused(str(exc)) from None

    async def command(self, action: str, badge: str, **fields: Any) -> dict[str, Any]:
        """Send a supervisor action to the scheduler (QoS 1); it checks the role again."""
        body = self.command_body(action, badge, **fields)
        client = self._client
        if client is None or not self.connected:
            raise CommandRefused("not connected to the broker: nothing was sent")
        from cellctl.bus.scheduler_commands import publish_command

        await publish_command(client, self.topics, body)
        return body

    # -- the connection ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.session.start(self._connected_work, "board-feed")

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await self.session.wait_connected(timeout)

    async def stop(self) -> None:
        await self.session.close()

    async def _connected_work(self, clients: list[aiomqtt.Client]) -> None:
        (client,) = clients
        for topic in (
            self.topics.all_status,
            self.topics.all_events,
            self.topics.scheduler_queue,
            self.topics.scheduler_status,
            f"{self.ack_prefix}#",
        ):
            await client.subscribe(topic, qos=1)
        self.session.up()
        self.version += 1
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._listen(client))
            tg.create_task(self._publish_loop(client))


def feed_for_site(
    site: SiteConfig, site_path: Path | None, mqtt_url: str | None = None, **kw: Any
) -> BoardFeed:
    """A feed with the site's stations' ideal cycle times (from the station files this
    machine has: the board's machine may hold the site file alone)."""
    from cellctl.config.load import load_station

    mqtt = (
        site.mqtt if mqtt_url is None else MqttConfig(**{**site.mqtt.model_dump(), "url": mqtt_url})
    )
    ideal: dict[str, float] = {}
    if site_path is not None:
        for name in site.stations:
            with contextlib.suppress(Exception):
                st = load_station(site_path.parent / name)
                ideal[st.id] = st.config.station.ideal_cycle_s
    return BoardFeed(site, mqtt, ideal_cycle_s=ideal, **kw)
