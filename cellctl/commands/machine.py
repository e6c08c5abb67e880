"""`cellctl machine stream|console`: commission a machine before the kiosk drives it."""

from __future__ import annotations

import argparse

DRIVERS = ("grbl", "marlin", "line")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("machine", help="stream a job to a machine, or talk to it interactively")
    msub = p.add_subparsers(dest="machine_command", metavar="ACTION", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--driver", choices=DRIVERS, required=True)
        q.add_argument(
            "--port",
            required=True,
            metavar="URL",
            help="/dev/ttyUSB0, a pty path, loop://, socket://host:port, rfc2217://host:port, "
            "or sim://grbl|marlin|line",
        )
        q.add_argument("--baud", type=int, default=115_200)
        q.add_argument("--log", metavar="FILE", help="append every line sent and received")

    s = msub.add_parser(
        "stream",
        help="stream a job file with a progress bar and a summary",
        description="Check FILE, stream it, show progress, end with a summary. "
        "Ctrl-C stops the machine (feed hold, then reset) and reports what was acknowledged.",
    )
    common(s)
    s.add_argument("file", metavar="FILE")
    s.add_argument(
        "--mode", choices=("char_counting", "send_response"), default="char_counting",
        help="GRBL streaming mode (default char_counting)",
    )  # fmt: skip
    s.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    s.set_defaults(func=_stream)

    c = msub.add_parser(
        "console",
        help="interactive session with the same parsing and safety rules",
        description="Type lines to send. Nothing is sent on its own, ever: unlock and homing "
        "happen only when you type them. Commands: ? status, ! hold, ~ resume, reset, "
        "unlock, home, zero (GRBL: set work zero here), stop, stream FILE, log, help, quit.",
    )
    common(c)
    c.set_defaults(func=_console)


def _open(args: argparse.Namespace, **options: object):  # noqa: ANN202
    from firmware_bridge import make_machine

    try:
        return make_machine(args.driver, args.port, args.baud, debug_log=args.log, **options)
    except (ValueError, OSError) as exc:
        from cellctl.errors import CliError

        raise CliError(str(exc)) from exc


def _stream(args: argparse.Namespace) -> int:
    import asyncio

    from cellctl.commands.machine_run import stream

    machine = _open(args, **({"mode": args.mode} if args.driver == "grbl" else {}))
    return asyncio.run(stream(machine, args.file, as_json=args.json))


def _console(args: argparse.Namespace) -> int:
    import asyncio

    from cellctl.commands.machine_run import console

    return asyncio.run(console(_open(args)))
