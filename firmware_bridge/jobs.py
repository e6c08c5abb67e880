"""Jobs: a G-code (or command) file checked before streaming, and its progress."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

_COMMENT = re.compile(r"\([^)]*\)")


class JobError(ValueError):
    """The job file cannot be streamed; the message names the line."""


class JobRefused(Exception):
    """The bridge will not start a job now (QC hold, alarm, link down...); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class JobLine:
    number: int  # line number in the source file, 1-based
    text: str


@dataclass(frozen=True, slots=True)
class LineRules:
    """What one controller accepts on a line, checked before streaming starts."""

    max_len: int
    forbidden: str = ""
    count_spaces: bool = True


def clean_gcode(raw: str) -> str:
    text = raw.split(";", 1)[0]
    text = _COMMENT.sub("", text)
    return text.strip()


def load_lines(
    source: str | Path | Iterable[str], rules: LineRules, *, clean: bool = True
) -> list[JobLine]:
    """Read and check every line; raise JobError naming the first bad line."""
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source):
        path = Path(source)
        try:
            raw_lines = path.read_bytes().decode("ascii").splitlines()
        except FileNotFoundError as exc:
            raise JobError(f"{path}: no such file") from exc
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[: exc.start].count(b"\n") + 1
            raise JobError(f"{path}: line {line}: not plain ASCII text") from exc
        where = f"{path}: "
    else:
        raw_lines = source.splitlines() if isinstance(source, str) else list(source)
        where = ""
    lines: list[JobLine] = []
    for number, raw in enumerate(raw_lines, start=1):
        text = clean_gcode(raw) if clean else raw.strip()
        if not text:
            continue
        problem = line_problem(text, rules)
        if problem:
            raise JobError(f"{where}line {number}: {problem}")
        lines.append(JobLine(number, text))
    return lines


def line_problem(text: str, rules: LineRules) -> str | None:
    """Why the controller cannot take this (cleaned) line, or None."""
    bad = next((c for c in text if not (32 <= ord(c) < 127) or c in rules.forbidden), None)
    if bad is not None:
        return f"character {bad!r} is not allowed here"
    length = len(text) if rules.count_spaces else len(text.replace(" ", ""))
    if length > rules.max_len:
        spaces = "" if rules.count_spaces else " not counting spaces"
        return f"{length} characters{spaces}, the controller takes at most {rules.max_len}"
    return None


@dataclass
class JobProgress:
    lines_total: int
    lines_sent: int
    lines_acked: int
    bytes_total: int
    bytes_acked: int
    elapsed_s: float
    eta_s: float | None

    @property
    def fraction(self) -> float:
        return self.bytes_acked / self.bytes_total if self.bytes_total else 1.0


@dataclass
class JobResult:
    outcome: str  # finished | aborted | stopped
    reason: str
    lines_total: int
    lines_sent: int
    lines_acked: int
    last_acked_line: int | None  # source line number of the last acknowledged line
    errors: list[dict[str, object]] = field(default_factory=list)
    alarms: list[dict[str, object]] = field(default_factory=list)
    position_lost: bool = False
    elapsed_s: float = 0.0


class Job:
    """A job being streamed; drivers move its counters, the kiosk reads `progress()`."""

    def __init__(
        self,
        name: str,
        lines: list[JobLine],
        *,
        terminator_len: int = 1,
        wire: Callable[[str], str] | None = None,
    ) -> None:
        self.name = name
        self.lines = lines
        # What goes on the wire for each line (GRBL: without spaces, as bCNC and UGS send it).
        self.wire = [wire(ln.text) for ln in lines] if wire else [ln.text for ln in lines]
        self.sizes = [len(text) + terminator_len for text in self.wire]
        self.bytes_total = sum(self.sizes)
        self.next = 0
        self.acked = 0
        self.bytes_acked = 0
        self.errors: list[dict[str, object]] = []
        self.alarms: list[dict[str, object]] = []
        self.started = time.monotonic()
        self.result: JobResult | None = None
        self.sending = True
        self.ending: tuple[str, str] | None = None
        self.all_acked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.result is None

    def ack(self, index: int) -> None:
        self.acked += 1
        self.bytes_acked += self.sizes[index]
        if self.acked == len(self.lines):
            self.all_acked_at = time.monotonic()

    def progress(self) -> JobProgress:
        elapsed = time.monotonic() - self.started
        eta = None
        if self.bytes_acked and elapsed > 0:
            eta = (self.bytes_total - self.bytes_acked) / (self.bytes_acked / elapsed)
        return JobProgress(
            len(self.lines), self.next, self.acked, self.bytes_total, self.bytes_acked,
            elapsed, eta,
        )  # fmt: skip

    def finish(self, outcome: str, reason: str, *, position_lost: bool = False) -> JobResult:
        last = self.lines[self.acked - 1].number if self.acked else None
        self.result = JobResult(
            outcome, reason, len(self.lines), self.next, self.acked, last,
            list(self.errors), list(self.alarms), position_lost,
            time.monotonic() - self.started,
        )  # fmt: skip
        return self.result
