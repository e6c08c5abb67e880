"""Drill-down screens (a cell's events, a run's steps, a serial's trace) and dialogs."""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Label, Static

from cellctl.board.feed import BoardFeed
from cellctl.domain.events import Event


def _payload(e: Event, limit: int = 80) -> str:
    text = json.dumps(e.payload, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class DrillScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, feed: BoardFeed, title: str) -> None:
        super().__init__()
        self.feed = feed
        self.heading = title

    def compose(self) -> ComposeResult:
        yield Static(self.heading, id="drill-title")
        yield DataTable(id="drill-table", zebra_stripes=True)
        yield Footer()

    live = True  # re-drawn twice a second; a trace is drawn when its history arrives
    asks_history = False  # a run's steps and a serial's past are asked of the site

    def on_mount(self) -> None:
        self.fill(self.query_one(DataTable))
        if self.live:
            self.set_interval(0.5, self.refill)
        if self.asks_history:
            self.run_worker(self._fetch_history(), group="history")

    async def _fetch_history(self) -> None:
        """Ask the site for this screen's past (over the bus), then draw it again."""
        problem = await self.history()
        if problem:
            self.query_one("#drill-title", Static).update(f"{self.heading} — live only: {problem}")
        self.refill()

    async def history(self) -> str | None:
        return None

    def refill(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        self.fill(table)

    def fill(self, table: DataTable) -> None:
        raise NotImplementedError


class CellScreen(DrillScreen):
    def __init__(self, feed: BoardFeed, cell: str) -> None:
        super().__init__(feed, f"Cell {cell}: event stream (newest first)")
        self.cell = cell

    def fill(self, table: DataTable) -> None:
        table.add_columns("seq", "time", "type", "operator", "payload")
        for e in reversed(self.feed.cell_events(self.cell)[-200:]):
            table.add_row(str(e.seq), e.time, e.type, e.operator or "", _payload(e))


class RunScreen(DrillScreen):
    def __init__(self, feed: BoardFeed, run_id: str) -> None:
        super().__init__(feed, f"Run {run_id}: progress through its steps")
        self.run_id = run_id

    asks_history = True

    async def history(self) -> str | None:
        return await self.feed.fetch_run(self.run_id)

    def fill(self, table: DataTable) -> None:
        # Fixed widths: a live table re-filled twice a second must not jitter or cut ids.
        for label, width in (("step", 4), ("status", 8), ("cells", 24), ("good", 6),
                             ("scrap", 6), ("first event", 24), ("last event", 24)):  # fmt: skip
            table.add_column(label, width=width)
        for s in self.feed.run_progress(self.run_id):
            table.add_row(
                str(s["step"]), s["status"], ", ".join(s["cells"]) or "-", str(s["good"]),
                str(s["scrap"]), s["first"] or "-", s["last"] or "-",
            )  # fmt: skip


class TraceScreen(DrillScreen):
    live = False

    def __init__(self, feed: BoardFeed, serial: str) -> None:
        super().__init__(feed, f"Serial {serial}: every event that names it")
        self.serial = serial

    asks_history = True

    async def history(self) -> str | None:
        return await self.feed.fetch_trace(self.serial)

    def fill(self, table: DataTable) -> None:
        table.add_columns("time", "cell", "seq", "type", "operator", "payload")
        for e in self.feed.trace(self.serial):
            table.add_row(e.time, e.cell, str(e.seq), e.type, e.operator or "", _payload(e))


class FormDialog(ModalScreen[dict[str, str] | None]):
    """A few labelled inputs; Enter in the last one submits, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, fields: list[tuple[str, str]], values: dict[str, Any]) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields
        self.values = values

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            for name, label in self.fields:
                yield Label(label)
                yield Input(str(self.values.get(name, "") or ""), id=f"f-{name}")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
            return
        self.dismiss({name: self.query_one(f"#f-{name}", Input).value.strip()
                      for name, _ in self.fields})  # fmt: skip

    def action_cancel(self) -> None:
        self.dismiss(None)
