"""Holds heard from other cells: a `batch_held` or `batch_released` event from the bus
becomes a `note_hold` on this cell's controller, so the kiosk refuses to start (or accept)
the held batch's step and says why."""

from __future__ import annotations

from cellctl.domain.events import Event
from cellctl.station.controller import StationController


def hold_change(event: Event) -> tuple[str, bool, str] | None:
    """(batch, held, reason) when the event puts a batch on hold or releases it."""
    if event.type == "batch_held":
        return event.payload["batch"], True, str(event.payload["reason"])
    if event.type == "batch_released":
        return event.payload["batch"], False, str(event.payload["reason"])
    return None


def note_remote_event(controller: StationController, event: Event) -> bool:
    """Apply another cell's hold or release to this controller; True when it did."""
    if event.cell == controller.cell:
        return False  # our own events already changed our state
    change = hold_change(event)
    if change is None:
        return False
    batch, held, reason = change
    controller.note_hold(batch, held, reason)
    return True
