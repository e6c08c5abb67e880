"""The whole QA flow at the QA kiosk, by scanner and keyboard: a batch sampled by
ISO 2859-1, each sampled unit scanned and judged, the lot verdict from Ac/Re."""

from __future__ import annotations

from pathlib import Path

from cellctl.demo.runner import add_signing_key
from cellctl.domain import codes
from cellctl.domain.codes import BadgeCode
from cellctl.labels import keys
from cellctl.station.batch_cache import BatchCache
from cellctl.station.qa_lot import BatchLot
from cellctl.station.runtime import StationRuntime, open_station
from cellctl.store.station_store import StationStore
from cellctl.tui.kiosk.app import KioskApp
from tests.kiosk.conftest import PacedClock
from tests.kiosk.helpers import type_scan
from tests.kiosk.snapshot import screen_text
from tests.station.conftest import assignment


async def test_qa_flow_on_the_kiosk_rejects_a_bad_lot(
    demo_dir: Path, keys_clock: PacedClock
) -> None:
    add_signing_key(demo_dir)
    key = keys.load_private(demo_dir / "keys" / "site.key")
    cut = StationStore(demo_dir / "var" / "cut-01.db", "cut-01")
    serials = cut.allocate_serials(
        20, scope="R-QA", sku="MUG-ENAMEL", batch="B-QA", run_id="R-QA"
    ).serials
    cut.close()

    controller = open_station(demo_dir / "qa-01.toml")
    # The batch as the site historian gave it to this cell (tests/station/test_batch_cache.py
    # shows the asking): the QA cell reads no other cell's store.
    BatchCache(controller.store.conn).put(BatchLot("B-QA", "MUG-ENAMEL", tuple(serials), "R-QA"))
    runtime = StationRuntime(controller, connect_broker=False, poll_s=0.1)
    qa = runtime.qa
    app = KioskApp(controller, runtime=runtime, clock=keys_clock)
    async with app.run_test(size=(100, 32)) as pilot:
        await type_scan(pilot, codes.encode(BadgeCode("OP-QUINN")))
        controller.offer_assignment(
            assignment(kind="qa", run_id="R-QA", step=3, batch="B-QA", quantity=20)
        )
        await pilot.press("a", "s", "o")
        view = qa.view()
        plan = view.plan
        assert plan is not None and view.batch == "B-QA", controller.message
        assert len(view.sample) == plan.sample_size
        assert set(view.sample) <= set(serials)
        assert f"n={plan.sample_size} Ac={plan.ac} Re={plan.re}" in screen_text(app)
        # The QA cell's key bar shows its own keys, and no machine menu.
        bar = " ".join(screen_text(app).splitlines()[-2:])
        for shown in (" O  Open batch", " Y  Pass", " N  Fail", " K  NCR sign-off", " H  Hold"):
            assert shown in bar, f"{shown.strip()} missing from the key bar: {bar}"
        assert "Machine" not in bar

        # A unit outside the sample is refused, and says why.
        outside = next(s for s in serials if s not in view.sample)
        # Unit codes are long: hand them over as a finished scanner burst (the wedge
        # buffer itself is exercised with the badge above).
        app.handle_scan(codes.encode_unit(outside, key), "wedge")
        await pilot.pause()
        assert outside in controller.message and "sample" in controller.message
        assert qa.view().current is None
        assert qa.view().batch == "B-QA", controller.message

        failed = 0
        while qa.view().batch == "B-QA":  # the lot closes on its verdict
            serial = qa.view().remaining[0]
            app.handle_scan(codes.encode_unit(serial, key), "wedge")
            await pilot.pause()
            assert qa.view().current == serial
            # Fail units until the rejection number is reached.
            await pilot.press("n", "4")  # DIM: dimension out of tolerance
            await pilot.press("enter")
            failed += 1
        assert failed == plan.re
        assert qa.view().last_verdict["accepted"] is False
        assert "B-QA" in controller.held_batches
        text = screen_text(app)
        assert "REJECTED" in text and "open NCR" in text

        # The QA inspector signs the non-conformance off as rework: the hold lifts.
        await pilot.press("k", "1", "1")
        for ch in "reworked":
            await pilot.press(ch)
        await pilot.press("enter")
        assert "B-QA" not in controller.held_batches

    types = [e.type for e in controller.store.events()]
    assert types.count("sample_drawn") == 1
    assert types.count("inspection_recorded") == plan.re
    assert types.count("lot_judged") == 1
    assert "nonconformance_opened" in types and "nonconformance_closed" in types
    assert controller.store.check() == []
