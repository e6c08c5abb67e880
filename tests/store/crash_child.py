"""Child process for the crash test: appends events and allocates serials forever,
printing each one only after its transaction committed."""

from __future__ import annotations

import json
import random
import sys

from cellctl.domain.events import Event
from cellctl.store.station_store import StationStore


def main() -> None:
    path, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    store = StationStore(path, "cut-01")
    print("ready", flush=True)
    while True:
        if rng.random() < 0.6:
            events = [
                Event(
                    "units_counted",
                    "cut-01",
                    {"run_id": f"R{rng.randint(1, 3)}", "step": 0, "good": 1, "scrap": 0},
                )
                for _ in range(rng.randint(1, 5))
            ]
            stored = store.append(*events)
            print(json.dumps({"events": [e.id for e in stored]}), flush=True)
        else:
            scope = f"R{rng.randint(1, 3)}"
            alloc = store.allocate_serials(rng.randint(1, 3), scope=scope, sku="MUG", batch=scope)
            print(json.dumps({"serials": alloc.serials}), flush=True)


if __name__ == "__main__":
    main()
