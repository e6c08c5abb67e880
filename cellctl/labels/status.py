"""The QL printers' 32-byte status reply, and what it means for the operator.

Byte layout from Brother's raster command reference (QL-800 series, section
"Status information"): 0 print head mark 0x80, 1 size 0x20, 2 'B', 3 series code,
4 model code, 8 error information 1, 9 error information 2, 10 media width (mm),
11 media type, 17 media length (mm), 18 status type, 19 phase type, 22 notification.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cellctl.labels.errors import LabelError
from cellctl.labels.media import Media, media_by_size

STATUS_LEN = 32
STATUS_REQUEST = b"\x1b\x69\x53"

MEDIA_TYPES = {0x00: "none", 0x0A: "endless", 0x0B: "die-cut", 0x4A: "endless", 0x4B: "die-cut"}
STATUS_TYPES = {
    0x00: "reply",
    0x01: "printing completed",
    0x02: "error",
    0x04: "turned off",
    0x05: "notification",
    0x06: "phase change",
}
PHASES = {0x00: "receiving", 0x01: "printing"}

# (byte, bit) -> (code, what the operator should do; {need} is the job's media)
ERRORS: dict[tuple[int, int], tuple[str, str]] = {
    (8, 0): ("no_media", "No labels loaded: put in a roll of {need} and close the cover."),
    (8, 1): ("end_of_media", "The labels have run out: load a new roll of {need}."),
    (8, 2): ("cutter_jam", "The cutter is jammed: open the cover, clear it and close it again."),
    (8, 4): ("in_use", "The printer is busy with another job: wait a moment, it retries."),
    (8, 5): ("turned_off", "The printer is switched off: switch it on."),
    (8, 6): ("high_voltage_adapter", "The printer's power adapter is faulty: call maintenance."),
    (8, 7): ("fan", "The printer's fan has stopped: call maintenance."),
    (9, 0): ("replace_media", "Wrong labels loaded: this job needs {need}; load that roll."),
    (9, 1): ("buffer_full", "The printer's buffer is full: wait a moment, it retries."),
    (9, 2): ("communication", "Communication error: check the printer's cable or network."),
    (9, 3): ("communication_buffer_full", "The printer's buffer is full: wait, it retries."),
    (9, 4): ("cover_open", "The printer cover is open: close it."),
    (9, 5): ("cancelled", "The job was cancelled on the printer."),
    (9, 6): ("feed", "The labels cannot be fed: check the roll is seated and not stuck."),
    (9, 7): ("system", "Printer system error: switch it off and on; call maintenance if it stays."),
}


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    model_code: int
    errors: tuple[str, ...]
    media_width_mm: int
    media_length_mm: int
    media_type: str
    status_type: str
    phase: str
    raw: bytes = field(repr=False, default=b"")

    @property
    def model(self) -> str:
        from brother_ql.reader import RESP_MODEL_CODES

        return RESP_MODEL_CODES.get(self.model_code, f"unknown model 0x{self.model_code:02X}")

    @property
    def loaded(self) -> Media | None:
        if self.media_type == "none":
            return None
        return media_by_size(self.media_width_mm, self.media_length_mm)

    @property
    def loaded_text(self) -> str:
        if self.media_type == "none":
            return "no labels"
        m = self.loaded
        if m is not None:
            return m.description
        if self.media_type == "endless":
            return f"{self.media_width_mm} mm endless"
        return f"{self.media_width_mm} x {self.media_length_mm} mm {self.media_type}"

    def problems(self, need: Media | None = None) -> list[str]:
        """Operator messages, empty when the printer can print `need` now."""
        need_text = need.description if need else "the right labels"
        msgs = [_message(code, need_text) for code in self.errors]
        if self.status_type == "turned off" and "turned_off" not in self.errors:
            msgs.append(_message("turned_off", need_text))
        if (
            need is not None
            and not self.errors
            and self.media_type != "none"
            and not _matches(self, need)
        ):
            msgs.append(
                f"Wrong labels loaded: the printer has {self.loaded_text}; this job needs "
                f"{need.description}. Load the right roll."
            )
        if need is not None and self.media_type == "none" and not self.errors:
            msgs.append(_message("no_media", need_text))
        return msgs


def _matches(status: PrinterStatus, need: Media) -> bool:
    if status.media_width_mm != need.tape_mm[0]:
        return False
    if need.endless:
        return status.media_type == "endless"
    return status.media_type == "die-cut" and status.media_length_mm == need.tape_mm[1]


def _message(code: str, need_text: str) -> str:
    for c, text in ERRORS.values():
        if c == code:
            return text.format(need=need_text)
    return code


def parse_status(data: bytes) -> PrinterStatus:
    """Parse one 32-byte status reply; raise LabelError if it is not one."""
    data = bytes(data)
    if len(data) < STATUS_LEN:
        raise LabelError(f"a printer status reply is 32 bytes; got {len(data)}")
    if data[0] != 0x80 or data[1] != 0x20 or data[2] != 0x42:
        raise LabelError(f"not a printer status reply (starts {data[:3].hex(' ')})")
    errors = tuple(code for (byte, bit), (code, _) in ERRORS.items() if data[byte] & (1 << bit))
    return PrinterStatus(
        model_code=data[4],
        errors=errors,
        media_width_mm=data[10],
        media_length_mm=data[17],
        media_type=MEDIA_TYPES.get(data[11], f"unknown 0x{data[11]:02X}"),
        status_type=STATUS_TYPES.get(data[18], f"unknown 0x{data[18]:02X}"),
        phase=PHASES.get(data[19], f"unknown 0x{data[19]:02X}"),
        raw=data[:STATUS_LEN],
    )


def build_status(
    *,
    model_code: int = 0x38,
    media_width_mm: int = 62,
    media_length_mm: int = 0,
    media_type: int = 0x0A,
    error1: int = 0,
    error2: int = 0,
    status_type: int = 0x00,
    phase: int = 0x00,
) -> bytes:
    """A status reply laid out as the reference describes (for printer simulators)."""
    b = bytearray(STATUS_LEN)
    b[0:8] = bytes([0x80, 0x20, 0x42, 0x34, model_code, 0x30, 0x30, 0x00])
    b[8], b[9] = error1, error2
    b[10], b[11] = media_width_mm, media_type
    b[17] = media_length_mm
    b[18], b[19] = status_type, phase
    return bytes(b)
