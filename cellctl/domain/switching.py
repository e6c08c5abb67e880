"""Switching between normal, tightened and reduced inspection (ISO 2859-1:1999 clause 9).

One `SwitchingState` per key: per SKU or per cell, as the site chooses (`SwitchingBook`).
Only lots on original inspection count; resubmitted lots are ignored.

- start: normal inspection, switching score 0.
- normal -> tightened (9.3.1): 2 lots not accepted within 5 or fewer consecutive lots.
- tightened -> normal (9.3.2): 5 consecutive lots accepted on tightened inspection.
- normal -> reduced (9.3.3): the switching score has reached 30, production is at a steady
  rate, and the responsible authority approves reduced inspection.
  Switching score (9.3.3.2, single sampling), updated after every lot on normal inspection:
    Ac >= 2: +3 if the lot would have been accepted with the AQL one step tighter (the
             count is at most that plan's Ac), otherwise reset to 0;
    Ac 0/1:  +2 if the lot is accepted, otherwise reset to 0.
  The score restarts at 0 whenever normal inspection starts.
- reduced -> normal (9.3.4): a lot is not accepted; or a lot is accepted with a count
  between Ac and Re (Z1.4 10.1.4); or production becomes irregular or delayed; or other
  conditions warrant it (`to_normal`).
- discontinuation (9.4): when the cumulative number of lots not accepted on tightened
  inspection (since it began) reaches 5, acceptance sampling stops for that key until the
  supplier has acted and the responsible authority resumes it (`resume`), on tightened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from cellctl.domain.aql_tables import Severity

TIGHTEN_WINDOW = 5
TIGHTEN_REJECTIONS = 2
RELAX_ACCEPTED = 5
REDUCED_SCORE = 30
DISCONTINUE_REJECTIONS = 5


class SwitchingError(ValueError):
    """A lot was recorded where the scheme does not allow it (e.g. while discontinued)."""


@dataclass(frozen=True, slots=True)
class LotOutcome:
    """What the switching rules need from one judged lot."""

    accepted: bool
    ac: int
    nonconforming: int
    tighter_ac: int | None = None
    reinstate_normal: bool = False
    resubmitted: bool = False


@dataclass(frozen=True, slots=True)
class Switch:
    key: str
    from_severity: Severity
    to_severity: Severity
    reason: str
    discontinued: bool = False


@dataclass(frozen=True, slots=True)
class SwitchingState:
    severity: Severity = Severity.NORMAL
    recent_normal: tuple[bool, ...] = ()
    score: int = 0
    accepted_run: int = 0
    tightened_rejections: int = 0
    discontinued: bool = False
    lots: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": str(self.severity),
            "recent_normal": list(self.recent_normal),
            "score": self.score,
            "accepted_run": self.accepted_run,
            "tightened_rejections": self.tightened_rejections,
            "discontinued": self.discontinued,
            "lots": self.lots,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SwitchingState:
        return cls(
            severity=Severity(d["severity"]),
            recent_normal=tuple(bool(x) for x in d["recent_normal"]),
            score=int(d["score"]),
            accepted_run=int(d["accepted_run"]),
            tightened_rejections=int(d["tightened_rejections"]),
            discontinued=bool(d["discontinued"]),
            lots=int(d["lots"]),
        )


def _enter(severity: Severity, state: SwitchingState) -> SwitchingState:
    return SwitchingState(severity=severity, lots=state.lots)


def next_state(
    state: SwitchingState,
    lot: LotOutcome,
    *,
    production_steady: bool = True,
    reduced_approved: bool = False,
    key: str = "",
) -> tuple[SwitchingState, Switch | None]:
    """Apply one judged lot; return the new state and the switch it caused, if any."""
    if state.discontinued:
        raise SwitchingError(
            "acceptance inspection is discontinued for this key (5 lots not accepted on "
            "tightened inspection); resume it once the supplier has acted"
        )
    if lot.resubmitted:
        return state, None
    state = replace(state, lots=state.lots + 1)
    if state.severity is Severity.NORMAL:
        return _on_normal(state, lot, production_steady, reduced_approved, key)
    if state.severity is Severity.TIGHTENED:
        return _on_tightened(state, lot, key)
    return _on_reduced(state, lot, production_steady, key)


def _on_normal(
    state: SwitchingState, lot: LotOutcome, steady: bool, approved: bool, key: str
) -> tuple[SwitchingState, Switch | None]:
    recent = (*state.recent_normal, lot.accepted)[-TIGHTEN_WINDOW:]
    if recent.count(False) >= TIGHTEN_REJECTIONS:
        reason = f"{recent.count(False)} of the last {len(recent)} lots not accepted"
        return _enter(Severity.TIGHTENED, state), Switch(
            key, Severity.NORMAL, Severity.TIGHTENED, reason
        )
    if lot.ac >= 2:
        if lot.tighter_ac is None:
            raise SwitchingError("a lot with Ac >= 2 needs tighter_ac for the switching score")
        score = state.score + 3 if lot.nonconforming <= lot.tighter_ac else 0
    else:
        score = state.score + 2 if lot.accepted else 0
    state = replace(state, recent_normal=recent, score=score)
    if score >= REDUCED_SCORE and steady and approved:
        reason = f"switching score {score} >= {REDUCED_SCORE}, steady production, approved"
        return _enter(Severity.REDUCED, state), Switch(
            key, Severity.NORMAL, Severity.REDUCED, reason
        )
    return state, None


def _on_tightened(
    state: SwitchingState, lot: LotOutcome, key: str
) -> tuple[SwitchingState, Switch | None]:
    if lot.accepted:
        state = replace(state, accepted_run=state.accepted_run + 1)
        if state.accepted_run >= RELAX_ACCEPTED:
            reason = f"{RELAX_ACCEPTED} consecutive lots accepted on tightened inspection"
            return _enter(Severity.NORMAL, state), Switch(
                key, Severity.TIGHTENED, Severity.NORMAL, reason
            )
        return state, None
    state = replace(state, accepted_run=0, tightened_rejections=state.tightened_rejections + 1)
    if state.tightened_rejections >= DISCONTINUE_REJECTIONS:
        reason = f"{state.tightened_rejections} lots not accepted on tightened inspection"
        return replace(state, discontinued=True), Switch(
            key, Severity.TIGHTENED, Severity.TIGHTENED, reason, discontinued=True
        )
    return state, None


def _on_reduced(
    state: SwitchingState, lot: LotOutcome, steady: bool, key: str
) -> tuple[SwitchingState, Switch | None]:
    if not lot.accepted:
        reason = "a lot was not accepted on reduced inspection"
    elif lot.reinstate_normal or lot.nonconforming > lot.ac:
        reason = "a lot was accepted with more than Ac nonconforming on reduced inspection"
    elif not steady:
        reason = "production became irregular or delayed"
    else:
        return state, None
    return _enter(Severity.NORMAL, state), Switch(key, Severity.REDUCED, Severity.NORMAL, reason)


def to_normal(state: SwitchingState, reason: str, key: str = "") -> tuple[SwitchingState, Switch]:
    """Reinstate normal from reduced because other conditions warrant it (9.3.4 d)."""
    if state.severity is not Severity.REDUCED:
        raise SwitchingError(
            f"only reduced inspection can be relaxed to normal, not {state.severity}"
        )
    return _enter(Severity.NORMAL, state), Switch(key, Severity.REDUCED, Severity.NORMAL, reason)


def resume(state: SwitchingState, key: str = "") -> tuple[SwitchingState, Switch]:
    """Resume a discontinued scheme, on tightened inspection (9.4)."""
    if not state.discontinued:
        raise SwitchingError("inspection is not discontinued; nothing to resume")
    return _enter(Severity.TIGHTENED, state), Switch(
        key, Severity.TIGHTENED, Severity.TIGHTENED, "resumed after corrective action"
    )


KeyBy = Literal["sku", "cell"]


@dataclass
class SwitchingBook:
    """The switching state of every key (SKU or cell). Pure: feed it lots, read states."""

    key_by: KeyBy = "sku"
    states: dict[str, SwitchingState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.key_by not in ("sku", "cell"):
            raise ValueError(f"key_by must be 'sku' or 'cell', got {self.key_by!r}")

    def key(self, *, sku: str | None, cell: str | None) -> str:
        value = sku if self.key_by == "sku" else cell
        if not value:
            raise SwitchingError(f"switching is tracked per {self.key_by}, and none was given")
        return value

    def state(self, key: str) -> SwitchingState:
        return self.states.get(key, SwitchingState())

    def severity(self, key: str) -> Severity:
        return self.state(key).severity

    def record(
        self,
        key: str,
        lot: LotOutcome,
        *,
        production_steady: bool = True,
        reduced_approved: bool = False,
    ) -> Switch | None:
        new, switch = next_state(
            self.state(key),
            lot,
            production_steady=production_steady,
            reduced_approved=reduced_approved,
            key=key,
        )
        self.states[key] = new
        return switch

    def resume(self, key: str) -> Switch:
        new, switch = resume(self.state(key), key)
        self.states[key] = new
        return switch

    def to_normal(self, key: str, reason: str) -> Switch:
        new, switch = to_normal(self.state(key), reason, key)
        self.states[key] = new
        return switch


def lot_outcome_from_payload(payload: dict[str, Any]) -> LotOutcome:
    """Read a `lot_judged` event payload (see `cellctl.domain.sampling` for its keys)."""
    return LotOutcome(
        accepted=bool(payload["accepted"]),
        ac=int(payload.get("ac", 0)),
        nonconforming=int(payload.get("nonconforming", 0)),
        tighter_ac=payload.get("tighter_ac"),
        reinstate_normal=bool(payload.get("reinstate_normal", False)),
        resubmitted=bool(payload.get("resubmitted", False)),
    )


def replay(events: Iterable[Any], key_by: KeyBy = "sku") -> SwitchingBook:
    """Rebuild every key's state from `lot_judged`, `inspection_resumed` and
    `inspection_switched` (reason-only, reduced -> normal) events, in order."""
    book = SwitchingBook(key_by)
    for event in events:
        replay_one(book, event)
    return book


SWITCHING_TYPES = ("lot_judged", "inspection_resumed", "inspection_switched")


def replay_one(book: SwitchingBook, event: Any) -> str | None:
    """Apply one event to `book`; return the key it changed, if any."""
    payload = event.payload
    if event.type == "lot_judged":
        key = book.key(sku=payload.get("sku"), cell=event.cell)
        book.record(
            key,
            lot_outcome_from_payload(payload),
            production_steady=bool(payload.get("production_steady", True)),
            reduced_approved=bool(payload.get("reduced_approved", False)),
        )
        return key
    if event.type == "inspection_resumed":
        book.resume(str(payload["key"]))
        return str(payload["key"])
    if event.type == "inspection_switched" and payload.get("manual"):
        book.to_normal(str(payload["key"]), str(payload.get("reason", "")))
        return str(payload["key"])
    return None
