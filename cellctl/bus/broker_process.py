"""Starting a local Mosquitto for tests, the demo and the chaos suite."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: the broker goes when the demo goes, even on SIGKILL.
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


@dataclass
class Mosquitto:
    """A Mosquitto on a loopback port; restartable on the same port (fault tests)."""

    port: int = field(default_factory=free_port)
    extra_config: str = ""
    workdir: Path | None = None  # None: a temporary folder of its own, removed by stop()
    proc: subprocess.Popen[bytes] | None = None
    die_with_parent: bool = False
    _own_workdir: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="mosq-"))
            self._own_workdir = True

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def config_text(self) -> str:
        return (
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "log_dest stderr\n"
            "max_queued_messages 100000\n"
            # Without it a request/response round trip (site/request) waits ~40 ms per leg
            # for the peer's delayed ACK (Nagle), measured 88 ms against 1 ms.
            "set_tcp_nodelay true\n" + self.extra_config
        )

    def start(self, timeout: float = 10.0) -> Mosquitto:
        exe = mosquitto_path()
        if exe is None:
            raise RuntimeError("mosquitto is not installed (./dev setup installs it)")
        assert self.workdir is not None
        self.workdir.mkdir(parents=True, exist_ok=True)  # again after a stop() removed it
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.config_text())
        log = open(self.workdir / "mosquitto.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [exe, "-c", str(conf)],
            stdout=log,
            stderr=log,
            preexec_fn=_die_with_parent if self.die_with_parent else None,  # noqa: PLW1509
        )
        log.close()  # the broker holds its own copy
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                said = (self.workdir / "mosquitto.log").read_text()[-2000:]
                self.stop()
                raise RuntimeError(f"mosquitto exited: {said}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not accept connections on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self._remove_workdir()

    def _remove_workdir(self) -> None:
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
