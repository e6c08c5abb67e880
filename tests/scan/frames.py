"""Building generated test frames."""

from __future__ import annotations

import numpy as np

from cellctl.scan import synth


def frame_with(
    text: str, symbology: str, background: np.ndarray, level: int, seed: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return synth.place(
        synth.render(text, symbology),
        background,
        synth.Distortion.level(level, rng),
        rng,
        scale=float(rng.uniform(0.7, 1.1)),
    )
