"""What an event names: its serials, batches, runs and NCRs, as (kind, key) pairs.

Pure. The historian indexes events by them (a genealogy is then a few index lookups);
the API drops the answers it keeps about them when an event names them.
"""

from __future__ import annotations

from typing import Any

SERIAL, BATCH, RUN, NCR = "s", "b", "r", "n"
MAX_KEY = 256


def keys_of(payload: dict[str, Any]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()

    def add(kind: str, value: object) -> None:
        if isinstance(value, str) and value and len(value) <= MAX_KEY:
            out.add((kind, value))

    for name in ("serials", "nonconforming_serials"):
        values = payload.get(name)
        if isinstance(values, list):
            for value in values:
                add(SERIAL, value)
    add(SERIAL, payload.get("serial"))
    add(BATCH, payload.get("batch"))
    add(RUN, payload.get("run_id"))
    add(NCR, payload.get("ncr_id"))
    assignment = payload.get("assignment")
    if isinstance(assignment, dict):
        add(BATCH, assignment.get("batch"))
        add(RUN, assignment.get("run_id"))
    return out
