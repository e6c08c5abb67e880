"""A stage never run at a picture size is guessed as dear as the dearest that has, so it
does not start on the budget's last milliseconds (cascade.Pipeline._guess)."""

from __future__ import annotations

from cellctl.scan.cascade import Pipeline


def test_an_unknown_stage_is_guessed_as_dear_as_the_dearest_known_at_that_size() -> None:
    pipe = Pipeline(still=True)
    pipe._cost = {("enlarged-zxing", 36): 0.009, ("sharpened-zbar", 36): 0.020,
                  ("huge", 40): 0.5}  # fmt: skip
    assert pipe._guess(("enlarged-zxing", 36)) == 0.009  # known: its own cost
    assert pipe._guess(("equalised-zbar", 36)) == 0.020  # unknown here: the dearest at 36
    assert pipe._guess(("anything", 30)) == 0.0  # nothing known at that size yet
