"""The historian's confirmation payload and its throttle (at most once a second a cell)."""

from __future__ import annotations

import pytest

from cellctl.bus.codec import PayloadError
from cellctl.bus.confirmed import ConfirmationThrottle, decode_confirmed, encode_confirmed


def test_round_trip_and_bad_payloads() -> None:
    assert decode_confirmed(encode_confirmed(7, "ev-7")) == (7, "ev-7")
    assert decode_confirmed(encode_confirmed(7)) == (7, None)
    for bad in (b'{"v":1,"hwm":-1}', b'{"v":1,"hwm":true}', b'{"v":1}', b'{"v":1,"hwm":3,"id":4}'):
        with pytest.raises(PayloadError):
            decode_confirmed(bad)


def test_throttle_publishes_a_moved_mark_at_most_once_a_second() -> None:
    t = ConfirmationThrottle(min_interval_s=1.0)
    marks = {"a": (5, 5), "b": (0, 3)}
    assert t.due(marks, now=10.0) == {"a": 5}  # b holds nothing contiguous yet
    t.sent("a", 5, now=10.0)
    assert t.due({"a": (5, 5)}, now=20.0) == {}  # unchanged: not again
    assert t.due({"a": (9, 9)}, now=10.5) == {}  # moved, but within the second
    assert t.due({"a": (9, 9)}, now=11.0) == {"a": 9}
    t.forget()
    assert t.due({"a": (5, 5)}, now=11.1) == {"a": 5}
