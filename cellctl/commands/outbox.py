"""`cellctl outbox --station FILE [list|resend]`: what waits to go to the broker, and resend.

Resend queues events that were already sent again (a consumer lost them, or the
scheduler's store was restored from a backup); consumers drop the duplicates by
event id, so resending too much costs only traffic.
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "outbox",
        help="list the events waiting for the broker, or queue sent ones again",
        description="List the events waiting in a station's outbox (default), or queue "
        "already-sent events again with `resend --from SEQ --to SEQ`.",
    )
    p.add_argument("action", nargs="?", choices=("list", "resend"), default="list")
    p.add_argument("--station", required=True, help="the station's TOML file")
    p.add_argument("--db", help="the store file (default: from the station file)")
    p.add_argument("--from", dest="first", type=int, help="resend: first seq (default 1)")
    p.add_argument("--to", dest="last", type=int, help="resend: last seq (default the newest)")
    p.add_argument("--json", action="store_true", help="list: print the summary as JSON")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from cellctl.commands.store import _open
    from cellctl.errors import CliError
    from cellctl.store.db import StoreError

    try:
        store = _open(args)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    try:
        if args.action == "resend":
            return _resend(store, args)
        if args.first is not None or args.last is not None:
            raise CliError("--from and --to go with `resend`")
        return _list(store, as_json=args.json)
    finally:
        store.close()


def _age(queued_at: str | None) -> str:
    from datetime import UTC, datetime

    if not queued_at:
        return "-"
    try:
        then = datetime.fromisoformat(queued_at.replace("Z", "+00:00"))
    except ValueError:
        return queued_at
    seconds = max(0, int((datetime.now(UTC) - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _list(store, *, as_json: bool) -> int:
    summary = store.outbox_summary()
    summary["last_event_seq"] = store.last_seq()
    if as_json:
        print(json.dumps(summary, indent=1))
        return 0
    if not summary["count"]:
        print(f"{store.cell}: the outbox is empty (last event seq {summary['last_event_seq']})")
        return 0
    print(
        f"{store.cell}: {summary['count']} events waiting, seq {summary['first_seq']}.."
        f"{summary['last_seq']}, oldest queued {_age(summary['oldest_queued_at'])} ago "
        f"({summary['oldest_queued_at']})"
    )
    for etype, n in summary["by_type"].items():
        print(f"  {n:6d}  {etype}")
    return 0


def _resend(store, args: argparse.Namespace) -> int:
    from cellctl.errors import CliError

    newest = store.last_seq()
    first = 1 if args.first is None else args.first
    last = newest if args.last is None else args.last
    if newest == 0:
        raise CliError(f"{store.cell} has no events yet: nothing to resend")
    if first > newest:
        raise CliError(f"{store.cell}'s newest event is seq {newest}: nothing from {first} on")
    if first < 1 or last < first:
        raise CliError(f"--from {first} --to {last} is not a range of sequence numbers")
    queued = store.requeue(first, min(last, newest))
    already = min(last, newest) - first + 1 - queued
    print(
        f"{store.cell}: queued {queued} events (seq {first}..{min(last, newest)}) to send again"
        + (f"; {already} were still waiting" if already else "")
        + f"; {store.outbox_count()} now in the outbox. They go out when the station "
        "is connected to the broker."
    )
    return 0
