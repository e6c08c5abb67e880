"""The plain text of a Textual screenshot (SVG), line by line: what a person reads.

Our own snapshot comparison (pytest-textual-snapshot pins pytest below 9). The
SVG leaves out runs of plain spaces, so each text run is placed at its column
(x divided by the cell width, 12.2 px in Rich's SVG export).
"""

from __future__ import annotations

import html
import re
from collections import defaultdict

from rich.cells import cell_len

_TEXT = re.compile(
    r'<text[^>]*\bx="([\d.]+)"[^>]*clip-path="url\(#[\w-]+-line-(\d+)\)"[^>]*>(.*?)</text>',
    re.S,
)
CELL_W = 12.2


def svg_text(svg: str) -> str:
    lines: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for x, line, content in _TEXT.findall(svg):
        text = html.unescape(content).replace("\xa0", " ")
        lines[int(line)].append((round(float(x) / CELL_W), text))
    if not lines:
        return ""
    out = []
    for n in range(max(lines) + 1):
        row = ""
        for col, text in sorted(lines.get(n, [])):
            width = cell_len(row)
            row += " " * max(0, col - width) + text
        out.append(row.rstrip())
    return "\n".join(out)
