"""The output form every benchmark shares: `name: value unit` lines, headline last,
and the same figures as JSON with `--json PATH`."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    return p


@dataclass
class Report:
    figures: list[tuple[str, float, str]] = field(default_factory=list)

    def add(self, name: str, value: float, unit: str = "") -> None:
        self.figures.append((name, value, unit))

    def emit(self, headline: tuple[str, float, str], json_path: str | None = None) -> None:
        """Print every figure, the headline last; write JSON when asked."""
        for name, value, unit in [*self.figures, headline]:
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            print(f"{name}: {shown} {unit}".rstrip())
        if json_path:
            data = {name: value for name, value, _ in self.figures}
            data[headline[0]] = headline[1]
            data["headline"] = headline[0]
            data["units"] = {name: unit for name, _, unit in [*self.figures, headline]}
            Path(json_path).write_text(json.dumps(data, indent=2) + "\n")
