"""What the scheduler answers over the bus (MQTT 5 request/response, `scheduler/request/…`):
the runs and one run, and the orders about them (submit, import, cancel, prioritise).

`cellctl runs`, the board and the shop's API all come here: one path into the queue, and
the scheduler's own store is the only one that holds it.
"""

from __future__ import annotations

from typing import Any, Protocol

import aiomqtt

from cellctl.bus.codec import PayloadError
from cellctl.bus.responder import RequestRefused
from cellctl.domain.run_spec import RunSpec, RunSpecError, parse_run
from cellctl.store.db import StoreError
from cellctl.store.scheduler_store import SchedulerStore
from stations.kinds import names

MAX_IMPORT = 5_000


class CommandRefused(Exception):
    """A command this badge may not give; the text says who and what."""


class Queue(Protocol):
    """What answering needs of the scheduler (`Scheduler`)."""

    store: SchedulerStore

    async def apply_command(self, client: aiomqtt.Client, cmd: dict[str, Any]) -> str: ...

    def mark_changed(self) -> None: ...


class SchedulerRequests:
    def __init__(self, queue: Queue, client: aiomqtt.Client) -> None:
        self.queue = queue
        # The session that publishes assignments: a cancel withdraws them there.
        self.client = client

    async def handle(self, what: str, body: dict[str, Any]) -> Any:
        try:
            if what == "runs":
                return self.runs(include_finished=bool(body.get("all")))
            if what == "run":
                return self.run(_text(body, "run_id"))
            if what == "submit":
                return self.submit(body.get("run"), str(body.get("source") or "bus"))
            if what == "import":
                return self.import_runs(body.get("runs"), str(body.get("source") or "bus"))
            if what in ("cancel", "prioritise"):
                cmd = {**body, "action": what, "badge": _text(body, "badge")}
                return {"done": await self.queue.apply_command(self.client, cmd)}
        except (CommandRefused, RunSpecError, StoreError) as exc:
            raise RequestRefused(str(exc)) from None
        except PayloadError as exc:
            raise RequestRefused(str(exc)) from None
        raise RequestRefused(
            f"unknown request {what!r}: runs, run, submit, import, cancel or prioritise"
        )

    def runs(self, *, include_finished: bool) -> list[dict[str, Any]]:
        store = self.queue.store
        rows = []
        for r in store.runs(None if include_finished else ["queued", "active"]):
            steps = store.steps(r["id"])
            current = next((s for s in steps if s["status"] != "done"), None)
            where = "-" if current is None else f"{current['kind']}:{current['cell'] or 'waiting'}"
            rows.append({**r, "at": where, "steps_done": sum(s["status"] == "done" for s in steps)})
        return rows

    def run(self, run_id: str) -> dict[str, Any]:
        store = self.queue.store
        run = store.run(run_id)
        # What breaks conservation of units on this run (empty when the counts add up).
        run["conservation"] = [str(v) for v in store.conservation_violations([run_id])] + [
            a["message"] for a in store.conservation_alerts() if a["run_id"] == run_id
        ]
        return run

    def submit(self, data: object, source: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise RequestRefused('submit needs a run: {"run": {"id": …, "sku": …}}')
        spec = parse_run(data, kinds=names())
        self.queue.store.add_run(spec, source=source[:64])
        self.queue.mark_changed()
        return {"run_id": spec.id, "quantity": spec.quantity, "sku": spec.sku,
                "routing": list(spec.routing)}  # fmt: skip

    def import_runs(self, rows: object, source: str) -> dict[str, Any]:
        """All or nothing: a half-imported plan is worse than none."""
        if not isinstance(rows, list) or not rows:
            raise RequestRefused("import needs a non-empty list of runs")
        if len(rows) > MAX_IMPORT:
            raise RequestRefused(f"at most {MAX_IMPORT} runs in one import, got {len(rows)}")
        specs: list[RunSpec] = []
        problems: list[str] = []
        for n, row in enumerate(rows, start=1):
            try:
                if not isinstance(row, dict):
                    raise RunSpecError([f"run {n} is not an object"])
                specs.append(parse_run(row, kinds=names()))
            except RunSpecError as exc:
                label = row.get("_line", n) if isinstance(row, dict) else n
                problems.extend(f"{label}: {p}" for p in exc.problems)
        store = self.queue.store
        ids = [s.id for s in specs]
        problems += [f"run {i!r} exists already" for i in ids if store.has_run(i)]
        problems += [
            f"run {i!r} twice in the import" for i in sorted({i for i in ids if ids.count(i) > 1})
        ]
        if problems:
            raise RequestRefused("nothing imported:\n" + "\n".join(problems))
        for spec in specs:
            store.add_run(spec, source=source[:64])
        self.queue.mark_changed()
        return {"imported": len(specs)}


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > 128:
        raise RequestRefused(f"{key} must be a non-empty text of at most 128 characters")
    return value
