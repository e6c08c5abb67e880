"""The board's alerts: raised and cleared by what the floor says, acknowledged by a
supervisor (and the acknowledgement shared by every board of the site)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Alert:
    key: tuple[str, str]
    kind: str  # cell_down, cell_stale, cell_offline, machine_alarm, hold, due_risk
    subject: str
    text: str
    since: float  # wall clock
    active: bool = True
    acked_by: str | None = None


class Alerts:
    """Raised and cleared by the feed, acknowledged by a person; newest first."""

    def __init__(self, on_ack_cleared: Callable[[tuple[str, str]], None] | None = None) -> None:
        self.items: OrderedDict[tuple[str, str], Alert] = OrderedDict()
        self.version = 0
        # Acknowledgements other boards made (retained on the bus): applied when we raise.
        self.shared: dict[tuple[str, str], str] = {}
        self.on_ack_cleared = on_ack_cleared

    def raise_(self, kind: str, subject: str, text: str, wall: float) -> None:
        key = (kind, subject)
        current = self.items.get(key)
        if current is not None and current.active and current.text == text:
            return
        if current is not None and current.active:
            current.text = text
        else:
            self.items[key] = Alert(key, kind, subject, text, wall, acked_by=self.shared.get(key))
            self.items.move_to_end(key, last=False)
        self.version += 1

    def clear(self, kind: str, subject: str) -> None:
        """The condition ended (the cell runs again, the batch was released): the alert
        goes, acknowledged or not, so the list and the header count only what is true
        now. What happened stays in the cell's event stream."""
        key = (kind, subject)
        alert = self.items.get(key)
        if alert is not None and alert.active:
            del self.items[key]
            if alert.acked_by is not None:
                self.shared.pop(key, None)
                if self.on_ack_cleared is not None:
                    self.on_ack_cleared(key)
            self.version += 1

    def ack(self, key: tuple[str, str], by: str) -> bool:
        alert = self.items.get(key)
        if alert is None:
            return False
        alert.acked_by = by
        if not alert.active:
            del self.items[key]
        self.version += 1
        return True

    def listing(self) -> list[Alert]:
        return list(self.items.values())

    def open(self) -> list[Alert]:
        return [a for a in self.items.values() if a.acked_by is None]
