"""When a still image may settle on zxing-cpp alone: the same UPC/EAN text on
SOLO_AGREE altered pictures and no other text of that format, never zbar alone, never
in a live stream (cascade.Pipeline._settle; weighed on the photos in bench.scan)."""

from __future__ import annotations

import numpy as np

from cellctl.scan.cascade import SOLO_AGREE, Pipeline
from cellctl.scan.decoders import Read

BLANK = np.full((120, 160), 255, np.uint8)


def _fresh(still: bool = True) -> Pipeline:
    pipe = Pipeline(still=still)
    assert pipe.decode(BLANK).reads == []  # a frame begins: its tallies are empty
    return pipe


def _upc(text: str, decoder: str = "zxing") -> list[Read]:
    return [Read("UPC-A", text, decoder, None)]


def test_zxing_alone_settles_on_agreeing_pictures() -> None:
    pipe = _fresh()
    pictures = [f"picture-{i}" for i in range(SOLO_AGREE)]
    for picture in pictures[:-1]:
        assert pipe._settle(_upc("036000291452"), picture) == []
    assert pipe._settle(_upc("036000291452"), pictures[-1]) == _upc("036000291452")


def test_the_same_picture_twice_is_one_vote() -> None:
    pipe = _fresh()
    for _ in range(SOLO_AGREE + 2):
        assert pipe._settle(_upc("036000291452"), "enlarged") == []


def test_a_conflicting_read_keeps_it_unsettled() -> None:
    pipe = _fresh()
    assert pipe._settle(_upc("036000291453"), "equalised") == []
    for i in range(SOLO_AGREE + 2):
        assert pipe._settle(_upc("036000291452"), f"picture-{i}") == []


def test_zbar_alone_never_settles_and_a_live_frame_never_does() -> None:
    pipe = _fresh()
    for i in range(SOLO_AGREE + 2):
        assert pipe._settle(_upc("022121000066", "zbar"), f"picture-{i}") == []
    live = _fresh(still=False)
    for i in range(SOLO_AGREE + 2):
        assert live._settle(_upc("036000291452"), f"picture-{i}") == []


def test_the_two_decoders_agreeing_settle_at_once() -> None:
    pipe = _fresh()
    assert pipe._settle(_upc("036000291452"), "enlarged") == []
    assert pipe._settle(_upc("036000291452", "zbar"), "enlarged") == _upc("036000291452", "zbar")
