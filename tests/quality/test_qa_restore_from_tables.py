"""A restarting QA cell resumes from its read tables (switching per key, open lot, last
verdict); what it restores must equal a replay of its whole log, as it did before."""

from __future__ import annotations

from typing import Any

import pytest

from cellctl.config.inspection import TemplateBook, inspection_dir
from cellctl.domain.events import Event
from cellctl.domain.switching import KeyBy, SwitchingBook, SwitchingError, replay
from cellctl.station.qa_flow import QAFlow
from cellctl.station.site_batches import site_batch_provider
from tests.quality.conftest import Site, passing


class FullReplayQAFlow(QAFlow):
    """The QA restore as it was before schema 4: the whole log replayed."""

    def _restore(self) -> None:
        from cellctl.domain.sampling import SamplingError, plan_for
        from cellctl.errors import ConfigError
        from cellctl.station.qa_flow import OpenLot

        events = self.c.store.events()
        try:
            self.book = replay(events, self.key_by)
        except (SwitchingError, KeyError, TypeError, ValueError) as exc:
            self.book = SwitchingBook(self.key_by)
            self.message = f"switching history unreadable ({exc}): normal inspection assumed"
        open_draw: dict[str, Event] = {}
        results: dict[str, dict[str, int]] = {}
        for e in events:
            batch = e.payload.get("batch")
            if e.type == "sample_drawn":
                open_draw[batch] = e
                results[batch] = {}
            elif e.type == "inspection_recorded" and batch in open_draw:
                results[batch][e.payload["serial"]] = int(e.payload.get("nonconformities", 0))
            elif e.type in ("lot_judged", "sample_abandoned"):
                open_draw.pop(batch, None)
                if e.type == "lot_judged":
                    self.last_verdict = dict(e.payload)
        if not open_draw:
            return
        draw = max(open_draw.values(), key=lambda e: e.seq)
        p = draw.payload
        try:
            template = self._templates(p["sku"])
            plan = plan_for(p["lot_size"], p["level"], p["aql"], p["severity"])
        except (ConfigError, SamplingError, KeyError) as exc:
            self.message = f"could not resume batch {p.get('batch')}: {exc}"
            return
        self.lot = OpenLot(
            batch=p["batch"],
            sku=p["sku"],
            run_id=p.get("run_id"),
            lot_size=p["lot_size"],
            template=template,
            plan=plan,
            seed=p["seed"],
            sample=list(p["serials"]),
            key=p["key"],
            resubmitted=bool(p.get("resubmitted")),
            results=results[p["batch"]],
        )
        self.message = f"Resumed batch {p['batch']}: {len(self.lot.remaining)} unit(s) to inspect"


def restored(site: Site, cls: type[QAFlow], key_by: KeyBy) -> dict[str, Any]:
    site.reopen("qa-01")
    c = site.controller("qa-01")
    flow = cls(
        c,
        TemplateBook(inspection_dir(site.site_path), c.site),
        site_batch_provider(site.site_path),
        public_key=site.key.public_key(),
        key_by=key_by,
    )
    v = flow.view()
    return {
        "view": v,
        "book": {k: s.to_dict() for k, s in flow.book.states.items()},
        "message": flow.message,
        "lot": None if flow.lot is None else (flow.lot.batch, flow.lot.seed, flow.lot.results),
        "held": dict(c.held_batches),
        "state": c.state,
    }


def assert_same_as_full_replay(site: Site) -> None:
    for key_by in ("sku", "cell"):
        assert restored(site, QAFlow, key_by) == restored(site, FullReplayQAFlow, key_by)
    assert site.controller("qa-01").store.check() == []


def judge(site: Site, flow: QAFlow, batch: str, fail_first: int) -> None:
    site.make_batch(batch, "POSTER-A3", 20, run_id=f"R-{batch}")
    flow.scan(f"CB:{batch}")
    i = 0
    while flow.lot is not None and flow.lot.batch == batch:
        flow.scan(site.unit_code(flow.view().remaining[0]))
        if i < fail_first:
            flow.record_fail(["PRINT-SMUDGE"], results={"print": False})
        else:
            flow.record_pass(passing(flow))
        i += 1


@pytest.mark.parametrize("judged", [0, 1, 2, 3])
def test_qa_restore_equals_a_full_replay(site: Site, judged: int) -> None:
    site.controller("qa-01").sign_in_badge("OP-QUINN")
    flow = site.qa_flow(seed="s-eq")
    # Rejections then an acceptance: tightened, held batches, a last verdict.
    for n in range(judged):
        judge(site, flow, f"B{n}", fail_first=1 if n < 2 else 0)
    assert_same_as_full_replay(site)
    # A lot left open, two units in.
    flow = site.qa_flow(seed="s-open")
    site.make_batch("BX", "POSTER-A3", 20, run_id="R-BX")
    flow.scan("CB:BX")
    for serial in flow.view().sample[:2]:
        flow.scan(site.unit_code(serial))
        flow.record_pass(passing(flow))
    assert_same_as_full_replay(site)


def test_an_unreadable_switching_history_restores_the_same_way(site: Site) -> None:
    qa = site.controller("qa-01")
    # A judged lot with no SKU: switching per SKU cannot place it; per cell it can.
    qa.store.append(Event("lot_judged", "qa-01", {"batch": "BZ", "accepted": False}, "OP-QUINN"))
    assert_same_as_full_replay(site)
    flow = site.qa_flow()
    assert "switching history unreadable" in flow.message
    assert flow.book.states == {}


def test_check_catches_a_tampered_switching_state(site: Site) -> None:
    site.controller("qa-01").sign_in_badge("OP-QUINN")
    flow = site.qa_flow()
    judge(site, flow, "B0", fail_first=1)
    qa = site.controller("qa-01")
    assert qa.store.check() == []
    qa.store.conn.execute("UPDATE qa_switching SET state = '{}'")
    assert qa.store.check() == ["read table qa_switching differs from a rebuild of the log"]


def test_a_qa_store_from_before_schema_4_is_filled_from_its_log(site: Site) -> None:
    import sqlite3

    from cellctl.store.schema import MIGRATIONS, _split

    site.controller("qa-01").sign_in_badge("OP-QUINN")
    flow = site.qa_flow(seed="s-old")
    judge(site, flow, "B0", fail_first=1)
    site.make_batch("BX", "POSTER-A3", 20, run_id="R-BX")
    flow.scan("CB:BX")
    flow.scan(site.unit_code(flow.view().sample[0]))
    flow.record_pass(passing(flow))
    path = site.controller("qa-01").store.path
    site.controllers.pop("qa-01").store.close()
    conn = sqlite3.connect(path)
    for statement in [s for m in MIGRATIONS[3:] for s in _split(m)]:
        _create, what, name, *_ = statement.split()
        conn.execute(f"DROP {what} {name}")
    conn.execute("PRAGMA user_version=3")
    conn.commit()
    conn.close()
    resumed = site.qa_flow()
    assert resumed.lot is not None and resumed.lot.batch == "BX"
    assert len(resumed.lot.results) == 1
    assert resumed.book.states  # the rejection of B0 is remembered
    assert_same_as_full_replay(site)
