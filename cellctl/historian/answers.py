"""Answering the site's requests: what a request may ask, checked, and the answer.

A request is `{"v": 1, ...}` on `site/request/{what}`; the answer `{"v": 1, "ok": true,
"result": ...}` or, for a bad or unanswerable query, `{"v": 1, "ok": false, "error": ...}`
(never silence).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cellctl.config.models import SiteConfig
from cellctl.domain import metrics
from cellctl.domain.trace import TraceError
from cellctl.historian import queries
from cellctl.historian.store import HistorianStore

KINDS = ("trace", "batch", "run", "run_status", "report", "events", "sku", "provenance", "status")
REPORT_MAX_DAYS = 400


class BadQuery(ValueError):
    """A request the historian cannot answer as asked; the text goes back to the asker."""


@dataclass
class SiteContext:
    """What the site file says that answers need: cells, operators, shifts, cycle times."""

    site_id: str = "site"
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    operators: dict[str, str] = field(default_factory=dict)
    shifts: list[metrics.ShiftSpec] = field(
        default_factory=lambda: [
            metrics.ShiftSpec("all day", "00:00", "00:00", days=metrics.WEEKDAYS)
        ]  # fmt: skip
    )
    ideal_cycle_s: dict[str, float] = field(default_factory=dict)
    planned_reasons: list[str] = field(default_factory=list)
    tz: tzinfo = UTC

    @classmethod
    def load(cls, site: SiteConfig, site_path: str | Path | None) -> SiteContext:
        """From the site file; a station file absent on this machine is skipped (its
        cell is then described by what its events say)."""
        from cellctl.config.load import load_station
        from cellctl.errors import ConfigError

        ctx = cls(site_id=site.site.id, operators={o.badge: o.name for o in site.operators})
        ctx.tz = ZoneInfo(site.site.timezone)
        if site.shifts:
            ctx.shifts = [metrics.ShiftSpec(s.name, s.start, s.end, tuple(s.days), s.breaks_min)
                          for s in site.shifts]  # fmt: skip
        ctx.planned_reasons = [r.code for r in site.downtime_reasons if r.planned]
        if site_path is None:
            return ctx
        for rel in site.stations:
            try:
                loaded = load_station(Path(site_path).parent / rel)
            except ConfigError:
                continue
            cfg = loaded.config
            machine = None if cfg.machine.driver == "none" else (
                f"{cfg.machine.driver} {cfg.machine.port}")  # fmt: skip
            ctx.cells[loaded.id] = {"kind": cfg.station.kind, "name": cfg.station.name,
                                    "machine": machine}  # fmt: skip
            ctx.ideal_cycle_s[loaded.id] = cfg.station.ideal_cycle_s
        return ctx


def _text(body: dict[str, Any], key: str, limit: int = 256) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise BadQuery(f"{key} must be a non-empty text of at most {limit} characters")
    return value.strip()


def _time(body: dict[str, Any], key: str, tz: tzinfo) -> datetime:
    text = _text(body, key, 64)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadQuery(f"{key} {text!r} is not a date or ISO time") from None
    return value if value.tzinfo else value.replace(tzinfo=tz)


def answer(
    store: HistorianStore, what: str, body: dict[str, Any], ctx: SiteContext,
    status: dict[str, Any] | None = None,
) -> Any:  # fmt: skip
    """The result of one request; BadQuery when it cannot be answered as asked."""
    try:
        if what == "trace":
            return queries.trace(
                store, _text(body, "query"), cells=ctx.cells, operators=ctx.operators
            )
        if what == "batch":
            return queries.batch(store, _text(body, "batch"))
        if what == "run":
            return queries.run_history(store, _text(body, "run_id"))
        if what == "run_status":
            return queries.run_status(store, _text(body, "run_id"))
        if what in ("report", "sku"):
            start, end = _time(body, "from", ctx.tz), _time(body, "to", ctx.tz)
            if end <= start:
                raise BadQuery("to must be after from")
            if (end - start).days > REPORT_MAX_DAYS:
                raise BadQuery(f"a report covers at most {REPORT_MAX_DAYS} days")
        if what == "sku":
            return queries.sku(store, start=start, end=end)
        if what == "report":
            cells = body.get("cells") or []
            if not isinstance(cells, list) or not all(isinstance(c, str) for c in cells):
                raise BadQuery("cells must be a list of cell ids")
            return queries.report(
                store, start=start, end=end, cells=cells, shifts=ctx.shifts,
                ideal_cycle_s=ctx.ideal_cycle_s, planned_reasons=ctx.planned_reasons, tz=ctx.tz,
                now=datetime.now(UTC),  # the historian's clock: later hours are not counted
            )  # fmt: skip
        if what == "events":
            if body.get("serial") is not None:
                return queries.events_naming(store, _text(body, "serial"))
            since = _time(body, "since", ctx.tz)
            until = _time(body, "until", ctx.tz) if body.get("until") else datetime.now(UTC)
            if until <= since:
                raise BadQuery("until must be after since")
            if (until - since).days > REPORT_MAX_DAYS:
                raise BadQuery(f"events of at most {REPORT_MAX_DAYS} days at a time")
            cells = body.get("cells") or []
            if not isinstance(cells, list) or not all(isinstance(c, str) for c in cells):
                raise BadQuery("cells must be a list of cell ids")
            return queries.recent_events(store, since, until, cells)
        if what == "provenance" and body.get("batch") is not None:
            return queries.provenance_of(store, _text(body, "batch"), cells=ctx.cells, tz=ctx.tz)
        if what == "provenance":
            after = body.get("after") or ""
            limit = body.get("limit", 100)
            if not isinstance(after, str) or len(after) > 256:
                raise BadQuery("after must be a batch name (the last page's next)")
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise BadQuery("limit must be a positive whole number")
            return queries.provenance(store, after=after, limit=limit, cells=ctx.cells, tz=ctx.tz)
        if what == "status":
            return {**(status or {}), "events": store.count(), "marks": store.seq_marks()}
    except TraceError as exc:
        raise BadQuery(str(exc.args[0])) from None
    raise BadQuery(f"unknown request {what!r}; the historian answers {', '.join(KINDS)}")
