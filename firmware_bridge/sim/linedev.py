"""A heat press speaking the cellctl line protocol (PROTOCOL.md), like the reference sketch."""

from __future__ import annotations

import random

from firmware_bridge.lineproto import PROTOCOL_VERSIONS, FrameError, frame, parse, unframe
from firmware_bridge.sim.wire import SimDevice

FW_VERSION = "1.0.0"


class LineDeviceSim(SimDevice):
    kind = "line"

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        device: str = "heatpress",
        serial_no: str = "HP-0001",
        noise: float = 0.0,
        seed: int = 1,
        **wire: object,
    ) -> None:
        super().__init__(**wire)  # type: ignore[arg-type]  # wire options, checked by the base
        self.time_scale = time_scale
        self.device = device
        self.serial_no = serial_no
        self.noise = noise
        self.rng = random.Random(seed)
        self.rx = bytearray()
        self.state = "IDLE"
        self.count = 0
        self.settings: dict[str, str] = {"dwell": "2.0", "temp": "180"}
        self.cycles_left = 0
        self.cycle_end: float | None = None
        self.fault: tuple[int, str] | None = None
        self.interlock_open = False
        self.last_seq = 0
        self.last_reply = b""
        self.eseq = 0
        self.executed: list[str] = []
        self.crc_errors = 0

    def on_plug(self, t: float) -> None:
        lo, hi = PROTOCOL_VERSIONS
        self.event(f"BOOT proto={lo}-{hi} dev={self.device} fw={FW_VERSION}", t)

    def event(self, text: str, t: float) -> None:
        self.eseq += 1
        self.send(frame(f"! {self.eseq} {text}"), t)

    def wakes_for(self, byte: int) -> bool:
        return byte == 0x0A

    def deliver(self, t: float, byte: int) -> None:
        if byte != 0x0A:
            if len(self.rx) < 127:
                self.rx.append(byte)
            return
        raw = bytes(self.rx)
        self.rx.clear()
        if self.noise and raw and self.rng.random() < self.noise:
            i = self.rng.randrange(len(raw))
            raw = raw[:i] + bytes([raw[i] ^ 0x04]) + raw[i + 1 :]
        self._handle(raw, t)

    def _handle(self, raw: bytes, t: float) -> None:
        try:
            msg = parse(unframe(raw))
        except FrameError as exc:
            self.crc_errors += 1
            code = 2 if "long" in str(exc) else 1
            self.send(frame(f"0 ERR {code} {str(exc).replace(' ', '_')}"), t)
            return
        if msg.seq == self.last_seq and self.last_reply:
            self.send(self.last_reply, t)  # a repeat after a lost reply: answer, do not redo
            return
        reply = self._command(msg.word, msg.args, t)
        self.last_seq = msg.seq
        self.last_reply = frame(f"{msg.seq} {reply}")
        self.send(self.last_reply, t)

    def _command(self, verb: str, args: list[str], t: float) -> str:
        self.executed.append(" ".join([verb, *args]))
        kv = dict(a.split("=", 1) for a in args if "=" in a)
        if verb == "HELLO":
            try:
                lo, hi = (int(x) for x in (args[0].split("-") if args else ["1", "1"]))
            except ValueError:
                return "ERR 4 bad_version_range"
            if hi < PROTOCOL_VERSIONS[0] or lo > PROTOCOL_VERSIONS[1]:
                return "ERR 8 no_common_version"
            proto = min(hi, PROTOCOL_VERSIONS[1])
            return f"OK proto={proto} dev={self.device} fw={FW_VERSION} id={self.serial_no}"
        if verb == "PING":
            return "OK"
        if verb == "ID":
            return f"OK dev={self.device} fw={FW_VERSION} id={self.serial_no}"
        if verb == "STATUS":
            fault = f" fault={self.fault[0]}" if self.fault else ""
            return (
                f"OK state={self.state} count={self.count} cycles_left={self.cycles_left} "
                f"dwell={self.settings['dwell']} temp={self.settings['temp']}{fault}"
            )
        if verb == "COUNT":
            if args and args[0].upper() == "RESET":
                if self.state == "RUNNING":
                    return "ERR 5 running"
                self.count = 0
            return f"OK count={self.count}"
        if verb == "GET":
            if not args or args[0] not in self.settings:
                return "ERR 4 unknown_setting"
            return f"OK {args[0]}={self.settings[args[0]]}"
        if verb == "SET":
            if not kv or any(k not in self.settings for k in kv):
                return "ERR 4 unknown_setting"
            try:
                [float(v) for v in kv.values()]
            except ValueError:
                return "ERR 4 not_a_number"
            if self.state == "RUNNING":
                return "ERR 5 running"
            self.settings.update(kv)
            return "OK " + " ".join(f"{k}={v}" for k, v in kv.items())
        if verb == "START":
            if self.fault:
                return "ERR 7 fault_active"
            if self.interlock_open:
                return "ERR 6 interlock_open"
            if self.state == "RUNNING":
                return "ERR 5 already_running"
            try:
                cycles = int(kv.get("cycles", "1"))
            except ValueError:
                return "ERR 4 cycles_not_a_number"
            if cycles < 1:
                return "ERR 4 cycles_below_1"
            self.cycles_left = cycles
            self.state = "RUNNING"
            self.cycle_end = t + float(self.settings["dwell"]) * self.time_scale
            self.event("STATE state=RUNNING", t)
            return f"OK cycles={cycles}"
        if verb == "STOP":
            was = self.state
            if self.state == "RUNNING":
                self.state = "IDLE"
                self.cycles_left = 0
                self.cycle_end = None
                self.event("STATE state=IDLE", t)
            return f"OK was={was}"
        if verb == "CLEAR":
            if self.fault:
                self.fault = None
                self.state = "IDLE"
                self.event("STATE state=IDLE", t)
            return "OK"
        return "ERR 3 unknown_command"

    def inject_fault(self, code: int = 1, text: str = "overtemperature") -> None:
        with self.lock:
            t = self.now()
            self.fault = (code, text)
            self.state = "FAULT"
            self.cycles_left = 0
            self.cycle_end = None
            self.event(f"FAULT code={code} text={text}", t)
        self._poke()

    def next_timer(self) -> float | None:
        return self.cycle_end

    def advance(self, t: float) -> None:
        while self.cycle_end is not None and self.cycle_end <= t:
            now = self.cycle_end
            self.count += 1
            self.cycles_left -= 1
            self.event(f"CYCLE count={self.count}", now)
            if self.cycles_left > 0:
                self.cycle_end = now + float(self.settings["dwell"]) * self.time_scale
            else:
                self.cycle_end = None
                self.state = "IDLE"
                self.event("STATE state=IDLE", now)
