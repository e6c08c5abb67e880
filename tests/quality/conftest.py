"""Fixtures of the quality tests: event builders for the metrics."""

from __future__ import annotations

import itertools

import pytest

from cellctl.domain.events import Event


@pytest.fixture
def ev():
    """Build an Event at an explicit UTC time with a rising seq per cell."""
    seqs: dict[str, itertools.count] = {}

    def make(etype: str, cell: str, time: str, **payload) -> Event:
        seq = next(seqs.setdefault(cell, itertools.count(1)))
        return Event(type=etype, cell=cell, payload=payload, time=time, seq=seq)

    return make
