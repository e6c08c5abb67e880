"""The historian's index: what an event names (`domain.event_keys`), and what it
counts for in a report.

Pure. A genealogy is then a few index lookups instead of a read of the whole history;
the lookups return a superset the domain trace filters exactly as it filters a file.
"""

from __future__ import annotations

import json
from typing import Any

from cellctl.domain.event_keys import BATCH, MAX_KEY, NCR, RUN, SERIAL, keys_of

__all__ = ["BATCH", "MAX_KEY", "NCR", "RUN", "SERIAL", "keys_of", "run_of", "tally_of"]


def run_of(payload: dict[str, Any]) -> str | None:
    """The run an event counts for in a report (the payload's run_id, as text)."""
    run = payload.get("run_id")
    return None if run is None else str(run)


def tally_of(etype: str, payload: dict[str, Any]) -> tuple[Any, ...] | None:
    """(kind, run_id, step, code, good, scrap, reworked, n, undoes) of an event a report
    adds up, else None: c a count (signed; an undo names the count it undoes), d a
    defect, k a completed step."""
    p = payload
    try:
        if etype in ("units_counted", "count_undone"):
            sign = 1 if etype == "units_counted" else -1
            undoes = p.get("undoes") if etype == "count_undone" else None
            return ("c", run_of(p), json.dumps(p.get("step")), None,
                    sign * int(p.get("good", 0)), sign * int(p.get("scrap", 0)),
                    sign * int(p.get("reworked", 0)), 0,
                    None if undoes is None else str(undoes))  # fmt: skip
        if etype == "defect_recorded":
            return ("d", run_of(p), None, str(p["code"]), 0, 0, 0, int(p.get("count", 1)), None)
        if etype == "run_step_completed":
            return ("k", run_of(p), json.dumps(p.get("step")), None, 0, 0, 0, 0, None)
    except (TypeError, ValueError, KeyError):
        return None  # the report would stumble on it too; the event is still stored
    return None
