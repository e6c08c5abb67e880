"""The board in a browser: textual-serve starts one `cellctl board` process per viewer,
so each viewer has its own broker connection and nothing is shared by accident."""

from __future__ import annotations

import shlex
import sys


def board_command(site: str | None, broker: str | None, badge: str | None = None) -> str:
    argv = [sys.executable, "-m", "cellctl", "board"]
    if site:
        argv += ["--site", site]
    if broker:
        argv += ["--broker", broker]
    if badge:
        argv += ["--badge", badge]
    return shlex.join(argv)


def serve(command: str, *, host: str, port: int, public_url: str | None = None) -> None:
    from textual_serve.server import Server

    Server(command, host=host, port=port, title="cellctl board", public_url=public_url).serve()
