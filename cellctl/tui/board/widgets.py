"""The board's widgets: the grid of cells in andon colours, and text charts for the metrics."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from cellctl.board.model import CellTile

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


def fit(parts: list[str], width: int) -> str:
    """Health words on one line of `width`: two spaces apart when there is room, one when
    not, then without an empty outbox; an ellipsis only as the last resort (never a word
    cut silently, as "link u" for "link up" was)."""
    for sep, keep in (("  ", parts), (" ", parts), (" ", [p for p in parts if p != "out 0"])):
        text = sep.join(keep)
        if cell_len(text) <= width:
            return text
    return set_cell_size(text, width - 1) + "…"


def grid_geometry(width: int) -> tuple[int, int]:
    """(columns, tile width) of the floor grid on a screen `width` cells wide."""
    cols = max(1, (width + 1) // (CellGrid.TILE_W + 1))
    return cols, max(20, (width + 1) // cols - 1)


def tile_lines(tile: CellTile, now: float, width: int = 0) -> list[tuple[str, str]]:
    """Four (text, style) lines: id and state, run and operator, counts and yield, health.
    With `width`, the health line is fitted to it."""
    good, scrap = tile.counts
    state = "STALE" if tile.stale else tile.state.upper()
    quiet = f" ({span(now - tile.received)} silent)" if tile.stale else ""
    run = f"{tile.run_id} #{tile.step}" if tile.run_id else "no run"
    health = [f"out {tile.outbox}"]
    for label, value in (("prn", tile.printer), ("mach", tile.machine), ("link", tile.link)):
        if value:
            health.append(f"{label} {value}")
    if tile.gaps:
        health.append(f"gaps {tile.gaps}")
    return [
        (f"{tile.cell} {state} {span(now - tile.state_since)}{quiet}", "bold"),
        (f"{run}  {tile.operator or '-'}", ""),
        (f"good {good} scrap {scrap} yield {pct(tile.yield_)}", ""),
        (fit(health, width) if width else "  ".join(health), "" if tile.stale else "dim"),
    ]


class CellGrid(Widget, can_focus=True):
    """Every cell as a tile in its andon colour, drawn line by line.

    One widget for the whole floor, and only the tiles that changed are re-drawn:
    at 50 cells × 10 events/s a widget per tile spent most of the board's time in
    Textual's per-widget rendering.
    """

    TILE_W = 34
    TILE_H = 6

    BINDINGS = [
        Binding("left", "move(-1, 0)", "Left", show=False),
        Binding("right", "move(1, 0)", "Right", show=False),
        Binding("up", "move(0, -1)", "Up", show=False),
        Binding("down", "move(0, 1)", "Down", show=False),
        Binding("enter", "open", "Open cell"),
    ]

    class Opened(Message):
        def __init__(self, cell: str) -> None:
            super().__init__()
            self.cell = cell

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.order: list[str] = []
        self.selected: str | None = None
        self.cols = 1
        self.tile_w = self.TILE_W
        self._tiles: dict[str, CellTile] = {}
        self._strips: dict[str, list[Strip]] = {}
        self._now = 0.0

    # -- what the app calls -----------------------------------------------------------

    def show(self, tiles: dict[str, CellTile], cells: set[str] | list[str], now: float) -> None:
        """Re-draw these cells' tiles (adding new cells in id order)."""
        self._now = now
        added = [c for c in cells if c not in self._strips]
        if added:
            self.order = sorted({*self.order, *added})
            if self.selected is None:
                self.selected = self.order[0]
            self._tiles = tiles
            self._resize_rows()
        self._tiles = tiles
        for cell in cells:
            self._strips[cell] = self._draw(cell)
            if not added:
                self.refresh(self._region(cell))
        if added:
            self.refresh()

    def select(self, cell: str) -> None:
        old, self.selected = self.selected, cell
        for c in (old, cell):
            if c in self._strips:
                self._strips[c] = self._draw(c)
                self.refresh(self._region(c))

    # -- layout and drawing -------------------------------------------------------------------

    def _resize_rows(self) -> None:
        rows = max(1, -(-len(self.order) // self.cols))
        self.styles.height = rows * self.TILE_H

    def on_resize(self, event: events.Resize) -> None:
        self.cols, self.tile_w = grid_geometry(event.size.width)
        self._resize_rows()
        self._strips = {c: self._draw(c) for c in self.order}
        self.refresh()

    def _region(self, cell: str) -> Region:
        i = self.order.index(cell)
        row, col = divmod(i, self.cols)
        return Region(col * (self.tile_w + 1), row * self.TILE_H, self.tile_w, self.TILE_H)

    def _draw(self, cell: str) -> list[Strip]:
        tile = self._tiles[cell]
        border, bg = ANDON_STYLE.get(tile.andon, ANDON_STYLE["grey"])
        chosen = cell == self.selected and self.has_focus
        if cell == self.selected:
            tl, tr, bl, br, h, v = "╔", "╗", "╚", "╝", "═", "║"
        else:
            tl, tr, bl, br, h, v = "┏", "┓", "┗", "┛", "━", "┃"
        edge = Style(color="white" if chosen else border, bgcolor=bg, bold=chosen)
        w = self.tile_w
        inner = w - 4
        strips = [Strip([Segment(tl + h * (w - 2) + tr, edge)], w)]
        for text, extra in tile_lines(tile, self._now, inner):
            body = (
                Style.parse(f"{extra} #eeeeee on {bg}")
                if extra
                else Style(color="#eeeeee", bgcolor=bg)
            )
            strips.append(
                Strip(
                    [
                        Segment(v, edge),
                        Segment(" " + set_cell_size(text, inner) + " ", body),
                        Segment(v, edge),
                    ],
                    w,
                )
            )
        strips.append(Strip([Segment(bl + h * (w - 2) + br, edge)], w))
        return strips

    def render_line(self, y: int) -> Strip:
        row, line = divmod(y, self.TILE_H)
        cells = self.order[row * self.cols : (row + 1) * self.cols]
        parts: list[Strip] = []
        gap = Strip.blank(1)
        for i, cell in enumerate(cells):
            strips = self._strips.get(cell)
            if strips is None:
                continue
            if i:
                parts.append(gap)
            parts.append(strips[line])
        if not parts:
            return Strip.blank(self.size.width)
        return Strip.join(parts).adjust_cell_length(self.size.width)

    # -- keys ------------------------------------------------------------------------------------

    def on_focus(self) -> None:
        if self.selected:
            self.select(self.selected)

    def on_blur(self) -> None:
        if self.selected:
            self.select(self.selected)

    def action_move(self, dx: int, dy: int) -> None:
        if not self.order or self.selected is None:
            return
        i = self.order.index(self.selected) + dx + dy * self.cols
        if 0 <= i < len(self.order):
            self.select(self.order[i])
            self.scroll_to_region(self._region(self.order[i]))

    def action_open(self) -> None:
        if self.selected:
            self.post_message(self.Opened(self.selected))


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
