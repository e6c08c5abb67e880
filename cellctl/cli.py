"""The `cellctl` command: a thin dispatcher over `cellctl.commands.*`.

Each command module exposes `register(subparsers)`; heavy imports stay inside the
handlers so `cellctl --help` answers instantly on a small kiosk.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cellctl import __version__
from cellctl.errors import CliError, ConfigError, error_text

COMMAND_MODULES = (
    "config",
    "store",
    "machine",
    "sim",
    "scan",
    "label",
    "verify",
    "runs",
    "scheduler",
    "historian",
    "station",
    "kiosk",
    "qa",
    "trace",
    "board",
    "report",
    "demo",
    "operators",
    "outbox",
    "api",
    "provenance",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cellctl",
        description="Shop-floor kiosk and production-cell controller.",
    )
    parser.add_argument("--version", action="version", version=f"cellctl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"cellctl.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"cellctl.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        result = func(args)
    except CliError as exc:
        print(error_text(args.command, str(exc)), file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(error_text(args.command, exc.describe()), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(result or 0)
