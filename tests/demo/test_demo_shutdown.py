"""The demo's end-of-run check is honest: once it has said the totals agree, the cells
record nothing more that could stay in an outbox when their links close."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiomqtt

from cellctl.bus.codec import PAYLOAD_VERSION, encode
from cellctl.bus.topics import Topics
from cellctl.demo.runner import Demo, DemoOptions

MARKER = "B-AFTER-SETTLE"


async def test_an_assignment_arriving_after_the_check_is_not_recorded(tmp_path: Path) -> None:
    demo = Demo(DemoOptions(workdir=tmp_path / "demo", down_cell=None, log=lambda _: None))
    await demo.start()
    try:
        for op in demo.operators.values():
            op.stop()
        assert await demo.settle()
        # The scheduler dispatches a step to cut-01 after the check (as it does when a
        # cell goes offline and its step is re-queued), then a hold comes on the same
        # connection: once the cell has noted the hold, it has had the assignment too.
        cut = demo.controllers["cut-01"]
        topics = Topics(cut.site.site.id)
        assignment = {"v": PAYLOAD_VERSION, "assign_id": "A-LATE", "run_id": "R-LATE",
                      "step": 0, "kind": "cut", "sku": "MUG-ENAMEL", "quantity": 3}  # fmt: skip
        holds = {"v": PAYLOAD_VERSION, "holds": {MARKER: {"held": True, "reason": "marker"}}}
        host, port = demo.broker.url.removeprefix("mqtt://").split(":")
        async with aiomqtt.Client(host, int(port), identifier="test-late") as client:
            await client.publish(topics.cell_assign("cut-01"), encode(assignment), qos=1)
            await client.publish(topics.holds, encode(holds), qos=1)
        async with asyncio.timeout(10):
            while MARKER not in cut.held_batches:
                await asyncio.sleep(0.05)
        received = [
            json.loads(p)
            for (p,) in cut.store.conn.execute(
                "SELECT payload FROM events WHERE type = 'assignment_received'"
            )
        ]
        assert "R-LATE" not in [r["run_id"] for r in received]
        assert cut.assignment is None or cut.assignment.run_id != "R-LATE"
    finally:
        await demo.stop()
    assert demo.left_in_outboxes() == {}
    assert demo.backlog() == 0


async def test_what_is_left_in_an_outbox_after_stop_is_reported(tmp_path: Path) -> None:
    from cellctl.domain.events import Event

    demo = Demo(DemoOptions(workdir=tmp_path / "demo", down_cell=None, log=lambda _: None))
    await demo.start()
    try:
        for op in demo.operators.values():
            op.stop()
        assert await demo.settle()
    finally:
        await demo.stop()
    assert demo.left_in_outboxes() == {}
    # Recorded once the link is closed: it waits for the next start, and the demo says so.
    demo.controllers["qa-01"].store.append(Event("note", "qa-01", {"text": "late"}))
    assert demo.left_in_outboxes() == {"qa-01": {"note": 1}}
