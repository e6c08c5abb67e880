"""The OEE's span arithmetic in one pass equals the pairwise definition, on random spans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cellctl.domain.metrics import _intersect, _merge, _minus

T0 = datetime(2026, 1, 5, tzinfo=UTC)
spans = st.lists(
    st.tuples(st.integers(0, 500), st.integers(0, 60)).map(
        lambda p: (T0 + timedelta(minutes=p[0]), T0 + timedelta(minutes=p[0] + p[1]))
    ),
    max_size=25,
)


def _pairwise_intersect(a, b):
    return _merge([(max(x[0], y[0]), min(x[1], y[1])) for x in a for y in b
                   if max(x[0], y[0]) < min(x[1], y[1])])  # fmt: skip


def _pairwise_minus(a, b):
    out = []
    cuts = _merge(b)
    for lo, hi in a:
        cur = lo
        for lo_b, hi_b in cuts:
            if hi_b <= cur or lo_b >= hi:
                continue
            if lo_b > cur:
                out.append((cur, lo_b))
            cur = max(cur, hi_b)
        if cur < hi:
            out.append((cur, hi))
    return out


@given(spans, spans)
def test_intersect_and_minus_equal_their_definitions(a, b) -> None:
    assert _intersect(a, b) == _pairwise_intersect(a, b)
    assert _minus(a, b) == _pairwise_minus(a, b)
