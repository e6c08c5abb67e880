"""Example field values, so any template can be previewed without a real run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def sample_values() -> dict[str, Any]:
    return {
        "sku": "MUG-BLUE",
        "title": "Blue enamel mug, limited glaze series",
        "serial": "MUG-BLUE-B0042-0007",
        "n": 7,
        "edition": "7/250",
        "edition_size": 250,
        "batch": "B0042",
        "run": "R-2026-0042",
        "step": 1,
        "quantity": 250,
        "due": datetime(2026, 12, 1, tzinfo=UTC),
        "now": datetime.now(UTC),
        "operator": "OP-ADA",
        "cell": "print-01",
        "site_name": "Demo Microfactory",
        "batch_code": "CB:B0042",
        "run_code": "CR:R-2026-0042/1",
        "reason": "Glaze bubbles on 3 of 8 samples",
        "key_id": "ed25519:0000000000000000",
        "sig_fingerprint": "0000000000000000",
    }
