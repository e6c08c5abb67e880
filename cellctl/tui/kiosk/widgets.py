"""The kiosk's panels; each draws one part of a `StationView`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Size
from textual.markup import escape
from textual.widget import Widget
from textual.widgets import Markdown, ProgressBar, Static

from cellctl.station.controller import StationView
from cellctl.station.qa_lot import QAView


def _fmt_due(due: str) -> str:
    try:
        when = datetime.fromisoformat(due.replace("Z", "+00:00"))
    except ValueError:
        return due or "-"
    return when.strftime("%a %d %b %H:%M")


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Line(Static):
    """Text that is redrawn only when it changed: the kiosk redraws its whole view on
    every change (each count), and most of it stays the same."""

    _text: str | None = None

    def show_text(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self.update(text)


class AssignmentPanel(Vertical):
    _shown_instructions: str | None = None
    _shown_progress: tuple[int, int] | None = None

    def _instructions(self, md: Markdown, text: str) -> None:
        # Re-parsing Markdown mounts new widgets: only do it when the text changed.
        if text != self._shown_instructions:
            self._shown_instructions = text
            md.update(text)

    def _progress(self, bar: ProgressBar, total: int, progress: int) -> None:
        if (total, progress) != self._shown_progress:
            self._shown_progress = (total, progress)
            bar.update(total=total, progress=progress)

    def compose(self) -> ComposeResult:
        yield Line(id="run")
        yield ProgressBar(id="progress", show_eta=False)
        yield Markdown(id="instructions")

    def show(self, v: StationView) -> None:
        run = self.query_one("#run", Line)
        bar = self.query_one("#progress", ProgressBar)
        md = self.query_one("#instructions", Markdown)
        a = v.assignment
        if a is None:
            run.show_text(
                "[b]No step assigned[/b]\nWaiting for the scheduler, or scan a run ticket."
            )
            self._progress(bar, 1, 0)
            self._instructions(md, "")
            self.border_title = "Assignment"
            return
        accepted = "" if v.assignment_accepted else "  [reverse] A = accept  D = decline [/]"
        hold = ""
        if a.batch and a.batch in v.held_batches:
            hold = f"\n[b red]ON QC HOLD: {v.held_batches[a.batch]}[/]"
        after = f"then: {a.next_kind}" if a.next_kind else "last step"
        run.show_text(
            f"[b]{a.title or a.sku}[/b]{accepted}\n"
            f"run {a.run_id} · step {a.step} ({a.kind}) · {a.sku}\n"
            f"{a.edition_text} · batch {a.batch or '-'} · due {_fmt_due(a.due)} · {after}{hold}"
        )
        self._progress(bar, max(a.quantity, 1), min(v.good, a.quantity))
        self._instructions(md, a.instructions or "_No instructions for this step._")
        self.border_title = f"Assignment: {v.good}/{a.quantity} good"


class CountsPanel(Line):
    def show(self, v: StationView) -> None:
        undo = "U = undo last" if v.undo_available else ""
        self.show_text(
            f"[b green]GOOD  {v.good:>5}[/]\n[b red]SCRAP {v.scrap:>5}[/]\n"
            f"[dim]G +1 good · X +1 scrap[/]\n[dim]{undo}[/]"
        )


class MachinePanel(Line):
    def show(self, v: StationView) -> None:
        m = v.machine
        lines = [
            f"link    {m.get('link', 'none')}",
            f"machine {m.get('state', 'none')}",
        ]
        if m.get("job"):
            pct = float(m.get("progress", 0.0)) * 100
            filled = int(pct / 5)
            lines.append(f"job     {m['job']}")
            lines.append(f"[{'#' * filled}{'.' * (20 - filled)}] {pct:4.0f}%")
            lines.append(f"ETA     {_fmt_eta(m.get('eta_s'))}")
        if m.get("alarm"):
            lines.append(f"[b red]ALARM: {m['alarm']}[/]")
        if v.downtime_reason:
            lines.append(f"[b]downtime: {v.downtime_reason}[/]")
        lines.append("[dim]M = machine menu[/]")
        self.show_text("\n".join(lines))


def status_line(v: StationView) -> str:
    op = f"{v.operator.name} ({v.operator.role.value})" if v.operator else "nobody signed in"
    if v.link == "connected":
        broker = "online" + (f", {v.outbox} sending" if v.outbox else "")
    else:
        broker = f"offline — {v.outbox} events waiting" if v.outbox else "offline"
    return f"{v.station} │ {op} │ broker {broker} │ scanner {v.scanner} │ printer {v.printer}"


class QAPanel(Line):
    """The QA cell's inspection: plan, sample, current unit and checklist, verdict."""

    def show_qa(self, view: QAView) -> None:
        v = view
        lines: list[str] = []
        if v.batch is None:
            lines.append("[b]No batch open[/b]")
            lines.append("Scan a batch traveller, or O to open the assigned batch")
        else:
            p = v.plan
            lines.append(f"[b]batch {v.batch}[/b] · {v.sku} · {v.severity}")
            if p is not None:
                lines.append(f"plan {p.plan_letter}: n={p.sample_size} Ac={p.ac} Re={p.re}")
            done = len(v.inspected)
            bad = sum(1 for n in v.inspected.values() if n)
            lines.append(f"inspected {done}/{len(v.sample)} · nonconforming {bad}")
            if v.current:
                lines.append(f"[b reverse] unit {v.current} [/]  Y pass · N fail")
                for item in v.checklist:
                    limits = ""
                    if item.kind == "measure":
                        nominal = item.nominal or 0.0  # a measure has them (validated)
                        low = nominal - (item.tol_minus or 0.0)
                        high = nominal + (item.tol_plus or 0.0)
                        limits = f" [{low:g}..{high:g} {item.unit}]"
                    lines.append(f"  □ {item.text}{limits}")
            elif v.remaining:
                shown = ", ".join(v.remaining[:3]) + (" …" if len(v.remaining) > 3 else "")
                lines.append(f"next: scan {shown}")
        if v.last_verdict:
            verdict = "ACCEPTED" if v.last_verdict.get("accepted") else "REJECTED"
            colour = "green" if v.last_verdict.get("accepted") else "red"
            lines.append(f"last lot {v.last_verdict.get('batch')}: [b {colour}]{verdict}[/]")
        if v.open_ncrs:
            lines.append(f"[b]{len(v.open_ncrs)} open NCR[/b] · K to sign off")
        self.show_text("\n".join(lines))


