"""The board's widgets: a cell tile in andon colours, and text charts for the metrics."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from cellctl.services.board_feed import CellTile

# Andon colour name -> (border colour, background tint) readable at arm's length.
ANDON_STYLE = {
    "green": ("#2ecc40", "#0b3d17"),
    "blue": ("#3a7bd5", "#0d2244"),
    "yellow": ("#ffdc00", "#4a4000"),
    "orange": ("#ff851b", "#4d2600"),
    "red": ("#ff4136", "#5c0d0a"),
    "grey": ("#888888", "#222222"),
}


def span(seconds: float) -> str:
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def tile_text(tile: CellTile, now: float) -> Text:
    """Four lines: id and state, run and operator, counts and yield, health."""
    good, scrap = tile.counts
    state = "STALE" if tile.stale else tile.state.upper()
    quiet = f" ({span(now - tile.received)} silent)" if tile.stale else ""
    run = f"{tile.run_id} #{tile.step}" if tile.run_id else "no run"
    health = []
    for label, value in (("link", tile.link), ("prn", tile.printer), ("mach", tile.machine)):
        if value:
            health.append(f"{label} {value}")
    health.append(f"out {tile.outbox}")
    if tile.gaps:
        health.append(f"gaps {tile.gaps}")
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{tile.cell} ", style="bold")
    text.append(f"{state} {span(now - tile.state_since)}{quiet}\n", style="bold")
    text.append(f"{run}  {tile.operator or '-'}\n")
    text.append(f"good {good} scrap {scrap} yield {pct(tile.yield_)}\n")
    text.append("  ".join(health), style="dim" if not tile.stale else "")
    return text


class CellTileView(Static, can_focus=True):
    """One cell; Enter opens its drill-down."""

    def __init__(self, cell: str) -> None:
        super().__init__("", id=f"tile-{cell}", classes="tile")
        self.cell = cell
        self._andon = ""

    def show(self, tile: CellTile, now: float) -> None:
        if tile.andon != self._andon:
            self._andon = tile.andon
            border, bg = ANDON_STYLE.get(tile.andon, ANDON_STYLE["grey"])
            self.styles.border = ("heavy", border)
            self.styles.background = bg
        self.update(tile_text(tile, now))


def bars(rows: Sequence[tuple[str, float]], width: int = 30, unit: str = "") -> Text:
    """A horizontal bar chart in text (labels left, value right)."""
    text = Text(no_wrap=True)
    if not rows:
        text.append("nothing yet", style="dim")
        return text
    top = max((v for _, v in rows), default=0) or 1
    label_w = max(len(k) for k, _ in rows)
    for key, value in rows:
        n = round(width * value / top) if value > 0 else 0
        text.append(f"{key:<{label_w}} ")
        text.append("█" * n, style="cyan")
        text.append(f" {value:g}{unit}\n")
    return text
