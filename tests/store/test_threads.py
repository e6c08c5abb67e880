"""One station connection shared by the event loop and a worker thread (labels print
in one while the broker link marks events sent): their transactions take turns."""

from __future__ import annotations

import threading
from pathlib import Path

from cellctl.domain.events import Event
from cellctl.store.station_store import StationStore

COUNT = {"run_id": "R", "step": 0, "good": 1, "scrap": 0}


def test_appends_and_allocations_from_two_threads_never_overlap(tmp_path: Path) -> None:
    store = StationStore(tmp_path / "cut-01.db", "cut-01", synchronous="NORMAL")
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def counting() -> None:
        start.wait()
        try:
            for _ in range(300):
                (e,) = store.append(Event("units_counted", "cut-01", COUNT))
                store.mark_sent([e.id])
        except BaseException as exc:  # noqa: BLE001  (any failure is the finding)
            errors.append(exc)

    def labelling() -> None:
        start.wait()
        try:
            for _ in range(100):
                store.allocate_serials(3, scope="R-B1", sku="MUG", batch="B1", run_id="R")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=counting), threading.Thread(target=labelling)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.event_count() == 400 and store.outbox_count() == 100
    assert store.check() == []
    serials = [
        s for e in store.events() if e.type == "serials_allocated" for s in e.payload["serials"]
    ]
    assert len(serials) == len(set(serials)) == 300
    store.close()
