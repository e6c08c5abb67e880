"""Traceability and QA-flow latency on a site with a realistic history.

A copy of the demo site gets ~100k events over its four station stores (cut, finish and
QA history of 800 batches of 50 units). Then, on that site:
- read_all_ms: reading every store's events (the baseline, measured in the same run:
  the floor any trace over the event logs pays);
- trace_unit_ms / trace_batch_ms: `trace_site` for one serial and one batch (median of 5);
- batch_lookup_ms: the QA flow's site batch provider finding a batch's serials;
- inspect_ms_p50 / _p95: one unit through the QA flow (scan with signature check, checklist,
  record in the store at synchronous=FULL), over a sample of 50;
- trace_over_read: trace_unit_ms / read_all_ms.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.report import Report, parser
from cellctl.config.inspection import TemplateBook, inspection_dir
from cellctl.config.load import load_station
from cellctl.domain import codes
from cellctl.domain.events import Event
from cellctl.site.trace import load_site_events, trace_site
from cellctl.station.controller import StationController
from cellctl.station.qa_flow import QAFlow
from cellctl.station.site_batches import site_batch_provider
from cellctl.store.station_store import StationStore

DEMO = Path(__file__).resolve().parent.parent / "stations" / "demo"
BATCHES = 800
UNITS = 50


def _store(root: Path, cell: str, synchronous: str = "OFF") -> StationStore:
    loaded = load_station(root / f"{cell}.toml")
    return StationStore(loaded.store_path(), loaded.id, synchronous=synchronous)


def _history(root: Path) -> int:
    cut, finish, qa = (_store(root, c) for c in ("cut-01", "finish-01", "qa-01"))
    total = 0
    for b in range(BATCHES):
        batch, run = f"B{b:04}", f"R{b:04}"
        ev: list[Event] = [
            Event("assignment_accepted", "cut-01", {"run_id": run, "step": 0}, "OP-ADA"),
            Event("material_scanned", "cut-01", {"lot": f"LOT-{b}", "run_id": run, "step": 0}),
            Event("run_step_started", "cut-01", {"run_id": run, "step": 0}, "OP-ADA"),
        ]
        ev += [
            Event("units_counted", "cut-01", {"run_id": run, "step": 0, "good": 1, "scrap": 0})
            for _ in range(UNITS)
        ]
        cut.append_many(ev)
        serials = cut.allocate_serials(
            UNITS, scope=run, sku="MUG-ENAMEL", batch=batch, run_id=run
        ).serials
        cut.append(
            Event(
                "label_printed",
                "cut-01",
                {"template": "unit", "job_id": f"J{b}", "copies": UNITS, "serials": serials},
            ),
            Event("run_step_completed", "cut-01", {"run_id": run, "step": 0}),
        )
        fin = [Event("run_step_started", "finish-01", {"run_id": run, "step": 1})]
        fin += [
            Event("units_counted", "finish-01", {"run_id": run, "step": 1, "good": 1, "scrap": 0})
            for _ in range(UNITS)
        ]
        fin += [
            Event(
                "label_reprinted",
                "finish-01",
                {"template": "unit", "job_id": f"K{b}", "serial": serials[7]},
            ),
            Event("run_step_completed", "finish-01", {"run_id": run, "step": 1}),
        ]
        finish.append_many(fin)
        sample = serials[:8]
        q = [
            Event(
                "sample_drawn",
                "qa-01",
                {"batch": batch, "seed": "x", "n": 8, "serials": sample, "run_id": run},
            )
        ]
        q += [
            Event(
                "inspection_recorded",
                "qa-01",
                {"batch": batch, "serial": s, "passed": True, "run_id": run},
            )
            for s in sample
        ]
        q += [
            Event(
                "lot_judged",
                "qa-01",
                {
                    "batch": batch,
                    "accepted": True,
                    "run_id": run,
                    "sku": "MUG-ENAMEL",
                    "ac": 0,
                    "re": 1,
                    "nonconforming": 0,
                },
            ),
            Event("batch_released", "qa-01", {"batch": batch, "reason": "lot accepted"}),
        ]
        qa.append_many(q)
        total += len(ev) + 3 + len(fin) + len(q)
    for s in (cut, finish, qa):
        s.close()
    return total


def _median_ms(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    report = Report()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo"
        shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("var"))
        site = root / "site.toml"
        events = _history(root)
        report.add("events", events, "events")
        report.add("stores", 3, "stores")
        read_ms = _median_ms(lambda: load_site_events(site))
        report.add("read_all_ms", read_ms, "ms")
        unit = f"MUG-ENAMEL-B{BATCHES // 2:04}-0008"
        r = trace_site(site, unit)
        assert r["labels"] and r["inspections"], "the bench unit must have a history"
        unit_ms = _median_ms(lambda: trace_site(site, unit))
        report.add(
            "trace_batch_ms", _median_ms(lambda: trace_site(site, f"B{BATCHES // 3:04}")), "ms"
        )
        provider = site_batch_provider(site)
        report.add("batch_lookup_ms", _median_ms(lambda: provider("B0001")), "ms")

        key = Ed25519PrivateKey.generate()
        cut = _store(root, "cut-01")
        cut.allocate_serials(500, scope="BIG", sku="MUG-ENAMEL", batch="BIG", run_id="RBIG")
        cut.close()
        loaded = load_station(root / "qa-01.toml")
        qa = StationController(loaded, StationStore(loaded.store_path(), loaded.id))
        qa.sign_in_badge("OP-QUINN")
        flow = QAFlow(
            qa,
            TemplateBook(inspection_dir(site), loaded.site),
            provider,
            public_key=key.public_key(),
        )
        flow.scan("CB:BIG")
        assert flow.lot is not None
        answers = {
            i.id: (True if i.kind == "pass_fail" else float(i.nominal or 0))
            for i in flow.lot.template.checklist
        }
        per_unit = []
        for serial in list(flow.lot.sample):
            code = codes.encode_unit(serial, key)
            start = time.perf_counter()
            flow.scan(code)
            flow.record_pass(answers)
            per_unit.append((time.perf_counter() - start) * 1000)
        qa.store.close()
        per_unit.sort()
        report.add("inspected_units", len(per_unit), "units")
        report.add("inspect_ms_p50", statistics.median(per_unit), "ms")
        report.add("inspect_ms_p95", per_unit[int(0.95 * (len(per_unit) - 1))], "ms")
        report.add("trace_over_read", unit_ms / read_ms, "x")
    report.emit(("trace_unit_ms", unit_ms, "ms"), args.json)


if __name__ == "__main__":
    main()
