"""The print queue against a QL printer simulated on a real pseudo-terminal."""

from __future__ import annotations

import time

import pytest

from cellctl.config.models import PrinterConfig
from cellctl.domain.codes import decode
from cellctl.labels.backends import DeviceBackend, FolderBackend, open_backend
from cellctl.labels.decode import with_zxing
from cellctl.labels.printer_sim import QLPrinterSim, Roll
from cellctl.labels.queue import PrintQueue
from cellctl.labels.raster import read_back
from cellctl.labels.service import LabelService


def _service(store, sim_or_url, key, tmp_path, **kw):
    url = sim_or_url if isinstance(sim_or_url, str) else sim_or_url.url
    cfg = PrinterConfig(model="QL-820NWB", backend=url, media="62")
    return LabelService(store, cfg, signing_key=key, queue_path=tmp_path / "queue.db", **kw)


def _events(store, etype):
    return [e for e in store.events() if e.type == etype]


def test_a_job_waiting_for_media_survives_a_restart_and_prints_once(
    store, limited_run, key_pair, tmp_path, sim
):
    private = key_pair[0]
    sim.load(None)
    svc = _service(store, sim, private, tmp_path)
    out = svc.print_units(limited_run, 3, "OP-ADA")
    assert out.state == "waiting"
    assert out.message.startswith("No labels loaded")
    assert svc.printer_state().ok is False
    assert sim.jobs == [] and sim.status_requests >= 1
    assert _events(store, "label_printed") == []
    svc.close()  # the station stops with the job in the queue

    sim.load(Roll(62))
    svc = _service(store, sim, private, tmp_path)  # ... and starts again
    assert svc.queue.jobs("waiting")[0].id == out.job_id
    svc.retry()
    assert len(sim.jobs) == 1 and sim.pages_printed == 3
    svc.retry()
    svc.close()
    svc = _service(store, sim, private, tmp_path)
    svc.retry()
    assert len(sim.jobs) == 1, "printed once, never again"
    (event,) = _events(store, "label_printed")
    assert event.payload["serials"] == list(out.serials)
    assert event.payload["job_id"] == out.job_id
    pages = read_back(sim.jobs[0])
    assert [decode(with_zxing(p)[0].text).serial for p in pages] == list(out.serials)
    units = {r[0]: r[6] for r in store.read_tables()["units"]}
    assert all(units[s] == "labelled" for s in out.serials)
    svc.close()


def test_cover_open_then_closed(store, limited_run, key_pair, tmp_path, sim):
    sim.set_cover_open(True)
    svc = _service(store, sim, key_pair[0], tmp_path)
    out = svc.print_units(limited_run, 1, "OP-ADA")
    assert (out.state, out.message) == ("waiting", "The printer cover is open: close it.")
    sim.set_cover_open(False)
    assert svc.retry() is None
    assert len(sim.jobs) == 1
    assert svc.printer_state().message.startswith("Ready: QL-820NWB with 62 mm endless")
    svc.close()


def test_wrong_media_waits_with_a_message(store, limited_run, key_pair, tmp_path, sim):
    sim.load(Roll(62, 100, die_cut=True))
    svc = _service(store, sim, key_pair[0], tmp_path)
    out = svc.print_units(limited_run, 1, "OP-ADA")
    assert out.state == "waiting"
    assert "62 x 100 mm die-cut" in out.message and "needs 62 mm endless" in out.message
    assert sim.jobs == []
    svc.close()


def test_a_printer_that_is_gone_keeps_the_job_waiting(store, limited_run, key_pair, tmp_path):
    missing = "file:///dev/usb/lp-cellctl-test-missing"
    svc = _service(store, missing, key_pair[0], tmp_path)
    assert isinstance(svc.backend, DeviceBackend)
    out = svc.print_units(limited_run, 1, "OP-ADA")
    assert out.state == "waiting" and "check its USB cable" in out.message
    assert svc.printer_state().ok is False
    svc.close()


def _job(queue: PrintQueue, pages=1) -> str:
    return queue.submit(
        b"raster", model="QL-700", media_id="62", template="t", pages=[None] * pages
    )


def test_after_a_crash_while_sending_nothing_prints_twice(tmp_path, sim):
    q = PrintQueue(tmp_path / "q.db")
    folder = FolderBackend(tmp_path / "out")
    arrived, lost = _job(q), _job(q)
    folder.send(arrived, b"raster")  # it reached the folder just before the crash
    for jid in (arrived, lost):
        q._set(jid, "sending", None, attempt=True)
    q.close()

    q = PrintQueue(tmp_path / "q.db")
    q.recover(folder)
    assert q.job(arrived).state == "printed"
    assert q.job(lost).state == "waiting"

    device = open_backend(sim.url)
    unknown = _job(q)
    q._set(lost, "cancelled", None)
    q._set(unknown, "sending", None)
    (note,) = q.recover(device)
    assert "check whether its 1 label(s) came out" in note
    assert q.job(unknown).state == "uncertain"
    q.drain(device)
    assert sim.jobs == [], "an uncertain job is not sent again by itself"
    q.cancel(unknown)
    assert q.job(unknown).state == "cancelled"
    q.close()


def test_the_folder_backend_does_not_wait_for_a_status_reply(
    store, limited_run, key_pair, tmp_path
):
    svc = _service(store, "file://labels-out", key_pair[0], tmp_path, base_dir=tmp_path)
    t0 = time.monotonic()
    out = svc.print_units(limited_run, 2, "OP-ADA")
    assert time.monotonic() - t0 < 3.0
    assert out.printed
    files = sorted(p.name for p in (tmp_path / "labels-out").iterdir())
    assert files == [f"{out.job_id}-001.png", f"{out.job_id}-002.png", f"{out.job_id}.bin"]
    svc.close()


@pytest.mark.parametrize("roll", [Roll(29), None])
def test_status_from_the_simulated_printer(roll):
    with QLPrinterSim(0x35) as sim:
        sim.load(roll)
        status = open_backend(sim.url).status(timeout=2)
    assert status is not None and status.model == "QL-700"
    assert status.media_width_mm == (29 if roll else 0)


def test_a_roll_running_out_mid_job_leaves_the_job_for_a_person(
    store, limited_run, key_pair, tmp_path, sim
):
    sim.labels_left = 1
    svc = _service(store, sim, key_pair[0], tmp_path)
    out = svc.print_units(limited_run, 3, "OP-ADA")
    assert out.state == "uncertain"
    assert "No labels loaded" in out.message and "check which labels came out" in out.message
    assert sim.pages_printed == 1 and sim.jobs == []
    assert [e for e in store.events() if e.type == "label_printed"] == []
    svc.retry()
    assert sim.pages_printed == 1, "an uncertain job waits for a person"
    sim.labels_left = None
    svc.retry_job(out.job_id)
    assert svc.retry() is None
    assert len(sim.jobs) == 1 and sim.pages_printed == 4
    (event,) = [e for e in store.events() if e.type == "label_printed"]
    assert event.payload["job_id"] == out.job_id
    svc.close()
