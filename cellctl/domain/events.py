"""Domain events: immutable facts in the past tense.

Every event carries a globally unique sortable id, the cell it happened at, a
per-cell sequence number (assigned by the cell's store at append time), the time,
the operator, a schema version and a payload. The payload keys each type needs
are listed in EVENT_TYPES so that any consumer can reject a malformed event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cellctl.domain import clock
from cellctl.domain.ids import is_valid_id, new_id

SCHEMA_VERSION = 1

# type -> payload keys it must carry (more keys are allowed).
EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "cell_started": (),
    "cell_stopped": (),
    "operator_signed_in": ("badge", "role"),
    "operator_signed_out": ("badge",),
    "state_changed": ("from", "to"),
    "assignment_received": ("run_id", "step"),
    "assignment_accepted": ("run_id", "step"),
    "assignment_declined": ("run_id", "step", "reason"),
    "run_step_started": ("run_id", "step"),
    "run_step_completed": ("run_id", "step"),
    "run_step_released": ("run_id", "step", "reason"),
    "units_counted": ("run_id", "step", "good", "scrap"),
    "count_undone": ("undoes", "run_id", "step", "good", "scrap"),
    # A count the cell refused because it would break conservation (the press is kept).
    "count_refused": ("run_id", "step", "good", "scrap", "reason"),
    # A count kept although it exceeds what came from upstream (a machine counted it).
    "count_exceeds_upstream": ("run_id", "step", "good", "scrap", "reason"),
    "defect_recorded": ("run_id", "code", "severity"),
    "downtime_started": ("reason",),
    "downtime_ended": (),
    "serials_allocated": ("scope", "first", "count", "serials"),
    "label_printed": ("template", "job_id", "copies"),
    "label_reprinted": ("template", "job_id", "serial"),
    "label_voided": ("serial", "reason"),
    "machine_alarm": ("code", "message"),
    "machine_job_started": ("job",),
    "machine_job_finished": ("job", "outcome"),
    "material_scanned": ("lot",),
    "batch_held": ("batch", "reason"),
    "batch_released": ("batch", "reason"),
    "inspection_recorded": ("batch", "serial", "passed"),
    "lot_judged": ("batch", "accepted"),
    "sample_drawn": ("batch", "seed", "n", "serials"),
    "sample_abandoned": ("batch", "reason"),
    "inspection_switched": ("key", "from", "to", "reason"),
    "inspection_resumed": ("key",),
    "nonconformance_opened": ("ncr_id", "batch"),
    "nonconformance_closed": ("ncr_id", "disposition"),
    "access_refused": ("action",),
}

MAX_TEXT = 4096


class EventError(ValueError):
    """An event (or a payload claiming to be one) is malformed."""


def utc_now_iso() -> str:
    stamp = datetime.fromtimestamp(clock.wall_time(), UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    cell: str
    payload: dict[str, Any] = field(default_factory=dict)
    operator: str | None = None
    id: str = field(default_factory=new_id)
    time: str = field(default_factory=utc_now_iso)
    seq: int = 0
    schema: int = SCHEMA_VERSION

    def with_seq(self, seq: int) -> Event:
        return replace(self, seq=seq)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "id": self.id,
            "type": self.type,
            "cell": self.cell,
            "seq": self.seq,
            "time": self.time,
            "operator": self.operator,
            "payload": self.payload,
        }

    @classmethod
    def from_dict(cls, data: object) -> Event:
        """Validate an untrusted dict (from MQTT or disk) and build the event."""
        if not isinstance(data, dict):
            raise EventError(f"an event must be a JSON object, got {type(data).__name__}")
        schema = data.get("schema")
        if schema != SCHEMA_VERSION or type(schema) is not int:  # not true, not 1.0
            raise EventError(f"unknown schema version {schema!r} (this build reads 1)")
        etype = data.get("type")
        if not isinstance(etype, str) or etype not in EVENT_TYPES:
            raise EventError(f"unknown event type {etype!r}")
        eid = data.get("id")
        if not isinstance(eid, str) or not is_valid_id(eid):
            raise EventError(f"event id {eid!r} is not a UUID")
        cell = data.get("cell")
        if not isinstance(cell, str) or not cell or len(cell) > 64:
            raise EventError("event cell must be a non-empty string of at most 64 characters")
        seq = data.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise EventError(f"event seq must be a positive integer, got {seq!r}")
        etime = data.get("time")
        if not isinstance(etime, str) or not _is_iso_time(etime):
            raise EventError(f"event time {etime!r} is not an ISO-8601 time")
        operator = data.get("operator")
        if operator is not None and (not isinstance(operator, str) or len(operator) > 128):
            raise EventError("event operator must be a string or null")
        payload = data.get("payload")
        if not isinstance(payload, dict):
            raise EventError("event payload must be a JSON object")
        missing = [k for k in EVENT_TYPES[etype] if k not in payload]
        if missing:
            raise EventError(f"{etype} payload lacks {', '.join(missing)}")
        _check_payload_values(payload)
        return cls(
            type=etype,
            cell=cell,
            payload=payload,
            operator=operator,
            id=eid,
            time=etime,
            seq=seq,
            schema=schema,
        )


def _is_iso_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _check_payload_values(value: object, depth: int = 0) -> None:
    if depth > 8:
        raise EventError("event payload is nested too deeply")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise EventError("event payload keys must be strings")
            _check_payload_values(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_payload_values(v, depth + 1)
    elif isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise EventError("a text in the event payload is too long")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise EventError("event payload numbers must be finite")
    elif value is not None and not isinstance(value, (int, bool)):
        raise EventError(f"unsupported value in event payload: {type(value).__name__}")
