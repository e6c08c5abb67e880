from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tests.station.conftest import FakeClock, assignment, clock, cut, demo_dir, make_controller  # noqa: F401

PERSON_S = 0.2  # a person's keys are 60 ms or more apart
SCANNER_S = 0.0005  # a wedge scanner's are 1-20 ms apart


class PacedClock(FakeClock):
    """The kiosk's clock in tests: it moves `step` seconds each time it is read.

    The kiosk reads its clock when a key arrives and again when it asks the wedge
    detector whether the held keys are old enough to be a person's, so keys pressed
    by the Pilot land a person's pace apart (or a scanner's, inside `scanner()`)
    without any real waiting.
    """

    def __init__(self, step: float = PERSON_S) -> None:
        super().__init__()
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now

    @contextlib.contextmanager
    def scanner(self) -> Iterator[None]:
        before, self.step = self.step, SCANNER_S
        try:
            yield
        finally:
            self.step = before


@pytest.fixture
def keys_clock() -> PacedClock:
    return PacedClock()
