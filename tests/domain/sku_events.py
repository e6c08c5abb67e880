"""Events of whole runs for the SKU report's tests (and the CLI's)."""

from __future__ import annotations

from cellctl.domain.events import Event


def sku_accept(cell: str, run: str, step: int, kind: str, nxt: str | None, sku: str, at: str,
            submitted: str | None = None) -> Event:  # fmt: skip
    a = {"run_id": run, "step": step, "kind": kind, "sku": sku, "next_kind": nxt,
         "assigned_at": at, "submitted_at": submitted}  # fmt: skip
    return Event("assignment_accepted", cell, {"run_id": run, "step": step, "assignment": a},
                 time=at)  # fmt: skip


def sku_event(kind: str, cell: str, at: str, **payload: object) -> Event:
    return Event(kind, cell, dict(payload), time=at)


def sku_run(
    run: str,
    sku: str,
    day: str,
    lead_h: int,
    good: tuple[int, int],
    scrap: tuple[int, int],
    reworked: int = 0,
) -> list[Event]:
    """A cut>qa run submitted at 06:00, started 07:00, its QA done lead_h hours after 06:00."""
    t = lambda h: f"{day}T{h:02d}:00:00.000Z"  # noqa: E731
    return [
        sku_accept("cut-01", run, 0, "cut", "qa", sku, t(6), submitted=t(6)),
        sku_event("run_step_started", "cut-01", t(7), run_id=run, step=0),
        sku_event(
            "units_counted", "cut-01", t(8), run_id=run, step=0, good=good[0], scrap=scrap[0]
        ),
        sku_event("run_step_completed", "cut-01", t(8), run_id=run, step=0),
        sku_accept("qa-01", run, 1, "qa", None, sku, t(8)),
        sku_event("run_step_started", "qa-01", t(8), run_id=run, step=1),
        sku_event(
            "units_counted",
            "qa-01",
            t(9),
            run_id=run,
            step=1,
            good=good[1],
            scrap=scrap[1],
            reworked=reworked,
        ),
        sku_event("run_step_completed", "qa-01", t(6 + lead_h), run_id=run, step=1),
    ]
