"""The shared set of real barcode photos (`../shared/scan_photos` beside the repository):
finding it, reading its manifest, and scoring reads against the expected texts.

A read is right when its text is the expected one in the right symbology (a GS1
DataBar's raw text is "01" + the GTIN the manifest gives). A read of another text is
a misread unless that code is really in the picture too: both decoders alone read
it on the unaltered photo, or the photo is listed in NOT_AS_LABELLED (checked by eye).
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
# Photos whose picture does not hold the code their label names (looked at, not
# guessed): four GS1 DataBar Expanded Stacked symbols labelled with an omni GTIN (two
# of them decode, both to the same element string) and four DataBar composites whose
# printed digits, like the two decoders, give (01)01234567890128. They are left out
# of the rate of supported codes (and reported beside it); on them a read of the
# text given here is right, any other a misread.
NOT_AS_LABELLED = {
    **{f"images/rss14-2__{i}.png": "0198898765432106320201234515991231" for i in (1, 2, 3, 4)},
    **{f"images/rss14-2__{i}.png": "0101234567890128" for i in (16, 17, 18, 19)},
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

    @property
    def as_labelled(self) -> bool:
        return self.file not in NOT_AS_LABELLED

    def wrong(self, reads: Iterable[Read], present: set[str]) -> list[Read]:
        seen = present | {NOT_AS_LABELLED.get(self.file, "")}
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
