"""The shared set of real barcode photos (`../shared/scan_photos` beside the repository):
finding it, reading its manifest, and scoring reads against the expected texts.

A read is right when its text is the expected one in the right symbology (a GS1
DataBar's raw text is "01" + the GTIN the manifest gives). A read of another text is
a misread unless that code is really in the picture too: both decoders alone read
it on the unaltered photo, or it is listed in ALSO_PRESENT (checked by eye).
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cellctl.scan.decoders import Read

ROOT = Path(__file__).resolve().parents[1]
# Manifest symbology -> the Read formats that count as that symbology.
KINDS = {
    "UPCA": ("UPC-A",),
    "EAN8": ("EAN-8",),
    "EAN13": ("EAN-13",),
    "Code39": ("Code39",),
    "ITF": ("ITF",),
    "DataBar": ("DataBar", "DataBar-Expanded"),
    "Code128": ("Code128", "GS1-128"),
    "QR": ("QR",),
    "DataMatrix": ("DataMatrix",),
}
# Codes that are in a photo besides the one its label names (looked at, not guessed):
# a second GS1 DataBar Expanded Stacked symbol, and a DataBar whose label names a
# code the picture does not hold (both decoders and the printed digits agree).
ALSO_PRESENT = {
    "images/rss14-2__1.png": {"0198898765432106320201234515991231"},
    "images/rss14-2__3.png": {"0198898765432106320201234515991231"},
    "images/rss14-2__16.png": {"0101234567890128"},
}


@dataclass(frozen=True, slots=True)
class Photo:
    path: Path
    file: str
    symbology: str
    expected: str
    subset: str

    @property
    def held_out(self) -> bool:
        """One photo in three, fixed by its name: never looked at while tuning."""
        return zlib.crc32(self.file.encode()) % 3 == 0

    def right(self, read: Read) -> bool:
        if read.format not in KINDS.get(self.symbology, (self.symbology,)):
            return False
        text = read.text.replace("\x1d", "")
        return text == self.expected or (
            read.format.startswith("DataBar") and text == "01" + self.expected
        )

    def wrong(self, reads: Iterable[Read], present: set[str]) -> list[Read]:
        seen = present | ALSO_PRESENT.get(self.file, set())
        return [r for r in reads if not self.right(r) and r.text not in seen]


def find(start: Path = ROOT) -> Path | None:
    """`shared/scan_photos` beside the repository root or beside one of its parents."""
    for parent in start.parents:
        folder = parent / "shared" / "scan_photos"
        if (folder / "manifest.csv").is_file():
            return folder
    return None


def load(folder: Path) -> list[Photo]:
    with (folder / "manifest.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        Photo(
            folder / r["file"],
            r["file"],
            r["symbology"],
            r["expected_text"].replace("\r\n", "\n").rstrip().replace("\x1d", ""),
            r.get("subset", ""),
        )
        for r in rows
    ]
