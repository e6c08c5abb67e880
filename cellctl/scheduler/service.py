"""The scheduler service: consumes cell status and events, keeps the queue, and
gives idle cells their next step on the retained assign topic.

It owns its SQLite (SchedulerStore). Messages are applied in batches, one
transaction per batch, so 4,000+ events/s fit on a small machine. Everything
received is validated; a bad message is logged and dropped, never fatal.

Decisions never hold up the intake: the consumer only applies and marks the queue
changed; a dispatcher task of its own runs the rounds, and the whole-shop plan is
searched in a worker process (planning.py) while events keep being applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiomqtt

from cellctl.bus.codec import (
    PAYLOAD_VERSION,
    PayloadError,
    decode,
    decode_command,
    decode_event,
    decode_status,
    encode,
)
from cellctl.bus.intake import GapTracker, message_batches, resend_request
from cellctl.bus.responder import answer
from cellctl.bus.session import MqttSession, consumer_endpoints
from cellctl.bus.topics import Topics
from cellctl.config.models import MqttConfig, SiteConfig
from cellctl.domain import dispatch
from cellctl.domain.events import Event, utc_now_iso
from cellctl.domain.ids import new_id
from cellctl.domain.model import role_allows
from cellctl.domain.plan import SERVICE_MAX_S, Planner
from cellctl.domain.run_spec import RunSpecError, parse_run
from cellctl.scheduler.planning import PlanStats, PlanWorker
from cellctl.scheduler.requests import CommandRefused, SchedulerRequests
from cellctl.store.db import StoreError
from cellctl.store.scheduler_store import ApplyResult, SchedulerStore
from stations.kinds import names

log = logging.getLogger(__name__)

# Command action -> the privileged action of PRIVILEGED_ACTIONS it needs.
COMMAND_RIGHTS = {"prioritise": "prioritise", "cancel": "cancel_run", "release_hold": "qc_release"}


@dataclass
class CellView:
    cell: str
    kind: str | None = None
    online: bool = False
    state: str = "offline"
    last_seq: int = 0
    backlog: int = 0
    seen: float = field(default_factory=time.monotonic)
    down_since: float | None = None


class Scheduler:
    def __init__(
        self,
        store: SchedulerStore,
        *,
        site: SiteConfig | str,
        mqtt: MqttConfig | None = None,
        gap_grace_s: float = 1.0,
        tick_s: float = 0.2,
        on_applied: Callable[[list[Event]], None] | None = None,
        plan: bool = True,
        clock: Callable[[], float] | None = None,
        move_after_down_s: float = 600.0,
    ) -> None:
        self.store = store
        # A down cell keeps its step; after this long it moves to a free cell of the
        # same kind, if there is one (DESIGN-conservation.md).
        self.move_after_down_s = move_after_down_s
        self.site = site if isinstance(site, SiteConfig) else None
        site_id = site.site.id if isinstance(site, SiteConfig) else site
        self.topics = Topics(site_id)
        self.mqtt = mqtt or (self.site.mqtt if self.site else MqttConfig())
        self.gap_grace_s = gap_grace_s
        self.tick_s = tick_s
        self.on_applied = on_applied
        # The rule of dispatch.py: the plan of plan.py while at most
        # dispatch.PLAN_MAX_READY steps are ready, the ATC index otherwise; without
        # `plan`, the index alone (bench.dispatch: tardiness_ratio_plain).
        self._plans = (
            PlanWorker(Planner(max_s=SERVICE_MAX_S, clock=time.monotonic)) if plan else None
        )
        # A cell the plan keeps waiting for a step about to be ready is looked at
        # again at the planned start at the latest.
        self._wake_at = math.inf
        self._kept_free: dict[str, str | None] = {}
        self.clock = clock or (lambda: datetime.now(UTC).timestamp())
        self.cells: dict[str, CellView] = {}
        self.gap_tracker = GapTracker("scheduler")
        self.gaps = self.gap_tracker.gaps
        self.flagged_gaps = self.gap_tracker.flagged
        self.dropped = 0
        self.duplicates = 0
        self.dispatch_log: list[tuple[float, str, str, int]] = []
        self._dirty = True
        self._snapshot_due = True
        self._data_version = store.data_version()
        will = aiomqtt.Will(
            self.topics.scheduler_status, encode(self._status(online=False)), qos=1, retain=True
        )
        # Requests here are the runs and orders about them.
        self.session = MqttSession(
            self.mqtt,
            consumer_endpoints(f"cellctl-scheduler-{self.topics.site}", will),
            name="scheduler",
            on_lost=self._link_lost,
        )
        self.backoff = self.session.backoff
        self._dispatch_lock = asyncio.Lock()
        self._dispatch_wanted = asyncio.Event()

    @property
    def planner(self) -> Planner | None:
        """The planner holding the last plan (the worker hands it back after a decision)."""
        return self._plans.planner if self._plans is not None else None

    @planner.setter
    def planner(self, planner: Planner) -> None:
        if self._plans is None:
            raise ValueError("this scheduler dispatches by the index alone (plan=False)")
        self._plans.planner = planner

    @property
    def plan_stats(self) -> PlanStats:
        return self._plans.stats if self._plans is not None else PlanStats()

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        self.session.start(self._connected_work, "scheduler")

    @property
    def connected(self) -> bool:
        return self.session.connected

    @property
    def _client(self) -> aiomqtt.Client | None:
        return self.session.client

    @property
    def _stopping(self) -> bool:
        return self.session.stopping

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await self.session.wait_connected(timeout)

    async def stop(self) -> None:
        client = self._client
        if client is not None and self.connected:
            with contextlib.suppress(Exception):
                await client.publish(
                    self.topics.scheduler_status,
                    encode(self._status(online=False)),
                    qos=1,
                    retain=True,
                    timeout=2.0,
                )
        await self.session.close()
        if self._plans is not None:
            await self._plans.close()

    async def _connected_work(self, clients: list[aiomqtt.Client]) -> None:
        client, answers = clients
        for topic in (
            self.topics.all_status,
            self.topics.all_events,
            self.topics.runs_submit,
            self.topics.scheduler_command,
        ):
            await client.subscribe(topic, qos=1)
        await answers.subscribe(self.topics.all_scheduler_requests, qos=1)
        await self._on_connect(client)
        self.session.up()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._consume(client))
            tg.create_task(self._ticker(client))
            tg.create_task(self._dispatcher(client))
            tg.create_task(self._serve(client, answers))

    def _link_lost(self) -> None:
        # What we knew of cells is stale: wait for their statuses again.
        for view in self.cells.values():
            view.online = False
            view.state = "unknown"

    async def _on_connect(self, client: aiomqtt.Client) -> None:
        # Re-publish every live assignment: the broker may have lost retained
        # messages; cells ignore an assign_id they already handled.
        for body in self.store.active_assignments():
            await self._publish(client, self.topics.cell_assign(body["cell"]), encode(body), True)
        await self._publish_status(client)
        await self._publish_holds(client)

    async def _publish_holds(self, client: aiomqtt.Client) -> None:
        """Cells learn holds and releases from here, so every kiosk refuses a held batch."""
        body = {"v": PAYLOAD_VERSION, "time": utc_now_iso(), "holds": self.store.holds_snapshot()}
        await self._publish(client, self.topics.holds, encode(body), True)

    async def _publish(
        self, client: aiomqtt.Client, topic: str, payload: bytes, retain: bool = False
    ) -> None:
        await client.publish(topic, payload, qos=1, retain=retain, timeout=10.0)

    # -- consuming -----------------------------------------------------------------------

    async def _consume(self, client: aiomqtt.Client) -> None:
        async for batch in message_batches(client):
            await self.handle_batch(client, batch)

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
                    await self._on_status(client, where[0], decode_status(raw))
                elif topic == self.topics.runs_submit:
                    self._on_submit(decode(raw))
                elif topic == self.topics.scheduler_command:
                    await self._on_command(client, decode_command(raw))
            except (PayloadError, RunSpecError, StoreError) as exc:
                self.dropped += 1
                log.warning("scheduler: dropped a message on %s: %s", topic, exc)
            except aiomqtt.MqttError:
                raise
            except Exception:  # a bug must cost one message, never the consumer
                self.dropped += 1
                log.exception("scheduler: failed on a message on %s; dropped it", topic)
        if events:
            result = self._apply(events)
            self.duplicates += result.duplicates
            for cell in sorted(result.withdraw):
                await self._publish(client, self.topics.cell_assign(cell), b"", True)
            if result.queue_changed:
                self._dirty = True
            if any(e.type in ("batch_held", "batch_released") for e in result.applied):
                await self._publish_holds(client)
            if self.on_applied is not None and result.applied:
                self.on_applied(result.applied)
            await self._ask_resends(client)
        if self._dirty:
            self._dispatch_wanted.set()

    def _apply(self, events: list[Event]) -> ApplyResult:
        """Apply a batch in one transaction; if that fails, one by one, dropping the bad."""
        try:
            return self.store.apply_events(events)
        except Exception:
            log.warning("scheduler: a batch of %d events failed; applying singly", len(events))
        result = ApplyResult()
        for e in events:
            try:
                one = self.store.apply_events([e])
            except Exception as exc:
                self.dropped += 1
                log.warning("scheduler: dropped event %s of %s: %r", e.id, e.cell, exc)
                continue
            result.applied += one.applied
            result.duplicates += one.duplicates
            result.withdraw |= one.withdraw
            result.queue_changed |= one.queue_changed
            result.cells |= one.cells
        return result

    async def _on_status(self, client: aiomqtt.Client, cell: str, status: dict[str, Any]) -> None:
        if status["cell"] != cell:
            raise PayloadError(f"status of {status['cell']!r} on the topic of {cell!r}")
        view = self.cells.setdefault(cell, CellView(cell))
        before = (view.kind, view.online, view.state)
        if status["online"] and not view.online:
            # Back (or we are: a lost link marks every cell offline). Resend requests
            # made meanwhile reached nobody: ask again promptly, not after their back-off.
            self.gap_tracker.cell_back(cell)
        view.kind = status.get("kind") or view.kind
        view.online = status["online"]
        view.state = status["state"]
        view.last_seq = status.get("last_seq") or view.last_seq
        view.backlog = status.get("backlog") or 0
        view.seen = time.monotonic()
        if view.online and view.state == "down":
            if view.down_since is None:
                view.down_since = time.monotonic()
        else:
            view.down_since = None
        if not view.online:
            released = self.store.release_cell(cell)
            if released:
                log.info("scheduler: %s is %s; re-queued %s", cell, view.state, released)
                await self._publish(client, self.topics.cell_assign(cell), b"", True)
                self._dirty = True
        elif (view.kind, view.online, view.state) != before:
            self._dirty = True  # only a change of availability can change dispatch

    def _on_submit(self, data: dict[str, Any]) -> None:
        spec = parse_run(data, default_id=f"R-{new_id()[-12:]}", kinds=names())
        self.store.add_run(spec, source="mqtt")
        self._dirty = True
        log.info("scheduler: run %s submitted over MQTT", spec.id)

    async def _on_command(self, client: aiomqtt.Client, cmd: dict[str, Any]) -> None:
        try:
            await self.apply_command(client, cmd)
        except CommandRefused as exc:
            log.warning("scheduler: %s", exc)

    async def apply_command(self, client: aiomqtt.Client, cmd: dict[str, Any]) -> str:
        """Prioritise, cancel or release a hold, for the board's command topic and for a
        request alike (one path); what was done, or `CommandRefused` with why not."""
        action, badge = cmd["action"], cmd["badge"]
        operator = self.site.operator(badge) if self.site else None
        if operator is None or not role_allows(operator.role, COMMAND_RIGHTS[action]):
            who = f"{badge} ({operator.role})" if operator else f"unknown badge {badge}"
            detail = f"refused: {who} may not {action}"
            self.store.log_command(action, badge, False, detail)
            raise CommandRefused(detail)
        run_id = str(cmd.get("run_id"))
        if action == "prioritise":
            priority = cmd.get("priority")
            if not isinstance(priority, int) or isinstance(priority, bool):
                raise PayloadError("prioritise needs an integer priority")
            self.store.set_priority(run_id, priority)
            detail = f"run {run_id} priority {priority}"
        elif action == "cancel":
            withdrawn = self.store.cancel(run_id)
            for cell in withdrawn:
                await self._publish(client, self.topics.cell_assign(cell), b"", True)
            self.store.take_withdrawals()
            detail = f"run {run_id} cancelled" + (
                f"; withdrawn from {', '.join(withdrawn)}" if withdrawn else ""
            )
        else:
            batch = cmd.get("batch")
            if not isinstance(batch, str) or not batch:
                raise PayloadError("release_hold needs a batch")
            self.store.set_hold(batch, False, str(cmd.get("reason") or "released"), badge)
            detail = f"batch {batch} released"
        self.store.log_command(action, badge, True, detail)
        self.mark_changed()
        if action == "release_hold":
            await self._publish_holds(client)
        return detail

    def mark_changed(self) -> None:
        """The queue changed outside the event stream (a submitted run, a command):
        dispatch looks again and the queue snapshot is published."""
        self._dirty = True
        self._snapshot_due = True
        self._dispatch_wanted.set()

    # -- requests -------------------------------------------------------------------------

    async def _serve(self, client: aiomqtt.Client, answers: aiomqtt.Client) -> None:
        requests = SchedulerRequests(self, client)
        async for message in answers.messages:
            await answer(answers, message, requests.handle, service="scheduler")

    # -- periodic work -------------------------------------------------------------------

    async def _ticker(self, client: aiomqtt.Client) -> None:
        last_status = 0.0
        while not self._stopping:
            await asyncio.sleep(self.tick_s)
            version = self.store.data_version()
            if version != self._data_version:
                self._data_version = version
                self._dirty = True
                for cell in self.store.take_withdrawals():
                    await self._publish(client, self.topics.cell_assign(cell), b"", True)
            await self._ask_resends(client)
            await self._move_from_down(client)
            if self.clock() >= self._wake_at:
                self._wake_at = math.inf
                self._dirty = True
            if self._dirty:
                self._dispatch_wanted.set()
            now = time.monotonic()
            if self._snapshot_due or now - last_status > 5.0:
                await self._publish_status(client)
                last_status = now

    def _check_gaps(self, *, client_ok: bool) -> dict[str, tuple[int, int]]:
        """Cells whose events we miss, and the range to ask again (cellctl.bus.intake).
        A range returned counts as asked: publish it (`_ask_resends`)."""
        return self.gap_tracker.due(self.store.seq_marks(), self.cells, self.gap_grace_s)

    async def _ask_resends(self, client: aiomqtt.Client) -> None:
        """Ask the cells that miss events to send them again, when their asking is due."""
        for cell, (first, last) in self._check_gaps(client_ok=True).items():
            await self._publish(client, self.topics.cell_resend(cell), resend_request(first, last))

    async def _move_from_down(self, client: aiomqtt.Client) -> None:
        """The rule that moves a step off a down cell: down for `move_after_down_s` and
        another cell of its kind free. With no such cell the step stays where it is."""
        now = time.monotonic()
        long_down = [
            v
            for v in self.cells.values()
            if v.down_since is not None and now - v.down_since >= self.move_after_down_s
        ]
        if not long_down:
            return
        async with self._dispatch_lock:
            busy = self.store.busy_cells()
            free = self.free_cells()
            for view in long_down:
                target = next((f for f in free if f.kind == view.kind), None)
                if view.cell not in busy or target is None:
                    continue
                down_s = now - (view.down_since or now)
                why = f"moved to {target.cell} because {view.cell} was down {_duration(down_s)}"
                moved = self.store.release_cell(view.cell)
                if not moved:
                    continue
                free.remove(target)
                log.info("scheduler: %s", why)
                run_id, step = moved[0]
                notice = {"v": PAYLOAD_VERSION, "withdrawn": True, "reason": why,
                          "run_id": run_id, "step": step}  # fmt: skip
                await self._publish(
                    client, self.topics.cell_assign(view.cell), encode(notice), True
                )
                try:
                    body = self.store.assign(run_id, step, target.cell, new_id())
                except StoreError as exc:
                    log.warning("scheduler: %s not given to %s: %s", run_id, target.cell, exc)
                else:
                    self.dispatch_log.append((self.clock(), target.cell, run_id, step))
                    await self._publish(
                        client, self.topics.cell_assign(target.cell), encode(body), True
                    )
                self._dirty = True

    def free_cells(self) -> list[CellView]:
        busy = self.store.busy_cells()
        return [
            v
            for c, v in sorted(self.cells.items())
            if v.online and v.state == "idle" and v.kind and c not in busy
        ]

    async def _dispatcher(self, client: aiomqtt.Client) -> None:
        """Dispatch rounds, one after another, apart from the consumer: a round that
        waits for the plan must not stop events from being applied meanwhile."""
        while True:
            await self._dispatch_wanted.wait()
            self._dispatch_wanted.clear()
            await self._dispatch(client)

    async def _dispatch(self, client: aiomqtt.Client) -> None:
        # A round awaits its plan and its publishes; another round (the dispatcher's
        # next, or a caller's) must not meanwhile give out a step from the same snapshot.
        async with self._dispatch_lock:
            await self._dispatch_round(client)

    async def _dispatch_round(self, client: aiomqtt.Client) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self._snapshot_due = True
        free = self.free_cells()
        if not free:
            return
        ready = [c for c, _batch in self.store.ready()]
        declined = self.store.declined()
        now = self.clock()
        taken: set[tuple[str, int]] = set()
        by_kind: dict[str, list[dispatch.Candidate]] = {}
        for c in ready:
            by_kind.setdefault(c.kind, []).append(c)
        for view in free:
            cands = [
                c
                for c in by_kind.get(view.kind or "", [])
                if (c.run_id, c.step) not in taken and (c.run_id, c.step, view.cell) not in declined
            ]
            if self._plans is not None and len(ready) <= dispatch.PLAN_MAX_READY:
                best = await self._planned(view.cell, cands, now)
                # Events were applied while the worker planned: the cell may be
                # gone, the step taken, cancelled or held. The next round decides.
                if best is not None and not self._still_open(view, best):
                    self._dirty = True
                    continue
            else:
                best = dispatch.choose(cands, now)
            if best is None:
                continue
            taken.add((best.run_id, best.step))
            try:
                body = self.store.assign(best.run_id, best.step, view.cell, new_id())
            except StoreError as exc:  # e.g. cancelled meanwhile: the next round decides
                log.warning("scheduler: %s not given to %s: %s", best.run_id, view.cell, exc)
                self._dirty = True
                continue
            self.dispatch_log.append((now, view.cell, best.run_id, best.step))
            log.info("scheduler: %s step %d -> %s", best.run_id, best.step, view.cell)
            await self._publish(client, self.topics.cell_assign(view.cell), encode(body), True)

    def _still_open(self, view: CellView, best: dispatch.Candidate) -> bool:
        if not (view.online and view.state == "idle") or view.cell in self.store.busy_cells():
            return False
        if (best.run_id, best.step, view.cell) in self.store.declined():
            return False
        return any((c.run_id, c.step) == (best.run_id, best.step) for c, _ in self.store.ready())

    async def _planned(
        self, cell: str, cands: list[dispatch.Candidate], now: float
    ) -> dispatch.Candidate | None:
        assert self._plans is not None
        jobs, busy = self.store.shop(now)
        kinds = {
            v.cell: v.kind for v in self.cells.values() if v.online and v.kind and v.state != "down"
        }
        try:
            advice = await self._plans.advise(cell, cands, jobs, kinds, now, busy=busy)
        except Exception:  # the refinement must never stop dispatch itself
            log.exception("scheduler: planning failed; the ATC index decides")
            return dispatch.choose(cands, now)
        if advice.take is None and advice.wake_at is not None:
            self._wake_at = min(self._wake_at, advice.wake_at)
            if self._kept_free.get(cell) != advice.waits_for:  # once, not every round
                log.info(
                    "scheduler: %s kept free for %s, planned to be ready in %.0f s",
                    cell,
                    advice.waits_for,
                    advice.wake_at - now,
                )
            self._kept_free[cell] = advice.waits_for
        else:
            self._kept_free.pop(cell, None)
        return advice.take

    # -- what the scheduler tells the world -----------------------------------------------

    def _status(self, *, online: bool) -> dict[str, Any]:
        summary = self.store.summary() if online else {}
        return {
            "v": PAYLOAD_VERSION,
            "online": online,
            "time": utc_now_iso(),
            "cells_online": sum(1 for v in self.cells.values() if v.online),
            "dropped_messages": self.dropped,
            "gaps": sorted(self.gaps),
            "plans": self.plan_stats.decisions,
            "fresh_plans": self.plan_stats.fresh,
            **summary,
        }

    def queue_snapshot(self, limit: int = 200) -> dict[str, Any]:
        ready = self.store.ready()
        ranked = dispatch.rank([c for c, _ in ready], self.clock())
        if self.planner is not None and len(ready) <= dispatch.PLAN_MAX_READY:
            # The order dispatch follows: the plan's, the index's for runs it has not seen.
            planned = self.planner.planned_order()
            ranked.sort(key=lambda c: (-c.manual_priority, planned.get(c.run_id, math.inf)))
        holds = self.store.holds()
        active = self.store.runs(["queued", "active"])
        held = [r["id"] for r in active if r["batch"] and holds.get(r["batch"])]
        runs = {r["id"]: r for r in active}
        left = self.store.steps_left()
        # The facts behind the order travel with it: a board on another machine shows
        # the due date, the margin at stake and the ETA without the scheduler's file.
        return {
            "v": PAYLOAD_VERSION,
            "time": utc_now_iso(),
            "ready": [
                {
                    "run_id": c.run_id,
                    "step": c.step,
                    "kind": c.kind,
                    "priority": c.manual_priority,
                    "due_s": c.due_s,
                    "weight": c.weight,
                    "work_s": c.work_s,
                    "quantity": runs.get(c.run_id, {}).get("quantity", 0),
                    "steps_left": left.get(c.run_id, 1),
                    "sku": runs.get(c.run_id, {}).get("sku", ""),
                    "batch": runs.get(c.run_id, {}).get("batch"),
                }
                for c in ranked[:limit]
            ],  # fmt: skip
            "in_progress": [
                {"run_id": a["run_id"], "step": a["step"], "cell": a["cell"]}
                for a in self.store.active_assignments()
            ],
            "held": held,
            "queued": len(active),
        }

    async def _publish_status(self, client: aiomqtt.Client) -> None:
        self._snapshot_due = False
        await self._publish(
            client, self.topics.scheduler_status, encode(self._status(online=True)), True
        )
        await self._publish(
            client, self.topics.scheduler_queue, encode(self.queue_snapshot()), True
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"
