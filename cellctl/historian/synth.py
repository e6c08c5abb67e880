"""A synthetic site history for the historian's tests and bench: runs of batches through
cut, print, finish and QA cells, with counts (and undone miscounts), state changes,
labels, machine jobs, defects, samples, verdicts, holds, NCRs and downtime, each cell
with its own contiguous seq.

Deterministic for a seed. `SiteHistory.events()` yields in time order; the batches and
serials it made are kept (a sample of them) for the questions a bench asks.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cellctl.domain.events import Event

CELLS = {
    "cut": ["cut-01", "cut-02", "cut-03"],
    "print": ["print-01", "print-02", "print-03"],
    "finish": ["finish-01", "finish-02"],
    "qa": ["qa-01", "qa-02"],
}
SKUS = ["MUG-ENAMEL", "TOTE-CANVAS", "PIN-BRASS", "FOX-PRINT"]
UNITS = 24


@dataclass
class SiteHistory:
    seed: int = 7
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    # Site-wide: one run's four steps every `run_every_s` seconds.
    run_every_s: float = 480.0
    units: int = UNITS
    batches: list[str] = field(default_factory=list)
    serials: list[str] = field(default_factory=list)

    def events(self, limit: int) -> Iterator[Event]:
        """About `limit` events (whole runs), in time order."""
        rng = random.Random(self.seed)
        seqs: dict[str, int] = {}
        made = 0
        n = 0
        while made < limit:
            run_events = self._run(rng, n)
            n += 1
            for e in run_events:
                seq = seqs.get(e.cell, 0) + 1
                seqs[e.cell] = seq
                made += 1
                yield e.with_seq(seq)

    def _run(self, rng: random.Random, n: int) -> list[Event]:
        t0 = self.start + timedelta(seconds=n * self.run_every_s)
        run, batch, sku = f"R{n:07}", f"B{n:07}", SKUS[n % len(SKUS)]
        serials = [f"{sku[:3]}{n:07}{u:03}" for u in range(self.units)]
        if n % 97 == 0 or len(self.batches) < 50:
            self.batches.append(batch)
            self.serials.append(serials[rng.randrange(len(serials))])
        out: list[tuple[datetime, Event]] = []
        clock = [t0]

        def ev(
            cell: str,
            etype: str,
            payload: dict[str, Any],
            op: str | None = "OP-ADA",
            dt: float = 2.0,
        ) -> None:
            clock[0] += timedelta(seconds=dt * rng.uniform(0.5, 1.5))
            stamp = clock[0].isoformat(timespec="milliseconds").replace("+00:00", "Z")
            # UUIDv7 as cells make them: time-ordered, so the id index grows at its end.
            ms = int(clock[0].timestamp() * 1000)
            value = (ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62)
            eid = str(uuid.UUID(int=value | rng.getrandbits(62)))
            out.append((clock[0], Event(etype, cell, payload, op, id=eid, time=stamp)))

        for step, kind in enumerate(("cut", "print", "finish")):
            cell = CELLS[kind][n % len(CELLS[kind])]
            key = {"run_id": run, "step": step}
            ev(cell, "assignment_received", {**key, "assignment": {**key, "batch": batch,
                                                                    "sku": sku}}, None)  # fmt: skip
            ev(cell, "run_step_started", key)
            ev(cell, "state_changed", {"from": "idle", "to": "running"}, dt=1)
            if step == 0:
                ev(cell, "material_scanned", {"lot": f"LOT-{n // 10}", **key})
                ev(cell, "serials_allocated", {"scope": run, "first": 1,
                   "count": len(serials), "serials": serials, "batch": batch, "sku": sku,
                   "run_id": run})  # fmt: skip
                ev(cell, "label_printed", {"template": "unit", "job_id": f"J{n}", "copies": 1,
                                           "serials": serials, "batch": batch})  # fmt: skip
            ev(cell, "machine_job_started", {"job": f"{kind}-{n}"}, None)
            for _ in range(3):
                good = rng.randint(6, 8)
                ev(cell, "units_counted", {**key, "good": good, "scrap": rng.randint(0, 1)}, dt=30)
            if rng.random() < 0.1:  # a miscount taken back
                last = out[-1][1]
                ev(cell, "count_undone", {**key, "undoes": last.id, "good": 1, "scrap": 0}, dt=5)
            if rng.random() < 0.2:
                ev(cell, "defect_recorded", {"run_id": run, "step": step, "code": "SCRATCH",
                   "severity": "minor", "serial": rng.choice(serials)})  # fmt: skip
            ev(cell, "machine_job_finished", {"job": f"{kind}-{n}", "outcome": "ok"}, None)
            ev(cell, "state_changed", {"from": "running", "to": "idle"}, dt=1)
            ev(cell, "run_step_completed", key)
            if rng.random() < 0.05:
                ev(cell, "state_changed", {"from": "idle", "to": "down"}, dt=5)
                ev(cell, "downtime_started", {"reason": "JAM"}, dt=0)
                ev(cell, "downtime_ended", {}, dt=120)
                ev(cell, "state_changed", {"from": "down", "to": "idle"}, dt=0)
        qa = CELLS["qa"][n % len(CELLS["qa"])]
        sample = rng.sample(serials, 5)
        ev(qa, "sample_drawn", {"batch": batch, "seed": n, "n": 5, "serials": sample,
                                "lot_size": len(serials), "run_id": run}, "OP-QUINN")  # fmt: skip
        for s in sample:
            ev(qa, "inspection_recorded", {"batch": batch, "serial": s, "passed": True},
               "OP-QUINN")  # fmt: skip
        ev(qa, "lot_judged", {"batch": batch, "accepted": True, "run_id": run}, "OP-QUINN")
        return [e for _, e in sorted(out, key=lambda pair: pair[0])]
