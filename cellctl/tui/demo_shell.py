"""Running a Textual app (the board or a kiosk) over a running demo factory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.binding import Binding


def run_over_demo(
    demo: Any,
    app_class: type[App],
    make_args: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]],
    duration: float | None,
) -> int:
    """Start the factory, run the app over it, stop everything when the app exits.

    In the demo Ctrl-C stops everything, as a person at a terminal expects."""
    stop_key = Binding("ctrl+c", "quit", "Stop the demo", priority=True)
    demo_class = type(
        f"Demo{app_class.__name__}", (app_class,), {"BINDINGS": [*app_class.BINDINGS, stop_key]}
    )

    async def main() -> None:
        await demo.start()
        try:
            args, kwargs = make_args()
            app = demo_class(*args, **kwargs)
            app.sub_title = f"demo · labels in {demo.labels_dir}"
            if duration:
                app.call_later(lambda: app.set_timer(duration, app.exit))
            await app.run_async()
        finally:
            await demo.stop()

    asyncio.run(main())
    print(f"demo stopped; its files (stores, labels, log) are in {demo.workdir}")
    return 0
