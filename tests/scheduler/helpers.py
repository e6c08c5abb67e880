"""Helpers shared by this package's tests (no test module imports another)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cellctl.bus.topics import Topics
from tests.bus.conftest import SITE

T = Topics(SITE)


def spec_of(run_id: str, **kw) -> dict:
    due = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    return {"id": run_id, "sku": "CUP", "quantity": 2, "unit_margin": 3.0, "due": due,
            "routing": "cut", "cycle_s": 1.0, **kw}  # fmt: skip
