"""Framing of the cellctl line protocol (see PROTOCOL.md): shared by driver and simulator."""

from __future__ import annotations

from dataclasses import dataclass, field

PROTOCOL_VERSIONS = (1, 1)
MAX_FRAME = 96
ERROR_TEXT: dict[int, str] = {
    1: "frame damaged on the wire (CRC mismatch)",
    2: "frame too long",
    3: "unknown command",
    4: "bad or missing argument",
    5: "not allowed in the machine's current state",
    6: "interlock open (guard, door or two-hand control)",
    7: "machine fault active: clear it first",
    8: "no common protocol version",
    9: "say HELLO first",
}


def crc8(data: bytes) -> int:
    """CRC-8, polynomial 0x07, initial value 0 (CRC-8/SMBUS): eight lines of C on the board."""
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def frame(payload: str) -> bytes:
    body = payload.encode("ascii")
    return body + b"*" + f"{crc8(body):02X}".encode() + b"\n"


class FrameError(ValueError):
    pass


def unframe(line: bytes | str) -> str:
    """The payload of one received line, or FrameError if it is damaged."""
    raw = line.encode("ascii", "replace") if isinstance(line, str) else line
    raw = raw.strip(b"\r\n")
    if len(raw) > MAX_FRAME:
        raise FrameError("frame too long")
    star = raw.rfind(b"*")
    if star < 0 or len(raw) - star != 3:
        raise FrameError("no checksum")
    body, given = raw[:star], raw[star + 1 :]
    try:
        want = int(given, 16)
    except ValueError as exc:
        raise FrameError("bad checksum digits") from exc
    if crc8(body) != want:
        raise FrameError("checksum mismatch")
    try:
        return body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FrameError("not ASCII") from exc


@dataclass
class Message:
    """One payload split up: `seq VERB args...` (host), `seq OK|ERR ...` or `! eseq EVENT ...`."""

    seq: int
    word: str
    args: list[str] = field(default_factory=list)
    event: bool = False

    @property
    def fields(self) -> dict[str, str]:
        out = {}
        for a in self.args:
            if "=" in a:
                k, v = a.split("=", 1)
                out[k] = v
        return out


def parse(payload: str) -> Message:
    parts = payload.split()
    if not parts:
        raise FrameError("empty frame")
    event = parts[0] == "!"
    if event:
        parts = parts[1:]
    if len(parts) < 2 or not parts[0].isdigit():
        raise FrameError("frame has no sequence number")
    return Message(int(parts[0]), parts[1].upper(), parts[2:], event)
