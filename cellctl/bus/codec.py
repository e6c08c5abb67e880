"""Payload codec: plain UTF-8 JSON with a schema version, validated on the way in.

Everything that arrives over MQTT is untrusted: a malformed, oversized or
unknown-version payload raises PayloadError, which consumers log and drop.
"""

from __future__ import annotations

import json
from typing import Any

from cellctl.domain.events import Event, EventError

PAYLOAD_VERSION = 1
MAX_PAYLOAD = 64 * 1024


class PayloadError(ValueError):
    """A received payload is not something this build accepts."""


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def decode(raw: bytes | bytearray | str | None) -> dict[str, Any]:
    """Parse a versioned JSON object (`v` or, for events, `schema` must be 1)."""
    if raw is None:
        raise PayloadError("empty payload")
    if isinstance(raw, str):
        raw = raw.encode()
    if len(raw) > MAX_PAYLOAD:
        raise PayloadError(f"payload of {len(raw)} bytes is over the {MAX_PAYLOAD} byte limit")
    try:
        data = json.loads(bytes(raw).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"not UTF-8 JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("JSON nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise PayloadError(f"unreadable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError(f"expected a JSON object, got {type(data).__name__}")
    version = data.get("v", data.get("schema"))
    if version != PAYLOAD_VERSION or type(version) is not int:  # not true, not 1.0
        raise PayloadError(f"unknown payload version {version!r} (this build reads 1)")
    return data


def encode_event(event: Event) -> bytes:
    return encode(event.to_dict())


def decode_event(raw: bytes | bytearray | str | None, cell: str | None = None) -> Event:
    """Decode and validate an event; when `cell` is given it must match the topic's."""
    data = decode(raw)
    try:
        event = Event.from_dict(data)
    except EventError as exc:
        raise PayloadError(str(exc)) from None
    if cell is not None and event.cell != cell:
        raise PayloadError(f"event of cell {event.cell!r} on the topic of cell {cell!r}")
    return event


def _int(data: dict[str, Any], key: str, *, minimum: int = 0) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise PayloadError(f"{key} must be an integer ≥ {minimum}, got {value!r}")
    return value


def _str(data: dict[str, Any], key: str, *, optional: bool = False, limit: int = 256) -> str:
    value = data.get(key)
    if value is None and optional:
        return ""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise PayloadError(f"{key} must be a non-empty text of at most {limit} characters")
    return value


def decode_resend(raw: bytes | bytearray | str | None) -> tuple[int, int]:
    data = decode(raw)
    first, last = _int(data, "from_seq", minimum=1), _int(data, "to_seq", minimum=1)
    if last < first or last - first > 1_000_000:
        raise PayloadError(f"resend range {first}..{last} is not sensible")
    return first, last


def decode_status(raw: bytes | bytearray | str | None) -> dict[str, Any]:
    data = decode(raw)
    _str(data, "cell", limit=64)
    _str(data, "state", limit=32)
    if not isinstance(data.get("online"), bool):
        raise PayloadError("status online must be true or false")
    for key in ("last_seq", "backlog"):
        if key in data and data[key] is not None:
            _int(data, key)
    return data


def decode_assign(raw: bytes | bytearray | str | None) -> dict[str, Any] | None:
    """An assignment; None for the empty retained message that withdraws one, or a
    `{"withdrawn": true, "reason": ...}` notice that withdraws one and says why."""
    if raw is None or len(raw) == 0:
        return None
    data = decode(raw)
    if data.get("withdrawn") is True:
        # A withdrawal that says why (the scheduler moved the step off a down cell).
        data["reason"] = str(data.get("reason") or "")[:300]
        return data
    _str(data, "assign_id", limit=64)
    _str(data, "run_id", limit=64)
    _int(data, "step")
    _int(data, "quantity", minimum=1)
    return data


def decode_holds(raw: bytes | bytearray | str | None) -> dict[str, tuple[bool, str]]:
    """The scheduler's retained holds: batch -> (held, reason)."""
    if raw is None or len(raw) == 0:
        return {}
    holds = decode(raw).get("holds")
    if not isinstance(holds, dict):
        raise PayloadError("holds must be an object of batch -> {held, reason}")
    out: dict[str, tuple[bool, str]] = {}
    for batch, entry in holds.items():
        if not isinstance(entry, dict) or not batch or len(batch) > 64:
            raise PayloadError(f"hold of batch {batch[:64]!r} is not an object")
        if not isinstance(entry.get("held"), bool):
            raise PayloadError(f"hold of batch {batch!r}: held must be true or false")
        out[batch] = (entry["held"], _str(entry, "reason", limit=500))
    return out


def decode_command(raw: bytes | bytearray | str | None) -> dict[str, Any]:
    data = decode(raw)
    action = _str(data, "action", limit=32)
    if action not in ("prioritise", "cancel", "release_hold"):
        raise PayloadError(f"unknown command {action!r}")
    _str(data, "badge", limit=64)
    return data
