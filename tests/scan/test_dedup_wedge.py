"""De-duplication of camera reads and wedge-versus-typing detection."""

from __future__ import annotations

import asyncio

from cellctl.scan.decoders import Read
from cellctl.scan.dedup import Deduplicator
from cellctl.scan.hub import ScanHub
from cellctl.scan.payload import OwnCode
from cellctl.scan.wedge import WedgeDetector

QR = Read("QR", "CB:B-1", "zxing")
EAN = Read("EAN-13", "4006381333931", "zxing")


def test_code_reported_once_while_in_view_and_again_after_hold() -> None:
    d = Deduplicator(hold_s=2.0)
    assert d.feed([QR], 0.0) == [QR]
    # In view for 10 s at 30 fps: nothing new.
    assert all(d.feed([QR], i / 30) == [] for i in range(1, 300))
    assert d.feed([], 10.5) == []
    assert d.feed([QR], 11.0) == []  # out of view only 1.0 s
    assert d.feed([], 13.1) == []
    assert d.feed([QR], 13.2) == [QR]  # out of view 2.2 s


def test_ean_needs_two_agreeing_reads_others_one() -> None:
    d = Deduplicator()
    assert d.feed([EAN, QR], 0.0) == [QR]
    assert d.feed([Read("EAN-13", "4006381333948", "zbar")], 0.03) == []
    assert d.feed([EAN], 0.06) == [EAN]
    assert d.feed([EAN], 0.09) == []


def test_zero_hold_reports_after_any_gap() -> None:
    d = Deduplicator(hold_s=0.0)
    assert d.feed([QR], 0.0) == [QR]
    assert d.feed([QR], 0.0) == []
    assert d.feed([QR], 0.01) == [QR]


def type_keys(w: WedgeDetector, text: str, start: float, gap: float) -> list:
    out = []
    t = start
    for ch in [*text, "\r"]:
        out.append(w.key(ch, t))
        t += gap
    return out


def test_scanner_burst_is_a_scan() -> None:
    w = WedgeDetector()
    results = type_keys(w, "CB:B-42", 10.0, 0.004)
    assert results[-1].scan == "CB:B-42"
    assert all(r.scan is None and r.typed == "" for r in results[:-1])


def test_person_typing_is_passed_on_not_scanned() -> None:
    w = WedgeDetector()
    results = type_keys(w, "12", 10.0, 0.15)
    assert all(r.scan is None for r in results)
    assert "".join(r.typed for r in results) == "12\n"


def test_fast_short_typing_is_not_a_scan_and_typing_then_burst() -> None:
    w = WedgeDetector()
    # Two quick keys + Enter (a rolled "ok") are shorter than any payload.
    results = type_keys(w, "ok", 1.0, 0.01)
    assert all(r.scan is None for r in results)
    assert "".join(r.typed for r in results) == "ok\n"
    # A person types "5", pauses, then a scanner fires.
    first = w.key("5", 2.0)
    assert w.pending(2.2).typed == "5" and first.typed == ""
    burst = type_keys(w, "CO:ANNA1", 2.5, 0.003)
    assert burst[-1].scan == "CO:ANNA1"


async def test_hub_wedge_feeds_the_scan_stream() -> None:
    hub = ScanHub()
    t = 100.0
    for ch in "CC:HOLD":
        assert hub.wedge_key(ch, t) == ""
        t += 0.005
    hub.wedge_key("\r", t)
    scan = await asyncio.wait_for(hub.get(), 1)
    assert (scan.origin, scan.text) == ("wedge", "CC:HOLD")
    assert isinstance(scan.parsed, OwnCode)
    assert hub.wedge_key("7", t + 5) == ""
    assert hub.wedge_key("\r", t + 5.2) == "7\n"
