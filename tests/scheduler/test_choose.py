from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from cellctl.domain import dispatch
from cellctl.domain.dispatch import Candidate


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40))
def test_choose_is_the_first_of_rank(seed: int, n: int) -> None:
    rng = random.Random(seed)
    cands = [
        Candidate(f"R{i}", 0, "cut", rng.choice([1.0, 2.0, 5.0]), rng.choice([1.0, 3.0]),
                  rng.choice([3.0, 9.0]), rng.choice([0.0, 10.0, 50.0]),
                  rng.choice([0, 0, 1]), rng.randrange(5))
        for i in range(n)
    ]  # fmt: skip
    assert dispatch.choose(cands, 5.0) == dispatch.rank(cands, 5.0)[0]
