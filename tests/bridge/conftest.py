from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable

import pytest

from firmware_bridge import Machine, MachineEvent, make_machine


def cam_lines(n: int, seed: int = 7, step: float = 1.0) -> list[str]:
    """Short lines like CAM output: a random walk of small G1 moves, 20-30 bytes each."""
    rng = random.Random(seed)
    x = y = 50.0
    out = ["G21 G90", "G1 F3000"]
    for _ in range(n - 2):
        x = min(190.0, max(0.0, x + rng.uniform(-step, step)))
        y = min(190.0, max(0.0, y + rng.uniform(-step, step)))
        out.append(f"G1 X{x:.3f} Y{y:.3f}")
    return out


def final_xy(lines: list[str]) -> tuple[float, float]:
    last = lines[-1].split()
    return float(last[1][1:]), float(last[2][1:])


@pytest.fixture
def make() -> Callable[..., Machine]:
    return make_machine


@pytest.fixture
async def machines() -> AsyncIterator[list[Machine]]:
    opened: list[Machine] = []
    yield opened
    for m in opened:
        await m.close()


async def connect(
    machines: list[Machine], driver: str, sim_options: dict | None = None, **options: object
) -> tuple[Machine, list[MachineEvent]]:
    m = make_machine(driver, f"sim://{driver}", sim_options=sim_options or {}, **options)
    machines.append(m)
    events: list[MachineEvent] = []
    m.subscribe(events.append)
    await m.connect()
    return m, events
