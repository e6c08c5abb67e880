"""Keyboard-wedge scanners: tell a scanner's key burst from a person typing.

A wedge scanner types its payload as keys a few milliseconds apart and ends it with
Enter; a person types 80+ ms apart. The kiosk feeds every key with its time; the
detector answers with a finished scan, or with the keys to hand back to the focused
widget because a person typed them. No textual here: it takes plain (char, time) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ENTER = ("\r", "\n", "enter")


@dataclass(frozen=True, slots=True)
class WedgeResult:
    scan: str | None = None  # a complete scanner burst
    typed: str = ""  # keys a person typed, to pass on to the UI


@dataclass
class WedgeDetector:
    # Scanners send keys every 1-20 ms, people >= 60 ms apart; a hotkey waits this long
    # to be sure it is not the start of a scan, so it is kept near the scanners' end.
    max_gap_s: float = 0.030
    min_length: int = 4
    _buffer: list[tuple[str, float]] = field(default_factory=list)

    def key(self, char: str, t: float) -> WedgeResult:
        """Feed one key press (a printable character or Enter) at time `t` in seconds."""
        if self._buffer and t - self._buffer[-1][1] > self.max_gap_s:
            typed = self._flush_typed()
            if char in ENTER:
                return WedgeResult(typed=typed + "\n")
            self._buffer.append((char, t))
            return WedgeResult(typed=typed)
        if char in ENTER:
            if len(self._buffer) >= self.min_length and self._fast():
                text = "".join(c for c, _ in self._buffer)
                self._buffer.clear()
                return WedgeResult(scan=text)
            return WedgeResult(typed=self._flush_typed() + "\n")
        self._buffer.append((char, t))
        return WedgeResult()

    def pending(self, now: float) -> WedgeResult:
        """Call from a timer: keys older than the gap were typed by a person."""
        if self._buffer and now - self._buffer[-1][1] > self.max_gap_s:
            return WedgeResult(typed=self._flush_typed())
        return WedgeResult()

    def _fast(self) -> bool:
        gaps = [b[1] - a[1] for a, b in zip(self._buffer, self._buffer[1:], strict=False)]
        return not gaps or sorted(gaps)[len(gaps) // 2] <= self.max_gap_s

    def _flush_typed(self) -> str:
        text = "".join(c for c, _ in self._buffer)
        self._buffer.clear()
        return text
