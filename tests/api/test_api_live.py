"""The API on a real floor: a real broker, historian and scheduler, uvicorn on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aiomqtt
import httpx
import pytest

from cellctl.api.app import create_app
from cellctl.bus.codec import encode_event
from cellctl.bus.site_request import ask_site
from cellctl.bus.topics import Topics
from cellctl.domain.events import Event
from tests.api.conftest import ENV, HOOK_SECRET, SITE, Floor, auth, serve, site_config
from tests.waiting import wait_until

T = Topics(SITE)
RUN = {"sku": "MUG-FOX", "quantity": 5, "unit_margin": 4.5, "due": "2026-12-24T12:00:00Z",
       "routing": ["cut", "qa"], "title": "Fox mug"}  # fmt: skip


async def test_create_is_idempotent_and_reaches_the_scheduler(floor: Floor) -> None:
    store = floor.scheduler.store
    h = {**auth("planner"), "Idempotency-Key": "order-1001"}
    r1 = await floor.http.post("/runs", json=RUN, headers=h)
    assert r1.status_code == 201, r1.text
    run_id = r1.json()["run_id"]
    await wait_until(lambda: [r["id"] for r in store.runs()] == [run_id], 10, "run queued")
    # The shop retries (a timeout on its side): the same run, no second one.
    r2 = await floor.http.post("/runs", json=RUN, headers=h)
    assert r2.status_code == 200 and r2.json()["run_id"] == run_id
    assert r2.headers["Idempotent-Replayed"] == "true"
    # The same key with another body: refused in one line, nothing sent.
    r3 = await floor.http.post("/runs", json={**RUN, "quantity": 6}, headers=h)
    assert r3.status_code == 409
    assert "different body" in r3.json()["detail"] and "\n" not in r3.json()["detail"]
    # A new key is a new order.
    r4 = await floor.http.post("/runs", json=RUN, headers={**h, "Idempotency-Key": "order-1002"})
    assert r4.status_code == 201 and r4.json()["run_id"] != run_id
    await wait_until(lambda: len(store.runs()) == 2, 10, "second run")
    # Give a stray duplicate time to arrive (the scheduler would have logged it), then count.
    await asyncio.sleep(0.3)
    assert sorted(r["id"] for r in store.runs()) == sorted([run_id, r4.json()["run_id"]])
    assert store.run(run_id)["quantity"] == 5
    listed = (await floor.http.get("/runs", headers=auth("viewer"))).json()["runs"]
    assert {r["run_id"] for r in listed} >= {run_id}


async def test_roles_cancel_and_priority_through_the_scheduler(floor: Floor) -> None:
    store = floor.scheduler.store
    h = {**auth("supervisor"), "Idempotency-Key": "k-roles"}
    run_id = (await floor.http.post("/runs", json={**RUN, "id": "R-ROLES"}, headers=h)).json()[
        "run_id"
    ]
    await wait_until(lambda: any(r["id"] == run_id for r in store.runs()), 10, "queued")
    viewer = await floor.http.post(f"/runs/{run_id}/cancel", headers=auth("viewer"))
    assert viewer.status_code == 403 and "may not cancel" in viewer.json()["detail"]
    planner = await floor.http.post(f"/runs/{run_id}/cancel", headers=auth("planner"))
    assert planner.status_code == 403
    viewer_create = await floor.http.post(
        "/runs", json=RUN, headers={**auth("viewer"), "Idempotency-Key": "v1"}
    )
    assert viewer_create.status_code == 403
    prio = await floor.http.put(
        f"/runs/{run_id}/priority", json={"priority": 7}, headers=auth("planner")
    )
    assert prio.status_code == 202
    await wait_until(lambda: store.run(run_id)["manual_priority"] == 7, 10, "priority set")
    assert store.run(run_id)["status"] in ("queued", "active")
    cancel = await floor.http.post(f"/runs/{run_id}/cancel", headers=auth("supervisor"))
    assert cancel.status_code == 202
    await wait_until(lambda: store.run(run_id)["status"] == "cancelled", 10, "cancelled")
    log = [(action, badge, ok) for _, action, badge, ok, _ in store.command_log()]
    assert log == [("prioritise", "OP-SAM", 1), ("cancel", "OP-SAM", 1)]


class _Hook(BaseHTTPRequestHandler):
    got: list[tuple[bytes, str]] = []
    fail_first = 2

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append((body, self.headers.get("X-Cellctl-Signature", "")))
        ok = len(type(self).got) > type(self).fail_first
        self.send_response(200 if ok else 500)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


async def test_status_trace_sku_and_done_webhook(mosquitto, tmp_path: Path) -> None:
    """A run made by a cell: its status, trace and SKU figures come from the historian;
    when its last step is done the shop gets a signed webhook (after two failures) and
    an MQTT event."""
    from cellctl.historian.answers import SiteContext
    from cellctl.historian.backends import open_store
    from cellctl.historian.service import Historian

    _Hook.got = []
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    site = site_config(mosquitto.url, tmp_path, f"http://127.0.0.1:{hook.server_port}/h")
    historian = Historian(open_store(str(tmp_path / "h.db")), context=SiteContext(site_id=SITE),
                          mqtt=site.mqtt)  # fmt: skip
    await historian.start()
    await historian.wait_connected()
    app = create_app(site, None, environ=ENV)
    app.state.api.notifier.first_delay_s = 0.05
    served = await serve(app)
    http = httpx.AsyncClient(base_url=served.base, timeout=10)
    cell = "qa-01"
    serials = ["FOX0001", "FOX0002"]
    a = {"run_id": "R-FOX", "step": 0, "kind": "qa", "sku": "MUG-FOX", "next_kind": None,
         "submitted_at": "2026-12-01T08:00:00.000Z", "quantity": 2}  # fmt: skip
    evs = [
        Event("assignment_accepted", cell, {"run_id": "R-FOX", "step": 0, "assignment": a},
              "OP-ADA", time="2026-12-01T09:00:00.000Z", seq=1),
        Event("run_step_started", cell, {"run_id": "R-FOX", "step": 0}, "OP-ADA",
              time="2026-12-01T09:30:00.000Z", seq=2),
        Event("serials_allocated", cell, {"scope": "R-FOX", "first": serials[0], "count": 2,
              "serials": serials, "batch": "B-FOX", "sku": "MUG-FOX", "run_id": "R-FOX"},
              time="2026-12-01T09:31:00.000Z", seq=3),
        Event("units_counted", cell, {"run_id": "R-FOX", "step": 0, "good": 2, "scrap": 1},
              "OP-ADA", time="2026-12-01T10:00:00.000Z", seq=4),
        Event("defect_recorded", cell, {"run_id": "R-FOX", "code": "SCRATCH",
              "severity": "minor"}, "OP-ADA", time="2026-12-01T10:01:00.000Z", seq=5),
        Event("run_step_completed", cell, {"run_id": "R-FOX", "step": 0}, "OP-ADA",
              time="2026-12-01T11:00:00.000Z", seq=6),
    ]  # fmt: skip
    try:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.subscribe(f"{T.base}/api/events", qos=1)
            for e in evs:
                await client.publish(T.cell_events(cell), encode_event(e), qos=1)
            async with asyncio.timeout(10):
                async for message in client.messages:
                    notice = json.loads(message.payload)
                    break
        assert (notice["event"], notice["run_id"]) == ("run_done", "R-FOX")
        await wait_until(lambda: historian.store.count() == 6, 10, "historian stored")
        run = (await http.get("/runs/R-FOX", headers=auth("viewer"))).json()
        assert run["status"] == "done" and run["sku"] == "MUG-FOX"
        assert run["counts"] == {"0": {"good": 2, "scrap": 1}}
        assert run["done"].startswith("2026-12-01T11:00")
        # Asked again: the kept answer. A count on the run drops it; the next ask is new.
        cache = app.state.api.cache
        hits, dropped = cache.stats.hits, cache.stats.dropped
        assert (await http.get("/runs/R-FOX", headers=auth("viewer"))).json() == run
        assert cache.stats.hits == hits + 1
        late = Event("units_counted", cell, {"run_id": "R-FOX", "step": 0, "good": 1,
                     "scrap": 0}, "OP-ADA", time="2026-12-01T11:05:00.000Z", seq=7)  # fmt: skip
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.publish(T.cell_events(cell), encode_event(late), qos=1)
        await wait_until(lambda: historian.store.count() == 7, 10, "historian stored the count")
        await wait_until(lambda: cache.stats.dropped > dropped, 10, "the API heard the count")
        again = (await http.get("/runs/R-FOX", headers=auth("viewer"))).json()
        assert again["counts"] == {"0": {"good": 3, "scrap": 1}}
        unit = (await http.get("/trace/FOX0002", headers=auth("viewer"))).json()
        assert (unit["serial"], unit["batch"], unit["runs"]) == ("FOX0002", "B-FOX", ["R-FOX"])
        batch = (await http.get("/batches/B-FOX", headers=auth("viewer"))).json()
        assert batch["serials"] == serials
        unknown = await http.get("/trace/NOPE-1", headers=auth("viewer"))
        assert unknown.status_code == 404 and "neither a serial nor a batch" in unknown.text
        missing = await http.get("/runs/R-NONE", headers=auth("viewer"))
        assert missing.status_code == 404
        # The SKU table over the bus: lead 3 h (submitted 08:00 -> done 11:00).
        sku = await ask_site(site.mqtt, SITE, "sku", {"from": "2026-12-01", "to": "2026-12-02"})
        row = sku["sku"][0]
        assert (row["sku"], row["lead_p50_s"], row["wait_p50_s"]) == ("MUG-FOX", 10800.0, 5400.0)
        assert row["yield"] == pytest.approx(3 / 4, abs=1e-4)  # with the late count
        assert sku["sku_scrap"][0]["code"] == "SCRATCH"
        # The webhook: failed twice (500), delivered on the third try, signed.
        notifier = app.state.api.notifier
        await wait_until(lambda: notifier.delivered == 1, 10, "webhook delivered")
        assert len(_Hook.got) == 3
        body, signature = _Hook.got[-1]
        want = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(signature, want)
        assert json.loads(body)["event"] == "run_done"
        # Seen again (a re-sent event): noticed once only.
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.publish(T.cell_events(cell), encode_event(evs[-1]), qos=1)
        await asyncio.sleep(0.3)
        assert len(_Hook.got) == 3
    finally:
        await http.aclose()
        await served.stop()
        await historian.stop()
        historian.store.close()
        hook.shutdown()


async def test_historian_away_is_504_and_broker_away_is_503(mosquitto, tmp_path: Path) -> None:
    site = site_config(mosquitto.url, tmp_path / "a")
    served = await serve(create_app(site, None, environ=ENV, timeout_s=0.5))
    try:
        async with httpx.AsyncClient(base_url=served.base) as http:
            r = await http.get("/runs/R-1", headers=auth("viewer"))
            assert r.status_code == 504
            assert "did not answer within 0.5 s" in r.json()["detail"]
            t = await http.get("/trace/FOX0001", headers=auth("viewer"))
            assert t.status_code == 504
    finally:
        await served.stop()
    dead = site_config("mqtt://127.0.0.1:9", tmp_path / "b")
    app = create_app(dead, None, environ=ENV)
    served = await serve(app)
    try:
        async with httpx.AsyncClient(base_url=served.base) as http:
            h = {**auth("planner"), "Idempotency-Key": "k-dead"}
            r = await http.post("/runs", json=RUN, headers=h)
            assert r.status_code == 503 and "cannot reach the broker" in r.json()["detail"]
            assert app.state.api.idem.runs() == []  # the key is free for the retry
            g = await http.get("/runs/R-1", headers=auth("viewer"))
            assert g.status_code == 503
    finally:
        await served.stop()


async def test_a_held_run_is_announced_once(floor: Floor) -> None:
    """QA holds the batch of a run made through the API: the scheduler's queue lists the
    run as held, the API says so on its events topic (once) and in the run's status."""
    h = {**auth("planner"), "Idempotency-Key": "k-held"}
    body = {**RUN, "id": "R-HELD", "batch": "B-HELD"}
    assert (await floor.http.post("/runs", json=body, headers=h)).status_code == 201
    store = floor.scheduler.store
    await wait_until(lambda: any(r["id"] == "R-HELD" for r in store.runs()), 10, "queued")
    held = Event("batch_held", "qa-01", {"batch": "B-HELD", "reason": "scratches"}, "OP-SAM",
                 seq=1)  # fmt: skip
    notices = []
    async with aiomqtt.Client("127.0.0.1", floor.broker.port) as client:
        await client.subscribe(f"{T.base}/api/events", qos=1)
        await client.publish(T.cell_events("qa-01"), encode_event(held), qos=1)
        async with asyncio.timeout(15):
            async for message in client.messages:
                notices.append(json.loads(message.payload))
                break
        # A later snapshot (after a priority change) still lists it: no second notice.
        bus = floor.api.app.state.api.bus  # type: ignore[attr-defined]
        before = bus.queue["time"]
        r = await floor.http.put("/runs/R-HELD/priority", json={"priority": 3},
                                 headers=auth("planner"))  # fmt: skip
        assert r.status_code == 202
        await wait_until(lambda: bus.queue["time"] != before, 10, "a new queue snapshot")
        assert "R-HELD" in bus.queue["held"]
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                async for message in client.messages:
                    notices.append(json.loads(message.payload))
    assert [(n["event"], n["run_id"]) for n in notices] == [("run_held", "R-HELD")]
    run = (await floor.http.get("/runs/R-HELD", headers=auth("viewer"))).json()
    assert run["status"] == "held" and run["held"] is True


