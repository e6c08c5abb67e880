"""`cellctl board`: the supervisor board, in the terminal or (with --web) in browsers."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "board",
        help="the supervisor board: every cell, the queue, metrics and alerts",
        description="The live board of a site. With --web, serve it to browsers "
        "(one board process, with its own broker connection, per viewer).",
    )
    p.add_argument("--site", help="the site's TOML file (operators, shifts, stations)")
    p.add_argument("--site-id", default="demo", help="the site id when no --site file is given")
    p.add_argument("--broker", help="override the site's MQTT URL (mqtt://host:port)")
    p.add_argument("--badge", default="", help="preset the supervisor badge for actions")
    p.add_argument("--stale", type=float, default=6.0, help="seconds of silence before stale")
    p.add_argument("--web", action="store_true", help="serve the board to browsers")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (with --web)")
    p.add_argument("--port", type=int, default=8000, help="port to serve on (with --web)")
    p.add_argument("--public-url", help="the URL browsers reach the server at (with --web)")
    p.set_defaults(func=_run)


def _feed(args: argparse.Namespace):
    from pathlib import Path

    from pydantic import ValidationError

    from cellctl.board.feed import BoardFeed, feed_for_site
    from cellctl.config.load import load_site
    from cellctl.config.models import MqttConfig
    from cellctl.errors import CliError, ConfigError

    try:
        if args.broker:
            MqttConfig(url=args.broker)  # say what is wrong with it before anything starts
        if args.site:
            site = load_site(args.site)
            return feed_for_site(site, Path(args.site), args.broker, stale_after_s=args.stale)
        mqtt = MqttConfig(url=args.broker) if args.broker else MqttConfig()
        return BoardFeed(args.site_id, mqtt, stale_after_s=args.stale)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    except ValidationError as exc:
        raise CliError(f"--broker {args.broker}: {exc.errors()[0]['msg']}") from None


def _find_demo(args: argparse.Namespace) -> None:
    """With no site, broker or site id named: the demo running from here, if any (its
    broker's port changes at every start, so nobody has to look it up)."""
    if args.site or args.broker or args.site_id != "demo":
        return
    import sys

    from cellctl.demo.locate import find_running_demo

    demo = find_running_demo()
    if demo is not None:
        args.site, args.broker = str(demo.site), demo.broker
        print(f"cellctl board: the running demo ({demo.site}, broker {demo.broker})",
              file=sys.stderr)  # fmt: skip


def _run(args: argparse.Namespace) -> int:
    _find_demo(args)
    feed = _feed(args)  # fail here, before serving, on a bad site file or URL
    if args.web:
        from cellctl.tui.board.web import board_command, serve

        site_args = ["--site-id", args.site_id] if not args.site else []
        command = board_command(args.site, args.broker, args.badge or None)
        if site_args:
            command += f" --site-id {args.site_id}"
        command += f" --stale {args.stale}"
        serve(command, host=args.host, port=args.port, public_url=args.public_url)
        return 0
    from cellctl.tui.board.app import BoardApp

    BoardApp(feed, badge=args.badge).run()
    return 0
