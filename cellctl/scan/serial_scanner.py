"""Serial barcode scanners (RS-232 or USB-CDC): one payload per line, CR and/or LF."""

from __future__ import annotations

import threading
from collections.abc import Callable

MAX_LINE = 4096


class SerialScanner:
    """Reads lines in a thread; reopens the port when it goes away."""

    def __init__(
        self,
        port: str,
        on_text: Callable[[str], None],
        baud: int = 9600,
        on_state: Callable[[str, str], None] | None = None,
        retry_s: float = 1.0,
    ) -> None:
        self.port, self.baud = port, baud
        self.origin = f"serial:{port}"
        self.state = "stopped"
        self._on_text = on_text
        self._on_state = on_state
        self._retry_s = retry_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.origin, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._set("stopped", "")

    def _set(self, state: str, detail: str) -> None:
        if state != self.state:
            self.state = state
            if self._on_state:
                self._on_state(state, detail)

    def _run(self) -> None:
        import serial

        while not self._stop.is_set():
            try:
                with serial.serial_for_url(self.port, self.baud, timeout=0.1) as port:
                    self._set("live", f"{self.port} open")
                    self._pump(port)
            except (serial.SerialException, OSError) as exc:
                self._set("reconnecting", f"{self.port}: {exc}")
                self._stop.wait(self._retry_s)

    def _pump(self, port) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            chunk = port.read(256)
            if not chunk:
                continue
            for byte in chunk:
                if byte in (0x0D, 0x0A):
                    if buf:
                        self._emit(bytes(buf))
                        buf.clear()
                elif len(buf) < MAX_LINE:
                    buf.append(byte)

    def _emit(self, raw: bytes) -> None:
        self._on_text(raw.decode("utf-8", errors="replace"))
