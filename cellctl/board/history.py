"""What the board asks the site about the past, over the bus: the last hours of events
from the historian (metrics after a restart), every event naming a serial (its trace),
and a run's steps from the scheduler. The board never opens another machine's files; an
unanswered question leaves the board on what it hears live, and says why."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from cellctl.bus.site_request import SiteRequestError, ask_scheduler, ask_site
from cellctl.config.models import MqttConfig
from cellctl.domain.events import Event, EventError

log = logging.getLogger(__name__)

Ask = Callable[[str, dict[str, Any]], Awaitable[Any]]


class BoardHistory:
    def __init__(
        self,
        mqtt: MqttConfig,
        site_id: str,
        *,
        ask_historian: Ask | None = None,
        ask_sched: Ask | None = None,
        timeout_s: float = 3.0,
    ) -> None:
        async def historian(what: str, body: dict[str, Any]) -> Any:
            return await ask_site(mqtt, site_id, what, body, timeout_s=timeout_s)

        async def scheduler(what: str, body: dict[str, Any]) -> Any:
            return await ask_scheduler(mqtt, site_id, what, body, timeout_s=timeout_s)

        self.ask_historian = ask_historian or historian
        self.ask_scheduler = ask_sched or scheduler
        self.serials: dict[str, list[Event]] = {}
        self.run_steps: dict[str, list[dict[str, Any]]] = {}
        self.last_problem: str | None = None

    async def recent(self, since: datetime) -> list[Event]:
        try:
            answer = await self.ask_historian("events", {"since": since.isoformat()})
        except SiteRequestError as exc:
            self.last_problem = str(exc)
            log.info("board: starts without history: %s", exc)
            return []
        return _events(answer)

    async def fetch_serial(self, serial: str) -> str | None:
        try:
            answer = await self.ask_historian("events", {"serial": serial})
        except SiteRequestError as exc:
            self.last_problem = str(exc)
            return str(exc)
        self.serials[serial] = _events(answer)
        return None

    async def fetch_run(self, run_id: str) -> str | None:
        try:
            run = await self.ask_scheduler("run", {"run_id": run_id})
        except SiteRequestError as exc:
            self.last_problem = str(exc)
            return str(exc)
        steps = run.get("steps") if isinstance(run, dict) else None
        if isinstance(steps, list):
            self.run_steps[run_id] = [s for s in steps if isinstance(s, dict) and "step" in s]
        return None


def _events(answer: Any) -> list[Event]:
    out = []
    for raw in answer.get("events", []) if isinstance(answer, dict) else []:
        try:
            out.append(Event.from_dict(raw))
        except (EventError, TypeError, ValueError) as exc:
            log.info("board: an event from the historian was unreadable: %s", exc)
    return out
