"""How each event updates the read tables.

Handlers use only the event (never the clock or outside state), so replaying the
log in sequence order rebuilds exactly the same tables.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from cellctl.domain.events import Event
from cellctl.store import qa_projections

Handler = Callable[[sqlite3.Connection, Event], None]
HANDLERS: dict[str, Handler] = {}


def handles(*types: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for t in types:
            HANDLERS[t] = fn
        return fn

    return register


def apply(conn: sqlite3.Connection, event: Event) -> None:
    _touch_cell(conn, event)
    handler = HANDLERS.get(event.type)
    if handler is not None:
        handler(conn, event)
    if event.type in qa_projections.QA_TYPES:
        qa_projections.apply(conn, event)


def _touch_cell(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute(
        "INSERT INTO cell_status (cell, state, since, last_seq) VALUES (?, 'idle', ?, ?) "
        "ON CONFLICT(cell) DO UPDATE SET last_seq = excluded.last_seq",
        (e.cell, e.time, e.seq),
    )


@handles("state_changed")
def _state(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute(
        "UPDATE cell_status SET state = ?, since = ? WHERE cell = ?",
        (e.payload["to"], e.time, e.cell),
    )


@handles("operator_signed_in")
def _sign_in(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute(
        "UPDATE cell_status SET operator = ?, role = ? WHERE cell = ?",
        (e.payload["badge"], e.payload["role"], e.cell),
    )


@handles("operator_signed_out")
def _sign_out(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute("UPDATE cell_status SET operator = NULL, role = NULL WHERE cell = ?", (e.cell,))


@handles("assignment_accepted", "run_step_started")
def _assigned(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute(
        "UPDATE cell_status SET run_id = ?, step = ? WHERE cell = ?",
        (e.payload["run_id"], e.payload["step"], e.cell),
    )
    _add_counts(conn, e.payload["run_id"], e.payload["step"], 0, 0)
    _open_step(conn, e)


@handles("run_step_completed", "run_step_released")
def _step_done(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute(
        "UPDATE cell_status SET run_id = NULL, step = NULL WHERE cell = ? AND run_id = ?",
        (e.cell, e.payload["run_id"]),
    )
    _open_step(conn, e)


@handles("assignment_declined")
def _declined(conn: sqlite3.Connection, e: Event) -> None:
    _open_step(conn, e)


# The step a restarting cell resumes: the last assignment accepted (with its terms)
# that no completion, release or decline has followed, whichever run they name.
OPEN_STEP_TYPES = (
    "assignment_accepted",
    "run_step_completed",
    "run_step_released",
    "assignment_declined",
)


def _open_step(conn: sqlite3.Connection, e: Event) -> None:
    if e.type == "assignment_accepted":
        if "assignment" in e.payload:
            conn.execute(
                "INSERT INTO open_step (cell, assignment, seq) VALUES (?, ?, ?) "
                "ON CONFLICT(cell) DO UPDATE SET assignment = excluded.assignment, "
                "seq = excluded.seq",
                (e.cell, json.dumps(e.payload["assignment"], sort_keys=True), e.seq),
            )
    elif e.type in OPEN_STEP_TYPES:
        conn.execute("DELETE FROM open_step WHERE cell = ?", (e.cell,))


def backfill_open_step(conn: sqlite3.Connection) -> None:
    """Fill the schema-4 tables (open step, QA resume state) from an existing log,
    streaming only the events that touch them."""
    types = OPEN_STEP_TYPES + qa_projections.QA_TYPES
    marks = ", ".join("?" * len(types))
    rows = conn.execute(
        "SELECT seq, id, type, cell, time, operator, schema, payload FROM events "
        f"WHERE type IN ({marks}) ORDER BY seq",  # noqa: S608
        types,
    )
    for seq, eid, etype, cell, etime, operator, schema, payload in rows:
        e = Event(
            type=etype,
            cell=cell,
            payload=json.loads(payload),
            operator=operator,
            id=eid,
            time=etime,
            seq=seq,
            schema=schema,
        )
        if etype in OPEN_STEP_TYPES:
            _open_step(conn, e)
        if etype in qa_projections.QA_TYPES:
            qa_projections.apply(conn, e)


def _add_counts(conn: sqlite3.Connection, run_id: str, step: int, good: int, scrap: int) -> None:
    conn.execute(
        "INSERT INTO step_counts (run_id, step, good, scrap) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(run_id, step) DO UPDATE SET good = good + excluded.good, "
        "scrap = scrap + excluded.scrap",
        (run_id, step, good, scrap),
    )


def _add_scrap_reason(
    conn: sqlite3.Connection, run_id: str, step: int, reason: str, qty: int
) -> None:
    conn.execute(
        "INSERT INTO scrap_reasons (run_id, step, reason, quantity) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(run_id, step, reason) DO UPDATE SET quantity = quantity + excluded.quantity",
        (run_id, step, reason, qty),
    )


@handles("units_counted")
def _counted(conn: sqlite3.Connection, e: Event) -> None:
    p = e.payload
    _add_counts(conn, p["run_id"], p["step"], int(p["good"]), int(p["scrap"]))
    if int(p["scrap"]) and p.get("reason"):
        _add_scrap_reason(conn, p["run_id"], p["step"], p["reason"], int(p["scrap"]))


@handles("count_undone")
def _undone(conn: sqlite3.Connection, e: Event) -> None:
    p = e.payload
    _add_counts(conn, p["run_id"], p["step"], -int(p["good"]), -int(p["scrap"]))
    if int(p["scrap"]) and p.get("reason"):
        _add_scrap_reason(conn, p["run_id"], p["step"], p["reason"], -int(p["scrap"]))


@handles("defect_recorded")
def _defect(conn: sqlite3.Connection, e: Event) -> None:
    p = e.payload
    conn.execute(
        "INSERT INTO defects (event_id, run_id, step, code, severity, serial, batch, note, "
        "photo, time, operator) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            e.id,
            p["run_id"],
            p.get("step"),
            p["code"],
            p["severity"],
            p.get("serial"),
            p.get("batch"),
            p.get("note"),
            p.get("photo"),
            e.time,
            e.operator,
        ),
    )


@handles("downtime_started")
def _down_start(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute(
        "INSERT INTO downtime (event_id, reason, planned, started) VALUES (?, ?, ?, ?)",
        (e.id, e.payload["reason"], int(bool(e.payload.get("planned"))), e.time),
    )


@handles("downtime_ended")
def _down_end(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute("UPDATE downtime SET ended = ? WHERE ended IS NULL", (e.time,))


@handles("serials_allocated")
def _serials(conn: sqlite3.Connection, e: Event) -> None:
    p = e.payload
    first, count = int(p["first"]), int(p["count"])
    conn.execute(
        "INSERT INTO serial_counters (scope, last_n) VALUES (?, ?) "
        "ON CONFLICT(scope) DO UPDATE SET last_n = MAX(last_n, excluded.last_n)",
        (p["scope"], first + count - 1),
    )
    conn.executemany(
        "INSERT INTO units (serial, scope, n, run_id, batch, edition_size, status, prints, "
        "reprints, allocated_at) VALUES (?, ?, ?, ?, ?, ?, 'allocated', 0, 0, ?)",
        [
            (
                serial,
                p["scope"],
                first + i,
                p.get("run_id"),
                p.get("batch"),
                p.get("edition_size"),
                e.time,
            )
            for i, serial in enumerate(p["serials"])
        ],
    )


@handles("label_printed", "label_reprinted", "label_voided")
def _label(conn: sqlite3.Connection, e: Event) -> None:
    p = e.payload
    kind = e.type.removeprefix("label_")
    serials = p.get("serials") or ([p["serial"]] if p.get("serial") else [])
    conn.execute(
        "INSERT INTO labels (event_id, kind, job_id, template, serial, batch, copies, time, "
        "operator) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            e.id,
            kind,
            p.get("job_id"),
            p.get("template"),
            ",".join(serials) or None,
            p.get("batch"),
            int(p.get("copies", 1)),
            e.time,
            e.operator,
        ),
    )
    for serial in serials:
        if kind == "printed":
            conn.execute(
                "UPDATE units SET prints = prints + 1, status = 'labelled' "
                "WHERE serial = ? AND status != 'void'",
                (serial,),
            )
        elif kind == "reprinted":
            conn.execute("UPDATE units SET reprints = reprints + 1 WHERE serial = ?", (serial,))
        else:
            conn.execute("UPDATE units SET status = 'void' WHERE serial = ?", (serial,))


@handles("batch_held")
def _held(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute(
        "INSERT INTO holds (batch, held, reason, since, operator) VALUES (?, 1, ?, ?, ?) "
        "ON CONFLICT(batch) DO UPDATE SET held = 1, reason = excluded.reason, "
        "since = excluded.since, operator = excluded.operator",
        (e.payload["batch"], e.payload["reason"], e.time, e.operator),
    )


@handles("batch_released")
def _released(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute(
        "INSERT INTO holds (batch, held, reason, since, operator) VALUES (?, 0, ?, ?, ?) "
        "ON CONFLICT(batch) DO UPDATE SET held = 0, reason = excluded.reason, "
        "since = excluded.since, operator = excluded.operator",
        (e.payload["batch"], e.payload["reason"], e.time, e.operator),
    )


@handles("inspection_recorded")
def _inspected(conn: sqlite3.Connection, e: Event) -> None:
    p = e.payload
    defects = p.get("defects") or []
    conn.execute(
        "INSERT INTO inspections (event_id, batch, serial, sku, passed, defects, "
        "nonconformities, note, photo, time, operator) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            e.id,
            p["batch"],
            p["serial"],
            p.get("sku"),
            int(bool(p["passed"])),
            ",".join(defects) or None,
            int(p.get("nonconformities", 0 if p["passed"] else 1)),
            p.get("note"),
            p.get("photo"),
            e.time,
            e.operator,
        ),
    )


@handles("nonconformance_opened")
def _ncr_opened(conn: sqlite3.Connection, e: Event) -> None:
    p = e.payload
    conn.execute(
        "INSERT INTO ncrs (ncr_id, batch, sku, status, reason, opened_at, opened_by) "
        "VALUES (?, ?, ?, 'open', ?, ?, ?) ON CONFLICT(ncr_id) DO NOTHING",
        (p["ncr_id"], p["batch"], p.get("sku"), p.get("reason"), e.time, e.operator),
    )


@handles("nonconformance_closed")
def _ncr_closed(conn: sqlite3.Connection, e: Event) -> None:
    p = e.payload
    conn.execute(
        "UPDATE ncrs SET status = 'closed', disposition = ?, note = ?, closed_at = ?, "
        "closed_by = ? WHERE ncr_id = ?",
        (p["disposition"], p.get("note"), e.time, e.operator, p["ncr_id"]),
    )
