"""The supervisor board: every cell at a glance, the queue with its why, metrics, alerts.

The app draws a `BoardFeed` on a timer (10 Hz for what changed, 1 Hz for the
clocks), so a burst of messages costs one redraw, not one per message. It runs
the feed's broker connection in its own event loop; a board served in a
browser is one such process per viewer.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from cellctl.board.feed import BoardFeed, CommandRefused
from cellctl.tui.board.screens import CellScreen, FormDialog, RunScreen, TraceScreen
from cellctl.tui.board.web import exit_deadline, under_web_driver, watch_viewer
from cellctl.tui.board.widgets import CellGrid, bars, pct, span

REFRESH_S = 0.1


def said(action: str, body: dict[str, Any]) -> str:
    """A supervisor action in words, for the toast that confirms it."""
    if action == "prioritise":
        return f"run {body.get('run_id')} to priority {body.get('priority')}"
    if action == "cancel":
        return f"cancel run {body.get('run_id')}"
    if action == "release_hold":
        reason = body.get("reason")
        return f"release batch {body.get('batch')}" + (f" ({reason})" if reason else "")
    return " ".join([action.replace("_", " "), *(f"{k} {v}" for k, v in body.items())])


def _clock(ts: float | None) -> str:
    return "—" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%m-%d %H:%M")


class BoardApp(App[None]):
    CSS_PATH = Path(__file__).parent / "board.tcss"
    TITLE = "cellctl board"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS = [
        # The tab keys are written on the tabs ("1 Floor"): the key bar keeps its width
        # for the actions, so all of them show at 120 columns.
        Binding("1", "tab('floor')", "Floor", show=False),
        Binding("2", "tab('queue')", "Queue", show=False),
        Binding("3", "tab('metrics')", "Metrics", show=False),
        Binding("4", "tab('alerts')", "Alerts", show=False),
        Binding("r", "run", "Run"),
        Binding("t", "trace", "Trace serial"),
        Binding("p", "prioritise", "Prioritise"),
        Binding("x", "cancel_run", "Cancel run"),
        Binding("h", "release_hold", "Release hold"),
        Binding("a", "ack", "Ack alert"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, feed: BoardFeed, *, connect: bool = True, badge: str = "") -> None:
        super().__init__()
        self.feed = feed
        self.connect = connect
        self.badge = badge
        self.latencies: list[float] = []
        self.renders = 0
        self._queue_version = -1
        self._alerts_version = -1
        self._metrics_at = 0.0
        self._link_drawn: tuple[bool, str | None] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="summary")
        with TabbedContent(initial="floor"):
            with TabPane("1 Floor", id="floor"), VerticalScroll():
                yield CellGrid(id="grid")
            with TabPane("2 Queue", id="queue"):
                yield DataTable(id="queue-table", cursor_type="row", zebra_stripes=True)
            with TabPane("3 Metrics", id="metrics"), VerticalScroll():
                yield Static("", id="metrics-oee")
                yield Static("", id="metrics-runs")
                yield Static("", id="metrics-sku")
                yield Static("", id="metrics-pareto")
                yield Static("", id="metrics-throughput")
            with TabPane("4 Alerts", id="alerts"):
                yield DataTable(id="alerts-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    async def on_mount(self) -> None:
        # Dialogs and drill-downs sit on top; the board keeps drawing its own screen.
        self.main = self.screen
        self.main.query_one("#queue-table", DataTable).add_columns(
            "#", "run", "step", "kind", "prio", "due", "ETA", "risk", "why"
        )
        self.main.query_one("#alerts-table", DataTable).add_columns(
            "since", "kind", "subject", "alert", "state"
        )
        if under_web_driver():
            watch_viewer()
        if self.connect:
            # The last hours from the historian, while the live feed starts beside it.
            self.run_worker(self.feed.preload(), group="history")
            await self.feed.start()
        self.grid.focus()
        self.set_interval(REFRESH_S, self.refresh_board)
        self.set_interval(1.0, self.tick)
        self.refresh_board()

    async def on_unmount(self) -> None:
        if under_web_driver():
            exit_deadline()  # a viewer that left must not linger, whatever hangs below
        if self.connect:
            await self.feed.stop()

    # -- drawing ------------------------------------------------------------------------------

    def tick(self) -> None:
        self.feed.tick()
        with contextlib.suppress(NoMatches):
            self.grid.show(self.feed.cells, list(self.feed.cells), self.feed.clock())
        self.refresh_board()

    def refresh_board(self) -> None:
        # While the app closes its widgets are gone before its timers.
        with contextlib.suppress(NoMatches):
            self._refresh_board()

    def _refresh_board(self) -> None:
        feed = self.feed
        now = feed.clock()
        changed = feed.take_changes()
        if changed:
            self.grid.show(feed.cells, changed, now)
        if feed.queue_version != self._queue_version:
            self._queue_version = feed.queue_version
            self._draw_queue()
        if feed.alerts.version != self._alerts_version:
            self._alerts_version = feed.alerts.version
            self._draw_alerts()
        link = (feed.connected, feed.last_error)
        if changed or feed.queue_version or link != self._link_drawn:
            self._link_drawn = link
            self._draw_summary()
        if (
            self.main.query_one(TabbedContent).active == "metrics"
            and time.monotonic() > self._metrics_at
        ):
            self._metrics_at = time.monotonic() + 2.0
            self._draw_metrics()
        arrivals = feed.take_arrivals()
        if arrivals:
            self.call_after_refresh(self._rendered, arrivals)
        self.renders += 1

    def _rendered(self, arrivals: list[float]) -> None:
        done = time.time()
        self.latencies.extend(done - a for a in arrivals)

    def _draw_summary(self) -> None:
        feed = self.feed
        states: dict[str, int] = {}
        for t in feed.cells.values():
            key = "stale" if t.stale else t.state
            states[key] = states.get(key, 0) + 1
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"cellctl board · {feed.topics.site}  ", style="bold")
        if not feed.connected:
            # Said first and whole: with no broker every cell below is unknown.
            text.append(f"no broker at {feed.mqtt.url}: retrying", style="bold red")
            text.append(" (q quits)  " + (f"{feed.last_error}  " if feed.last_error else ""))
        else:
            text.append("broker ok  ", style="bold")
        text.append(f"{len(feed.cells)} cells: ")
        text.append(", ".join(f"{n} {s}" for s, n in sorted(states.items())))
        text.append(f"  queue {len(feed.queue())}  alerts {len(feed.alerts.open())}")
        if feed.dropped:
            text.append(f"  dropped {feed.dropped}", style="yellow")
        self.main.query_one("#summary", Static).update(text, layout=False)

    def _draw_queue(self) -> None:
        table = self.main.query_one("#queue-table", DataTable)
        row = table.cursor_row
        table.clear()
        for q in self.feed.queue():
            risk = Text("LATE RISK", style="bold red") if q.at_risk else Text("ok", style="green")
            table.add_row(
                str(q.position), q.run_id, str(q.step), q.kind, str(q.priority),
                _clock(q.due_s), _clock(q.eta_s), risk, q.why, key=f"{q.run_id}:{q.step}",
            )  # fmt: skip
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    def _draw_alerts(self) -> None:
        table = self.main.query_one("#alerts-table", DataTable)
        row = table.cursor_row
        table.clear()
        for a in self.feed.alerts.listing():
            state = ("active" if a.active else "cleared") + (
                f", ack {a.acked_by}" if a.acked_by else ""
            )
            style = "bold red" if a.active and not a.acked_by else "dim"
            table.add_row(
                _clock(a.since), a.kind, a.subject, Text(a.text, style=style), state,
                key=f"{a.kind}|{a.subject}",
            )  # fmt: skip
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    def _draw_metrics(self) -> None:
        feed = self.feed
        oee = Text("OEE per cell (availability × performance × quality)\n", style="bold")
        for cell, o in sorted(feed.oee_by_cell().items()):
            oee.append(
                f"  {cell:<14} OEE {pct(o.oee):>5}  A {pct(o.availability):>5}  "
                f"P {pct(o.performance):>5}  Q {pct(o.quality):>5}  "
                f"planned {span(o.planned_s)}  down {span(o.unplanned_downtime_s)}\n"
            )
            if o.problem:
                # a performance above 100 % is a wrong setting, not a figure to show
                oee.append(f"  {'':<14} ⚠ {o.problem}\n", style="bold yellow")
        runs = Text("Yield and first-pass yield per run\n", style="bold")
        for run_id, y in sorted(feed.run_yields().items()):
            runs.append(
                f"  {run_id:<16} yield {pct(y.yield_):>5}  FPY {pct(y.first_pass_yield):>5}\n"
            )
        sku = Text("Per SKU (lead time submitted → done, p50 / p90)\n", style="bold")
        sku_rows = feed.sku_rows()
        for r in sku_rows:
            lead = (f"{span(r['lead_p50_s'])} / {span(r['lead_p90_s'])}"
                    if r["lead_p50_s"] is not None else "—")  # fmt: skip
            sku.append(
                f"  {r['sku']:<16} runs {r['runs_done']}/{r['runs']}  lead {lead:<15} "
                f"yield {pct(r['yield']):>5}  FPY {pct(r['fpy']):>5}\n"
            )
        if not sku_rows:
            sku.append("  none yet (from the assignments the cells accepted)\n", style="dim")
        pareto = Text("Defect Pareto\n", style="bold")
        rows = feed.pareto()
        pareto.append_text(bars([(r.code, float(r.count)) for r in rows]))
        if rows:
            pareto.append(
                "  cumulative: " + ", ".join(f"{r.code} {pct(r.cumulative)}" for r in rows)
            )
        thr = Text("Good units per hour (UTC)\n", style="bold")
        thr.append_text(bars([(h, float(n)) for h, n in feed.throughput_per_hour()]))
        self.main.query_one("#metrics-oee", Static).update(oee)
        self.main.query_one("#metrics-runs", Static).update(runs)
        self.main.query_one("#metrics-sku", Static).update(sku)
        self.main.query_one("#metrics-pareto", Static).update(pareto)
        self.main.query_one("#metrics-throughput", Static).update(thr)

    # -- navigation and drill-down ---------------------------------------------------------------

    def action_tab(self, tab: str) -> None:
        self.main.query_one(TabbedContent).active = tab
        if tab in ("queue", "alerts"):
            self.main.query_one(f"#{tab}-table", DataTable).focus()
        elif tab == "floor":
            self.grid.focus()
        if tab == "metrics":
            self._metrics_at = 0.0
            self._draw_metrics()

    @property
    def grid(self) -> CellGrid:
        return self.main.query_one("#grid", CellGrid)

    def on_cell_grid_opened(self, event: CellGrid.Opened) -> None:
        self.push_screen(CellScreen(self.feed, event.cell))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "queue-table" and event.row_key.value:
            self.push_screen(RunScreen(self.feed, event.row_key.value.split(":")[0]))

    def _selected_run(self) -> str:
        table = self.main.query_one("#queue-table", DataTable)
        if not table.row_count:
            return ""
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        return key.split(":")[0]

    def action_run(self) -> None:
        def go(values: dict[str, str] | None) -> None:
            if values and values["run_id"]:
                self.push_screen(RunScreen(self.feed, values["run_id"]))

        self.push_screen(
            FormDialog("Run progress", [("run_id", "Run id")], {"run_id": self._selected_run()}), go
        )

    def action_trace(self) -> None:
        def go(values: dict[str, str] | None) -> None:
            if values and values["serial"]:
                self.push_screen(TraceScreen(self.feed, values["serial"]))

        self.push_screen(FormDialog("Trace a serial", [("serial", "Serial")], {}), go)

    # -- supervisor actions --------------------------------------------------------------------

    def _ask_and_send(
        self, action: str, title: str, fields: list[tuple[str, str]], values: dict
    ) -> None:
        async def go(answer: dict[str, str] | None) -> None:
            if not answer:
                return
            badge = answer.pop("badge", "")
            self.badge = badge or self.badge
            body: dict[str, Any] = dict(answer)
            try:
                if "priority" in body:
                    try:
                        body["priority"] = int(body["priority"])
                    except ValueError:
                        raise CommandRefused("priority must be a whole number") from None
                await self.feed.command(action, badge, **body)
            except CommandRefused as exc:
                self.notify(str(exc), title=f"{action.replace('_', ' ')} refused", severity="error")
                return
            self.notify(f"sent to the scheduler: {said(action, body)}", title="sent")

        fields = [*fields, ("badge", "Your badge (supervisor)")]
        self.push_screen(FormDialog(title, fields, {**values, "badge": self.badge}), go)

    def action_prioritise(self) -> None:
        self._ask_and_send(
            "prioritise", "Re-prioritise a run (higher goes first)",
            [("run_id", "Run id"), ("priority", "Manual priority")],
            {"run_id": self._selected_run(), "priority": "10"},
        )  # fmt: skip

    def action_cancel_run(self) -> None:
        self._ask_and_send(
            "cancel", "Cancel a run", [("run_id", "Run id")], {"run_id": self._selected_run()}
        )

    def action_release_hold(self) -> None:
        held = [a.subject for a in self.feed.alerts.listing() if a.kind == "hold" and a.active]
        self._ask_and_send(
            "release_hold", "Release a batch on hold",
            [("batch", "Batch"), ("reason", "Reason")],
            {"batch": held[0] if held else "", "reason": "released from the board"},
        )  # fmt: skip

    def action_ack(self) -> None:
        table = self.main.query_one("#alerts-table", DataTable)
        if not table.row_count:
            self.notify("no alerts to acknowledge")
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        kind, _, subject = key.partition("|")

        def ack(badge: str) -> None:
            try:
                self.feed.acknowledge((kind, subject), badge)
            except CommandRefused as exc:
                self.notify(str(exc), title="acknowledgement refused", severity="error")
                return
            self.badge = badge
            self.refresh_board()

        if self.badge:
            ack(self.badge)
            return

        # An acknowledgement says who saw the alert: ask for the badge once, then keep it.
        def go(answer: dict[str, str] | None) -> None:
            if answer:
                ack(answer["badge"])

        self.push_screen(
            FormDialog(f"Acknowledge {kind} {subject}", [("badge", "Your badge")], {}), go
        )
