"""Reading the serial link's own log: what the bridge sent after a moment in a test.

The link records every line it sends (`>`) and receives (`<`); GRBL status polls
(`?`) are written unlogged, but their replies are logged, and every byte written
is counted in `bytes_written`. A `Mark` taken at an event lets a test wait for
fresh status reports (a round trip that proves the link and the bridge's loop are
alive) and then check that nothing else went out.
"""

from __future__ import annotations

from firmware_bridge import SerialLink
from firmware_bridge.link import LogEntry
from firmware_bridge.machine import wait_for


class Mark:
    def __init__(
        self, link: SerialLink, after: LogEntry | None = None, *, from_start: bool = False
    ) -> None:
        """Mark the link's log now, just after the entry `after`, or at its very start."""
        self.link = link
        if from_start:
            self.entry, self.bytes_written = None, 0
        else:
            self.entry = after if after is not None else (link.log[-1] if link.log else None)
            self.bytes_written = link.bytes_written

    def since(self) -> list[LogEntry]:
        entries = list(self.link.log)
        if self.entry is None:
            return entries
        for i in range(len(entries) - 1, -1, -1):
            if entries[i] is self.entry:
                return entries[i + 1 :]
        raise AssertionError("the mark has left the link's bounded log")

    def sent(self) -> list[str]:
        return [e.text for e in self.since() if e.direction == ">"]

    def received(self) -> list[str]:
        return [e.text for e in self.since() if e.direction == "<"]

    def status_reports(self) -> list[str]:
        return [t for t in self.received() if t.startswith("<") and t.endswith(">")]

    def bytes_since(self) -> int:
        return self.link.bytes_written - self.bytes_written

    async def status_round_trips(self, n: int = 2, timeout: float = 5.0) -> bool:
        """Wait for `n` status reports received after the mark."""
        return await wait_for(lambda: len(self.status_reports()) >= n, timeout)

    def assert_only_status_polls_sent(self) -> None:
        """Nothing but one-byte `?` polls went out since the mark (GRBL).

        Each poll is answered by one report, so the bytes written are at most the
        reports received plus the polls still in flight (a job line is 10+ bytes).
        """
        assert self.sent() == [], self.sent()
        assert self.bytes_since() <= len(self.status_reports()) + 2, (
            self.bytes_since(),
            len(self.status_reports()),
        )


def last_entry(link: SerialLink, direction: str, prefix: str) -> LogEntry:
    """The newest log entry going `direction` whose text starts with `prefix`."""
    for entry in reversed(link.log):
        if entry.direction == direction and entry.text.startswith(prefix):
            return entry
    raise AssertionError(f"no {direction!r} entry starting with {prefix!r} in the link's log")
