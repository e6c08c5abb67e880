"""A serial or batch code typed at the QA cell (or read from a 1D code): the text printed
under the label's QR. A typed serial has no signature, so the unit is inspected and
recorded as unverified; a typed batch opens the batch as its traveller would."""

from __future__ import annotations

from typing import Protocol

from cellctl.domain.sampling import SamplingPlan
from cellctl.scan.payload import printed_value
from cellctl.station.qa_lot import BatchProvider, OpenLot


class TypedTarget(Protocol):
    """What a typed code needs of the QA flow (the flow itself, `QAFlow`)."""

    lot: OpenLot | None
    batches: BatchProvider

    def choose_unit(self, serial: str, how: str = ...) -> str: ...

    def open_batch(self, batch: str) -> SamplingPlan: ...


UNVERIFIED = "typed: no signature"


def typed_at_qa(flow: TypedTarget, text: str) -> str | None:
    """What happened, or None when `text` is not a serial or batch this cell knows."""
    value = printed_value(text)
    if value is None:
        return None
    lot = flow.lot
    if lot is not None:
        for candidate in dict.fromkeys((value, value.upper())):
            if candidate in lot.sample or candidate in lot.results:
                flow.choose_unit(candidate, how=UNVERIFIED)
                lot.unverified.add(candidate)
                return f"inspect {candidate} (unverified: typed serial, no signature)"
            if candidate == lot.batch:
                return f"batch {lot.batch}: inspect {lot.plan.sample_size}"
    for candidate in dict.fromkeys((value, value.upper())):
        if lot is None and flow.batches(candidate) is not None:
            plan = flow.open_batch(candidate)
            return f"batch {candidate}: inspect {plan.sample_size}"
    if lot is not None:
        # A serial from elsewhere: the sample's own refusal says which units to scan.
        flow.choose_unit(value.upper(), how=UNVERIFIED)
    return None
