"""A simulated person at a cell, for the demo and the chaos suite.

It uses the station exactly as a person would, through the controller and the
runtime (sign in, accept, start, count, scrap with a reason, record defects and
downtime, print labels, complete), at a pace sped up so a shift fits a demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass

from cellctl.domain.states import CellState
from cellctl.station.controller import Refused
from cellctl.station.qa_flow import QAFlow
from cellctl.station.runtime import StationRuntime
from stations.kinds import spec

log = logging.getLogger(__name__)


@dataclass
class Habits:
    seconds_per_unit: float = 0.4
    scrap_rate: float = 0.05
    defect_rate: float = 0.03
    downtime_rate: float = 0.01
    downtime_s: float = 2.0


class SimOperator:
    def __init__(
        self,
        runtime: StationRuntime,
        badge: str,
        *,
        seed: int = 0,
        habits: Habits | None = None,
    ) -> None:
        self.runtime = runtime
        self.c = runtime.controller
        self.badge = badge
        self.rng = random.Random(seed)
        self.habits = habits or Habits()
        self.confirmed: list[str] = []
        self.stopped = asyncio.Event()

    async def _pause(self, seconds: float) -> None:
        jitter = self.rng.uniform(0.6, 1.4)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopped.wait(), seconds * jitter)

    def stop(self) -> None:
        self.stopped.set()

    async def run(self) -> None:
        while not self.stopped.is_set():
            try:
                await self.step()
            except Refused as exc:
                log.info("%s (%s): refused: %s", self.c.cell, self.badge, exc)
                await self._pause(0.5)
            await asyncio.sleep(0)

    async def step(self) -> None:
        c = self.c
        if c.operator is None or c.operator.badge != self.badge:
            c.sign_in_badge(self.badge)
            return
        if c.downtime_reason_needed:
            await self._pause(0.5)
            c.record_downtime(self.rng.choice([r.code for r in c.site.downtime_reasons]))
            return
        if c.state == CellState.DOWN:
            await self._pause(self.habits.downtime_s)
            c.end_downtime()
            return
        a = c.assignment
        if a is None:
            await self._pause(0.3)
            return
        if not c.assignment_accepted:
            if a.batch and a.batch in c.held_batches:
                c.decline_assignment(f"batch {a.batch} is on QC hold")
                return
            c.accept_assignment()
            return
        if c.state in (CellState.IDLE, CellState.PAUSED, CellState.SETUP, CellState.BLOCKED):
            await self.runtime.start_step()
            return
        good, _ = c.counts()
        done, quantity = c.shortfall()
        if done >= quantity:
            await self.finish_step()
            return
        await self._pause(self.habits.seconds_per_unit)
        if self.stopped.is_set() or c.state != CellState.RUNNING:
            return
        if self.machine_counts:
            await self._watch_machine(good)
            return
        roll = self.rng.random()
        if roll < self.habits.downtime_rate:
            c.machine_stopped("simulated jam")
            return
        if roll < self.habits.downtime_rate + self.habits.scrap_rate:
            reason = self.rng.choice([d.code for d in c.site.defects_for(c.kind)])
            self.confirmed.append(c.count_scrap(reason).id)
            return
        self.confirmed.append(c.count_good().id)
        minor = [d.code for d in c.site.defects_for(c.kind) if d.severity.value == "minor"]
        if minor and self.rng.random() < self.habits.defect_rate:
            code = self.rng.choice(minor)
            self.confirmed.append(c.record_defect(code, note="cosmetic, kept as good").id)

    @property
    def machine_counts(self) -> bool:
        """A line-protocol machine counts its own cycles; the person only watches."""
        return self.c.loaded.config.machine.driver == "line" and self.runtime.machine is not None

    async def _watch_machine(self, good_before: int) -> None:
        if self.c.counts()[0] != good_before:
            self._stalled = 0
            return
        self._stalled = getattr(self, "_stalled", 0) + 1
        machine = self.runtime.machine
        status = str(getattr(getattr(machine, "state", None), "status", "")).upper()
        if status not in ("IDLE", ""):
            return  # still cycling: a restart now would make parts nobody sent it
        if self._stalled * self.habits.seconds_per_unit > 5.0:
            self._stalled = 0
            await self.runtime.machine_action("start_cycles")

    async def finish_step(self) -> None:
        c = self.c
        a = c.assignment
        if self.runtime.labels is not None and a is not None:
            # Units get their serial labels at the last step before QA; earlier steps
            # send the batch on with a traveller.
            what = spec(c.kind).labels_when_done(a.next_kind)
            try:
                await self.runtime.print_labels(what)
            except Refused as exc:
                log.info("%s: labels not printed: %s", c.cell, exc)
        c.complete_step()


class SimInspector(SimOperator):
    """A simulated QA inspector: samples each batch by the plan, inspects the sampled
    units, and rejects the one batch it was told to (to show a hold and an NCR)."""

    def __init__(
        self,
        runtime: StationRuntime,
        badge: str,
        flow: QAFlow,
        *,
        seed: int = 0,
        habits: Habits | None = None,
        reject_batches: tuple[str, ...] = (),
        rework_after_s: float = 8.0,
    ) -> None:
        super().__init__(runtime, badge, seed=seed, habits=habits)
        self.flow = flow
        self.reject_batches = set(reject_batches)
        self.rework_after_s = rework_after_s
        self._rejected: dict[str, float] = {}

    async def step(self) -> None:
        c = self.c
        a = c.assignment
        if (
            c.operator is None
            or a is None
            or a.batch is None  # a QA step always names its batch
            or not c.assignment_accepted
            or c.state != CellState.RUNNING
        ):
            await self._close_due_ncrs()
            await super().step()
            return
        batch = a.batch
        flow = self.flow
        view = flow.view()
        verdict = flow.last_verdict if flow.last_verdict else None
        if view.batch is None and verdict is not None and verdict.get("batch") == batch:
            if verdict.get("accepted"):
                flow.close_step()
                return
            if flow.open_ncrs(batch):
                # Rejected: the step stays open until the non-conformance is signed off.
                self._rejected.setdefault(batch, asyncio.get_running_loop().time())
                self.reject_batches.discard(batch)
                await self._close_due_ncrs()
                await self._pause(0.3)
                return
            # Signed off as rework: the batch comes back through inspection.
        if view.batch != batch:
            flow.open_batch(batch)
            return
        await self._pause(self.habits.seconds_per_unit)
        serial = view.remaining[0]
        flow.choose_unit(serial, how="scan")
        results = {
            item.id: (True if item.kind == "pass_fail" else float(item.nominal or 0.0))
            for item in view.checklist
        }
        if a.batch in self.reject_batches:
            code = self.rng.choice([d.code for d in c.site.defects if d.severity.value != "minor"])
            flow.record_fail([code], note="found at final inspection", results=results)
        else:
            flow.record_pass(results)

    async def _close_due_ncrs(self) -> None:
        now = asyncio.get_running_loop().time()
        for ncr in self.flow.open_ncrs():
            batch = ncr.get("batch")
            if batch in self._rejected and now - self._rejected[batch] >= self.rework_after_s:
                self.flow.close_ncr(ncr["ncr_id"], "rework", "reworked; to be re-inspected")
                del self._rejected[batch]
