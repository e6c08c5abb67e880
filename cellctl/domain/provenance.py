"""A batch's public story: what a collector may read about how their unit was made.

Two steps, both pure. `batch_record` condenses a batch's genealogy (the domain trace)
and its serial allocations into the facts the provenance page could show: the steps
with their kind of cell and day, the QA verdict, each unit's edition number and its own
inspection. `public_batch` and `public_unit` then keep only what the site file's
`[provenance] public` list names. Operator names, cell ids, machines, counts, defects
and holds never enter a record, so no setting can publish them.

The page finds a unit's record without a server: `unit_slot` hashes the serial to a
shard file and a key inside it (so the published files do not list the serials), and
`batch_file` names a batch's file by a hash (no batch name reaches a path).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from cellctl.domain.events import Event

SLOT_SALT = "cellctl-provenance:"
STEP_ORDER = ("cut", "print", "finish", "qa")


def unit_slot(serial: str) -> tuple[str, str]:
    """(shard, key) of a serial in the published unit index; the page computes the same
    with WebCrypto's SHA-256."""
    digest = hashlib.sha256((SLOT_SALT + serial).encode()).hexdigest()
    return digest[:2], digest[2:18]


def batch_file(batch: str) -> str:
    return hashlib.sha256(("batch:" + batch).encode()).hexdigest()[:20]


def _day(time: str | None, tz: tzinfo) -> str | None:
    if not time:
        return None
    return datetime.fromisoformat(time.replace("Z", "+00:00")).astimezone(tz).date().isoformat()


def batch_record(
    allocations: Iterable[Event], genealogy: Mapping[str, Any], tz: tzinfo
) -> dict[str, Any]:
    """The facts of one batch a page could show, from its `serials_allocated` events and
    its batch trace (`domain.trace.trace`)."""
    units: dict[str, dict[str, Any]] = {}
    edition_size = None
    for e in sorted(allocations, key=lambda e: (e.time, e.cell, e.seq)):
        if e.type != "serials_allocated" or e.payload.get("batch") != genealogy["batch"]:
            continue
        p = e.payload
        edition_size = edition_size or p.get("edition_size")
        for i, serial in enumerate(p.get("serials", [])):
            first = p.get("first")
            units.setdefault(
                serial,
                {"n": first + i if isinstance(first, int) else None, "made": _day(e.time, tz)},
            )
    for inspection in genealogy.get("inspections", []):
        if inspection.get("serial") in units:
            units[inspection["serial"]]["inspected"] = bool(inspection["passed"])
    steps = []
    for s in genealogy.get("steps", []):
        if s.get("completed") is None and s.get("started") is None:
            continue
        steps.append(
            {
                "step": s.get("step"),
                "kind": s.get("kind"),
                "started": _day(s.get("started"), tz),
                "done": _day(s.get("completed"), tz),
            }
        )
    steps.sort(key=lambda s: (s["step"] if isinstance(s["step"], int) else 99, s["started"] or ""))
    lots = genealogy.get("lots", [])
    qa: dict[str, Any] | None = None
    if lots:
        last = max(lots, key=lambda lot: lot.get("time") or "")
        qa = {
            "verdict": "accepted" if last.get("accepted") else "rejected",
            "inspected": last.get("inspected"),
            "day": _day(last.get("time"), tz),
        }
    return {
        "batch": genealogy["batch"],
        "sku": genealogy.get("sku"),
        "edition_size": edition_size,
        "steps": steps,
        "qa": qa,
        "units": units,
    }


def public_batch(
    record: Mapping[str, Any],
    public: Sequence[str],
    products: Mapping[str, str],
    cells_kinds: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The batch file the page reads: only the fields `public` names."""
    out: dict[str, Any] = {"sku": record.get("sku")}
    if "product" in public:
        out["product"] = products.get(record.get("sku") or "", record.get("sku"))
    if "edition" in public:
        out["edition_size"] = record.get("edition_size")
    if "steps" in public:
        out["steps"] = [
            {
                **({"kind": s["kind"]} if "cell_kind" in public else {}),
                **({"day": s["done"] or s["started"]} if "step_days" in public else {}),
                "done": s["done"] is not None,
            }
            for s in record.get("steps", [])
        ]
    if "qa" in public and record.get("qa"):
        qa = record["qa"]
        out["qa"] = {
            "verdict": qa["verdict"],
            "inspected": qa.get("inspected"),
            **({"day": qa.get("day")} if "step_days" in public else {}),
        }
    return out


def public_unit(unit: Mapping[str, Any], file: str, public: Sequence[str]) -> list[Any]:
    """A unit's entry in its shard: [batch file, edition n, made day, own QA result]."""
    return [
        file,
        unit.get("n") if "edition" in public else None,
        unit.get("made") if "made" in public else None,
        unit.get("inspected") if "qa" in public else None,
    ]
