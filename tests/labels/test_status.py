"""Printer status replies, byte for byte as Brother's raster command reference lays them out."""

from __future__ import annotations

import pytest
from brother_ql.reader import interpret_response

from cellctl.labels.backends import _StatusReader
from cellctl.labels.errors import LabelError
from cellctl.labels.media import media
from cellctl.labels.status import parse_status


def reply(e1=0, e2=0, width=62, mtype=0x0A, length=0, status=0x00, phase=0x00, model=0x38):
    # 0 head mark, 1 size, 2 'B', 3 series '4', 4 model, 5 '0', 6 '0', 7 0,
    # 8 error 1, 9 error 2, 10 media width, 11 media type, 12-16 fixed/mode,
    # 17 media length, 18 status type, 19 phase, 20-21 phase number, 22 notification
    head = [0x80, 0x20, 0x42, 0x34, model, 0x30, 0x30, 0x00, e1, e2, width, mtype]
    return bytes(head + [0, 0, 0, 0, 0, length, status, phase] + [0] * 12)


NO_MEDIA = bytes.fromhex(
    "80 20 42 34 38 30 30 00 01 00 00 00 00 00 00 00"
    " 00 00 02 00 00 00 00 00 00 00 00 00 00 00 00 00"
)
COVER_OPEN = bytes.fromhex(
    "80 20 42 34 41 30 30 00 00 10 3e 0a 00 00 00 00"
    " 00 00 02 00 00 00 00 00 00 00 00 00 00 00 00 00"
)
TWENTY_NINE_LOADED = bytes.fromhex(
    "80 20 42 34 35 30 30 00 00 00 1d 0a 00 00 00 00"
    " 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
)


def test_literal_replies_agree_with_the_builder_and_brother_ql():
    assert reply(e1=0x01, width=0, mtype=0x00, status=0x02) == NO_MEDIA
    assert len(NO_MEDIA) == len(COVER_OPEN) == len(TWENTY_NINE_LOADED) == 32
    assert interpret_response(NO_MEDIA)["errors"] == ["No media when printing"]
    assert interpret_response(COVER_OPEN)["errors"] == [
        "Cover opened while printing (Except QL-500)"
    ]
    assert interpret_response(TWENTY_NINE_LOADED)["media_width"] == 29


def test_no_media():
    s = parse_status(NO_MEDIA)
    assert s.errors == ("no_media",)
    assert s.media_type == "none" and s.status_type == "error"
    assert s.model == "QL-800"
    (msg,) = s.problems(media("62"))
    assert msg.startswith("No labels loaded") and "62 mm endless" in msg


def test_cover_open():
    s = parse_status(COVER_OPEN)
    assert s.errors == ("cover_open",)
    assert s.model == "QL-820NWB"
    assert s.problems(media("62")) == ["The printer cover is open: close it."]


def test_wrong_media_width():
    s = parse_status(TWENTY_NINE_LOADED)
    assert s.errors == () and s.model == "QL-700"
    assert s.problems(media("29")) == []
    (msg,) = s.problems(media("62"))
    assert "29 mm endless" in msg and "needs 62 mm endless" in msg


def test_wrong_die_cut_length_and_endless_versus_die_cut():
    s = parse_status(reply(width=62, mtype=0x0B, length=29))
    assert s.problems(media("62x29")) == []
    assert "62 x 29 mm die-cut" in s.problems(media("62x100"))[0]
    assert s.problems(media("62"))  # die-cut loaded, endless asked


def test_replace_media_error_bit_is_reported_with_the_needed_media():
    s = parse_status(reply(e2=0x01, status=0x02))
    assert s.errors == ("replace_media",)
    assert "62 x 100 mm die-cut" in s.problems(media("62x100"))[0]


def test_several_errors_give_several_messages():
    s = parse_status(reply(e1=0x04, e2=0x10 | 0x40, status=0x02))
    assert set(s.errors) == {"cutter_jam", "cover_open", "feed"}
    assert len(s.problems()) == 3


def test_printing_completed_and_phase():
    s = parse_status(reply(status=0x01, phase=0x01))
    assert (s.status_type, s.phase) == ("printing completed", "printing")


@pytest.mark.parametrize("bad", [b"", b"\x80\x20\x42", b"\x00" * 32, b"\x81" + NO_MEDIA[1:]])
def test_garbage_is_not_a_status(bad):
    with pytest.raises(LabelError):
        parse_status(bad)


def test_replies_are_found_in_a_stream_split_anywhere():
    stream = b"\x00\x17" + NO_MEDIA + COVER_OPEN
    for cut in range(len(stream)):
        r = _StatusReader()
        got = r.feed(stream[:cut]) + r.feed(stream[cut:])
        assert [s.errors for s in got] == [("no_media",), ("cover_open",)]
