"""The plain text of a Textual screenshot (SVG), line by line: what a person reads.

Our own snapshot comparison (pytest-textual-snapshot pins pytest below 9).
"""

from __future__ import annotations

import html
import re
from collections import defaultdict

_TEXT = re.compile(
    r'<text[^>]*\bx="([\d.]+)"[^>]*clip-path="url\(#[\w-]+-line-(\d+)\)"[^>]*>(.*?)</text>',
    re.S,
)


def svg_text(svg: str) -> str:
    lines: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for x, line, content in _TEXT.findall(svg):
        lines[int(line)].append((float(x), html.unescape(content).replace("\xa0", " ")))
    if not lines:
        return ""
    out = []
    for n in range(max(lines) + 1):
        out.append("".join(text for _, text in sorted(lines.get(n, []))).rstrip())
    return "\n".join(out)
