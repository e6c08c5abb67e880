"""Read de-duplication as zbarcam does it.

A code is reported once; it is reported again only after it has been out of view
for `hold_s` seconds. EAN/UPC codes, whose weak check digit lets a noisy frame read
as another number, are reported only after two agreeing reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cellctl.scan.decoders import Read

CONFIRM = {"EAN-13": 2, "UPC-A": 2, "EAN-8": 2}


@dataclass
class _Seen:
    count: int
    last: float
    reported: bool


@dataclass
class Deduplicator:
    hold_s: float = 2.0
    _seen: dict[tuple[str, str], _Seen] = field(default_factory=dict)

    def feed(self, reads: Iterable[Read], now: float) -> list[Read]:
        """Reads from one frame taken at `now` (monotonic seconds); returns the new ones."""
        self._forget(now)
        new: list[Read] = []
        for read in reads:
            seen = self._seen.get(read.key)
            if seen is None:
                seen = self._seen[read.key] = _Seen(0, now, False)
            seen.count += 1
            seen.last = now
            if not seen.reported and seen.count >= CONFIRM.get(read.format, 1):
                seen.reported = True
                new.append(read)
        return new

    def _forget(self, now: float) -> None:
        gone = [k for k, s in self._seen.items() if now - s.last > self.hold_s]
        for k in gone:
            del self._seen[k]

    def __len__(self) -> int:
        return len(self._seen)
