"""The serial link on other URL kinds, reconnect, the log, and the command line."""

from __future__ import annotations

import json
import socket
import threading

from cellctl.cli import main
from firmware_bridge import SerialLink
from firmware_bridge.link import LogEntry
from firmware_bridge.machine import wait_for
from firmware_bridge.sim import make_sim
from tests.bridge.conftest import cam_lines


async def test_loop_url_echoes_lines_and_logs_them(tmp_path) -> None:
    debug = tmp_path / "serial.log"
    link = SerialLink("loop://", 115_200, reconnect=False, debug_log=debug)
    got: list[str] = []
    link.on_line = got.append
    await link.open()
    link.write(b"G1 X1\nG1 X2\n")
    assert await wait_for(lambda: got == ["G1 X1", "G1 X2"], 2.0)
    await link.close()
    text = debug.read_text()
    assert "> G1 X1" in text and "< G1 X2" in text
    assert [e.direction for e in link.log if e.text == "G1 X1"] == [">", "<"]


async def test_socket_url_detects_the_peer_closing() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    conns: list[socket.socket] = []
    threading.Thread(target=lambda: conns.append(server.accept()[0]), daemon=True).start()
    link = SerialLink(f"socket://127.0.0.1:{port}", reconnect=False)
    downs: list[str] = []
    got: list[str] = []
    link.on_down = downs.append
    link.on_line = got.append
    await link.open()
    assert await wait_for(lambda: bool(conns), 2.0)
    conns[0].sendall(b"ok\n")
    assert await wait_for(lambda: got == ["ok"], 2.0)
    conns[0].close()
    assert await wait_for(lambda: bool(downs), 3.0)
    assert not link.up
    await link.close()
    server.close()


async def test_reconnects_with_backoff_when_the_device_comes_back() -> None:
    sim = make_sim("grbl", time_scale=0.0).start()
    try:
        link = SerialLink(sim.path, backoff=(0.05, 0.4))
        ups: list[int] = []
        link.on_up = lambda: ups.append(1)
        await link.open()
        sim.unplug()
        assert await wait_for(lambda: not link.up, 3.0)

        def failures() -> list[LogEntry]:
            return [e for e in link.log if e.text.startswith("reconnect failed")]

        # Several failed attempts while unplugged, each logged with its reason...
        assert await wait_for(lambda: len(failures()) >= 2, 3.0), list(link.log)[-5:]
        assert all(e.direction == "!" and sim.path in e.text for e in failures())
        # ...spaced by a growing back-off (0.05 s, then 0.1 s, capped at 0.4 s).
        first, second = failures()[:2]
        assert second.time - first.time >= 0.1 * 0.9
        assert not link.up and len(ups) == 1
        sim.plug()
        assert await wait_for(lambda: link.up, 3.0)
        assert len(ups) == 2
        await link.close()
    finally:
        sim.stop()


def test_cli_stream_json_summary(tmp_path, capsys) -> None:
    job = tmp_path / "job.nc"
    job.write_text("\n".join(cam_lines(150)) + "\n")
    rc = main(["machine", "stream", "--driver", "grbl", "--port", "sim://grbl?time_scale=0.01",
               str(job), "--json"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["lines_sent"] == out["lines_acknowledged"] == 150
    assert out["errors"] == [] and out["alarms"] == []
    assert out["final_status"].startswith("<Idle|MPos:")


def test_cli_stream_reports_alarm_codes(tmp_path, capsys) -> None:
    job = tmp_path / "job.nc"
    job.write_text("\n".join(cam_lines(150)) + "\n")
    rc = main(["machine", "stream", "--driver", "grbl", "--port",
               "sim://grbl?time_scale=0.01&alarm_after_lines=40", str(job), "--json"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert rc == 1
    assert out["lines_acknowledged"] == 40
    assert out["alarms"][0]["code"] == 1
    assert out["final_status"].startswith("<Alarm")


def test_cli_rejects_a_bad_file_naming_the_line(tmp_path, capsys) -> None:
    job = tmp_path / "job.nc"
    job.write_text("G21\nG1 X1 F100\nG1 X2 ~\n")
    rc = main(["machine", "stream", "--driver", "grbl", "--port", "sim://grbl", str(job)])
    assert rc == 1
    assert "line 3" in capsys.readouterr().err


def test_cli_marlin_stream_text_summary(tmp_path, capsys) -> None:
    job = tmp_path / "print.gcode"
    job.write_text("G28\nM104 S30\n" + "\n".join(cam_lines(40)[2:]) + "\n")
    rc = main(["machine", "stream", "--driver", "marlin", "--port",
               "sim://marlin?time_scale=0.01", str(job)])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0 and "acknowledged 40 of 40" in out and "X:" in out


def test_a_refused_job_leaves_no_simulator_folder(tmp_path, monkeypatch) -> None:
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    job = tmp_path / "job.nc"
    job.write_text("G21\nG1 X2 ~\n")
    assert main(["machine", "stream", "--driver", "grbl", "--port", "sim://grbl", str(job)]) == 1
    assert list(scratch.iterdir()) == []
