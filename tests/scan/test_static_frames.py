"""A live camera on a still scene with no code costs a thumbnail per frame, not a decode;
a code coming into view is read on the frame it appears (cascade._unchanged)."""

from __future__ import annotations

import numpy as np

from cellctl.config.models import CameraConfig
from cellctl.scan import synth
from cellctl.scan.cascade import Pipeline


class Counting(Pipeline):
    decodes = 0

    def _read(self, name, img, **kw):  # noqa: ANN001, ANN003, ANN202
        self.decodes += 1
        return super()._read(name, img, **kw)


def test_a_still_scene_is_not_decoded_again_until_it_changes() -> None:
    rng = np.random.default_rng(4)
    bench = synth.busy_background(rng)
    noisy = [np.clip(bench.astype(np.int16) + rng.integers(-4, 5, bench.shape), 0, 255)
             .astype(np.uint8) for _ in range(6)]  # fmt: skip  # sensor noise
    pipe = Counting.from_config(CameraConfig(), live=True)
    first = pipe.decode(bench)
    assert first.reads == [] and first.stage != "static" and pipe.decodes >= 1
    before = pipe.decodes
    stages = [pipe.decode(f).stage for f in noisy[:4]]
    assert pipe.decodes == before  # four frames, no decoder called
    stages += [pipe.decode(f).stage for f in noisy[4:]]
    # Not read again: skipped, or the held-still scene's deep search taking its turn.
    assert set(stages) <= {"static", "deepening"} and stages[:4] == ["static"] * 4
    text, expected = synth.sample_payload("QR", rng)
    shown = synth.place(synth.render(text, "QR"), bench, synth.Distortion.level(0, rng), rng, 0.5)
    read = pipe.decode(shown)
    assert [r.text for r in read.reads] == [expected] and read.stage != "static"


def test_a_still_scene_is_decoded_again_every_static_every_frames() -> None:
    rng = np.random.default_rng(5)
    bench = synth.busy_background(rng)
    pipe = Pipeline.from_config(CameraConfig(), live=True)
    stages = [pipe.decode(bench).stage for _ in range(2 * pipe.static_every + 3)]
    assert stages.count("static") < len(stages) - 2  # re-read now and then, in case
