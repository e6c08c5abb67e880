"""`cellctl demo`: a whole microfactory on this machine, in one command."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run a whole demo microfactory (broker, scheduler, cells, board)",
        description=(
            "Start a broker, the scheduler with sample runs, five simulated cells with "
            "simulated operators and machines, and open the supervisor board. Ctrl-C stops "
            "everything."
        ),
    )
    p.add_argument("--headless", action="store_true", help="no screen: log progress, then check")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--kiosk", metavar="CELL", help="open this cell's kiosk for a person")
    p.add_argument("--dir", help="working folder (default ./demo-run; recreated each time)")
    p.add_argument("--seed", type=int, default=7, help="seed of the simulated operators")
    p.set_defaults(func=_run)


class _ErrorCounter:
    def __init__(self) -> None:
        import logging

        self.count = 0
        self.messages: list[str] = []
        outer = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                outer.count += 1
                outer.messages.append(f"{record.name}: {record.getMessage()}")

        self.handler = Handler(level=logging.ERROR)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    from pathlib import Path

    from cellctl.demo.runner import Demo, DemoOptions, default_workdir
    from cellctl.errors import CliError

    workdir = Path(args.dir) if args.dir else default_workdir()
    workdir.mkdir(parents=True, exist_ok=True)
    errors = _ErrorCounter()
    logging.getLogger().addHandler(errors.handler)
    log_file = workdir / "demo.log"
    file_handler = logging.FileHandler(log_file, mode="w")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(file_handler)
    logging.getLogger().setLevel(logging.INFO)

    if args.kiosk or not args.headless:
        lines: list[str] = []
        options = DemoOptions(workdir=workdir, seed=args.seed, kiosk=args.kiosk, log=lines.append)
    else:
        options = DemoOptions(workdir=workdir, seed=args.seed, kiosk=None)
    demo = Demo(options)
    if args.kiosk and args.kiosk not in [p.stem for p in demo.station_files()]:
        raise CliError(
            f"no cell {args.kiosk!r} in the demo: choose one of "
            + ", ".join(p.stem for p in demo.station_files())
        )
    if args.headless:
        return asyncio.run(_headless(demo, args.duration, errors))
    if args.kiosk:
        return _kiosk(demo, args.kiosk, args.duration)
    return _board(demo, args.duration)


async def _headless(demo, duration: float | None, errors: _ErrorCounter) -> int:  # noqa: ANN001
    import asyncio
    import signal
    import time

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    start = time.monotonic()
    await demo.start()
    try:
        while not stop.is_set():
            with __import__("contextlib").suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 5.0)
            elapsed = time.monotonic() - start
            states = " ".join(f"{c}={ctl.state.value}" for c, ctl in demo.controllers.items())
            print(
                f"[{elapsed:5.0f}s] runs done: {len(demo.runs_done())} · {states} · "
                f"outbox {demo.backlog()}",
                flush=True,
            )
            if duration is not None and elapsed >= duration:
                break
        for op in demo.operators.values():
            op.stop()
        settled = await demo.settle()
        behind = demo.historian_behind()
    finally:
        await demo.stop()
    # What a cell recorded after the check stays in its outbox (it drains on the next
    # start); the demo promised it all reached the scheduler, so it says NO then.
    left = demo.left_in_outboxes()
    settled = settled and not left
    done = demo.runs_done()
    cells = demo.cell_totals()
    print(f"runs completed through every step: {len(done)} ({', '.join(done) or 'none'})")
    good = sum(g for t in cells.values() for g, _ in t.values())
    scrap = sum(s for t in cells.values() for _, s in t.values())
    print(f"cells counted {good} good and {scrap} scrap; labels in {demo.labels_dir}")
    print(f"totals at the scheduler equal the cells' totals: {'yes' if settled else 'NO'}")
    for cell, types in left.items():
        what = ", ".join(f"{n} {t}" for t, n in types.items())
        print(f"  {cell}: left in its outbox after the check: {what}")
    print(f"the site historian holds every event of every cell once: {'NO' if behind else 'yes'}")
    for cell, (hwm, last) in behind.items():
        print(f"  {cell}: the historian holds up to seq {hwm} of {last}")
    problems = demo.conservation_problems()
    print(f"units conserved from step to step: {'yes' if not problems else 'NO'}")
    for problem in problems[:20]:
        print(f"  {problem}")
    print(f"errors logged: {errors.count}")
    for message in errors.messages[:10]:
        print(f"  {message}")
    return 0 if settled and not behind and not problems and errors.count == 0 else 1


def _with_demo(demo, app_class, make_args, duration: float | None) -> int:  # noqa: ANN001
    from cellctl.tui.demo_shell import run_over_demo

    return run_over_demo(demo, app_class, make_args, duration)


def _kiosk(demo, cell: str, duration: float | None) -> int:  # noqa: ANN001
    from cellctl.tui.kiosk.app import KioskApp

    def make_args():  # noqa: ANN202
        return (demo.controllers[cell],), {"runtime": demo.runtimes[cell]}

    return _with_demo(demo, KioskApp, make_args, duration)


def _board(demo, duration: float | None) -> int:  # noqa: ANN001
    from cellctl.board.feed import feed_for_site
    from cellctl.config.load import load_site
    from cellctl.tui.board.app import BoardApp

    def make_args():  # noqa: ANN202
        site_path = demo.site_dir / "site.toml"
        return (feed_for_site(load_site(site_path), site_path, demo.broker.url),), {
            "badge": "OP-SAM"
        }

    return _with_demo(demo, BoardApp, make_args, duration)