def key_label(key: str) -> str:
    """A binding's key as a person reads it on the keycap: `G`, `F2`, `?`."""
    return {"question_mark": "?"}.get(key, key.upper())


def key_chip(key: str, text: str) -> tuple[str, int]:
    """Markup for one key and what it does, and its width in cells."""
    return f"[b reverse] {escape(key)} [/] {escape(text)}", len(key) + 3 + len(text)


class KeyBar(Widget):
    """The keys a newcomer needs, wrapped onto as many lines as the width asks (two at
    80 columns) rather than cut off at the edge; each can be clicked or touched.

    `entries` are (key as shown, description, action)."""

    GAP = 2

    def __init__(self, entries: list[tuple[str, str, str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entries = entries

    def lines(self, width: int) -> list[str]:
        chips = [
            (f"[@click=app.{action}]{chip}[/]", cells) for chip, cells, action in self._chips()
        ]
        rows = self._greedy(chips, width)
        # The same number of keys on each line reads better than a ragged last line.
        per_row = -(-len(chips) // max(len(rows), 1))
        even = [chips[i : i + per_row] for i in range(0, len(chips), per_row)]
        if len(even) == len(rows) and all(self._width(row) <= width for row in even):
            rows = even
        return [(" " * self.GAP).join(markup for markup, _ in row) for row in rows]

    def _chips(self) -> list[tuple[str, int, str]]:
        return [(*key_chip(key, text), action) for key, text, action in self.entries]

    def _width(self, row: list[tuple[str, int]]) -> int:
        return sum(cells for _, cells in row) + self.GAP * (len(row) - 1)

    def _greedy(self, chips: list[tuple[str, int]], width: int) -> list[list[tuple[str, int]]]:
        rows: list[list[tuple[str, int]]] = [[]]
        for chip in chips:
            if rows[-1] and self._width([*rows[-1], chip]) > width:
                rows.append([])
            rows[-1].append(chip)
        return rows if rows[0] else []

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self.lines(width)))

    def render(self) -> str:
        return "\n".join(self.lines(self.content_size.width))