async def test_retries_never_make_two_runs(floor: Floor) -> None:
    """Ten copies of one order at once, and a retry after the API died between keeping
    the key and the broker taking the run: one run each."""
    from cellctl.api.idempotency import body_hash
    from cellctl.api.models import RunIn

    store = floor.scheduler.store
    h = {**auth("planner"), "Idempotency-Key": "burst-1"}
    answers = await asyncio.gather(*(floor.http.post("/runs", json=RUN, headers=h)
                                     for _ in range(10)))  # fmt: skip
    assert sorted(r.status_code for r in answers) == [200] * 9 + [201]
    ids = {r.json()["run_id"] for r in answers}
    assert len(ids) == 1
    await wait_until(lambda: len(store.runs()) == 1, 10, "the run queued")
    assert floor.scheduler.dropped == 0  # published once: no copy for it to refuse
    # The crash: the key was kept (pending) with its run id, nothing was published.
    idem = floor.api.app.state.api.idem  # type: ignore[attr-defined]
    fields = RunIn.model_validate({**RUN, "title": "crashed"}).model_dump(mode="json")
    idem.reserve("webshop", "crash-1", body_hash(fields), "R-CRASH", fields, "2026-12-04T00:00Z")
    again = {**auth("planner"), "Idempotency-Key": "crash-1"}
    r = await floor.http.post("/runs", json={**RUN, "title": "crashed"}, headers=again)
    assert r.status_code == 200 and r.json()["run_id"] == "R-CRASH"
    await wait_until(lambda: len(store.runs()) == 2, 10, "both runs queued")
    await asyncio.sleep(0.3)  # a stray duplicate would have arrived by now
    assert sorted(x["id"] for x in store.runs()) == sorted([*ids, "R-CRASH"])
    assert store.run("R-CRASH")["title"] == "crashed"
