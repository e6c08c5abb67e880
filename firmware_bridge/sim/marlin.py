"""A Marlin 2.x printer on a pseudo-terminal.

What a host must cope with is here: `N<n> ... *<xor>` lines are checked for line
number and checksum and answered with `Error:...`, `Resend: <n>` and `ok` exactly
as Marlin's queue does (including a repeated, already executed line number);
the serial ring holds 127 bytes; a 16-block planner makes `ok` wait; homing,
dwell and heating block the queue while `echo:busy: processing` keeps the host
patient; `M105`/`M155` temperature reports; `M112` halts the board at once.
Line noise flips one bit of a line, in either direction, with a set probability.
"""

from __future__ import annotations

import math
import random
import re
from collections import deque
from dataclasses import dataclass

from firmware_bridge.sim.wire import SimDevice

RX_CAPACITY = 127
PLANNER_BLOCKS = 16
AMBIENT = 21.0
WORD = re.compile(r"([A-Z])([-+]?(?:\d+\.?\d*|\.\d+))?")


def marlin_checksum(text: str) -> int:
    cs = 0
    for ch in text.encode("ascii", "replace"):
        cs ^= ch
    return cs


@dataclass
class Move:
    target: list[float]
    duration: float


@dataclass
class Command:
    text: str
    number: int | None
    started: bool = False
    until: float | None = None


class MarlinSim(SimDevice):
    kind = "marlin"

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        noise: float = 0.0,
        noise_to_host: float | None = None,
        seed: int = 1,
        busy_interval: float = 2.0,
        heat_rate: float = 20.0,
        **wire: object,
    ) -> None:
        super().__init__(**wire)  # type: ignore[arg-type]  # wire options, checked by the base
        self.time_scale = time_scale
        self.noise_in = noise
        self.noise_out = noise if noise_to_host is None else noise_to_host
        self.rng = random.Random(seed)
        self.busy_interval = busy_interval
        self.heat_rate = heat_rate
        self.pos = [0.0, 0.0, 0.0, 0.0]
        self.executed: list[tuple[int | None, str]] = []
        self.errors_sent = 0
        self.corrupted_in = 0
        self.corrupted_out = 0
        self.overflows = 0
        self.halted = False
        self.last_n = 0
        self.hotend = [AMBIENT, 0.0]
        self.bed = [AMBIENT, 0.0]
        self.auto_report = 0.0
        self.next_report: float | None = None
        self.rx = bytearray()
        self.queue: deque[Command] = deque()
        self.planner: deque[Move] = deque()
        self.move_start = 0.0
        self.busy_at: float | None = None
        self.heat_report_at: float | None = None
        self.absolute = True
        self.feed = 3000.0

    def on_plug(self, t: float) -> None:
        self.send_line("start", t)
        self.send_line("echo:Marlin 2.1.2.1 (cellctl simulator)", t)
        self.send_line("echo:Free Memory: 4211  PlannerBufferBytes: 1232", t)

    # ---- transmit with noise --------------------------------------------------------

    def _garble(self, data: bytes) -> bytes:
        body = bytearray(data)
        for _ in range(16):
            i = self.rng.randrange(len(body))
            flipped = body[i] ^ (1 << self.rng.randrange(7))
            if body[i] not in (0x0A, 0x0D) and flipped not in (0x0A, 0x0D):
                body[i] = flipped
                return bytes(body)
        return data

    def reply(self, text: str, t: float) -> None:
        data = text.encode("ascii", "replace")
        if data and self.noise_out and self.rng.random() < self.noise_out:
            data = self._garble(data)
            self.corrupted_out += 1
        self.send(data + b"\n", t)

    # ---- receive --------------------------------------------------------------------

    def wakes_for(self, byte: int) -> bool:
        return byte in (0x0A, 0x0D)

    def deliver(self, t: float, byte: int) -> None:
        if self.halted:
            return
        if len(self.rx) >= RX_CAPACITY:
            self.overflows += 1
            return
        self.rx.append(byte)
        if byte in (0x0A, 0x0D):
            self._read_lines(t)

    def _read_lines(self, t: float) -> None:
        while len(self.queue) < 4 and not self.halted:
            end = -1
            for i, c in enumerate(self.rx):
                if c in (0x0A, 0x0D):
                    end = i
                    break
            if end < 0:
                break
            raw = bytes(self.rx[:end])
            del self.rx[: end + 1]
            if not raw.strip():
                continue
            if self.noise_in and self.rng.random() < self.noise_in:
                raw = self._garble(raw)
                self.corrupted_in += 1
            self._accept(raw.decode("ascii", "replace").strip(), t)
        self._run_queue(t)

    def _line_error(self, msg: str, t: float) -> None:
        self.errors_sent += 1
        self.reply(f"Error:{msg}, Last Line: {self.last_n}", t)
        self.rx.clear()
        self.reply(f"Resend: {self.last_n + 1}", t)
        self.reply("ok", t)

    def _accept(self, line: str, t: float) -> None:
        number = None
        text = line
        if line.startswith("N"):
            m = re.match(r"N(\d+)\s*(.*)$", line)
            if not m:
                self._line_error("Line Number is not Last Line Number+1", t)
                return
            number = int(m.group(1))
            rest = m.group(2)
            star = rest.rfind("*")
            is_m110 = rest.upper().startswith("M110")
            if star < 0:
                self._line_error("No Checksum with line number", t)
                return
            try:
                cs = int(rest[star + 1 :])
            except ValueError:
                cs = -1
            if cs != marlin_checksum(line[: line.rfind("*")]):
                self._line_error("checksum mismatch", t)
                return
            if number != self.last_n + 1 and not is_m110:
                self._line_error("Line Number is not Last Line Number+1", t)
                return
            self.last_n = number
            text = rest[:star].strip()
        elif "*" in line:
            self._line_error("No Line Number with checksum", t)
            return
        upper = text.upper()
        if upper.startswith("M112"):
            self._kill(t)
            return
        if upper.startswith("M410"):
            self.planner.clear()
            self.queue.clear()
        if upper.startswith("M108"):
            for c in self.queue:
                c.until = t
        self.queue.append(Command(text, number))

    def _kill(self, t: float) -> None:
        self.halted = True
        self.planner.clear()
        self.queue.clear()
        self.rx.clear()
        self.reply("Error:Printer halted. kill() called!", t)

    # ---- timers ---------------------------------------------------------------------

    def next_timer(self) -> float | None:
        if self.halted:
            return None
        times = []
        if self.planner:
            times.append(self.move_start + self.planner[0].duration)
        if self.queue and self.queue[0].until is not None:
            times.append(self.queue[0].until)
        for x in (self.busy_at, self.heat_report_at, self.next_report):
            if x is not None:
                times.append(x)
        return min(times) if times else None

    def advance(self, t: float) -> None:
        while not self.halted:
            nt = self.next_timer()
            if nt is None or nt > t:
                return
            self._update_temps(nt)
            if self.planner and self.move_start + self.planner[0].duration == nt:
                move = self.planner.popleft()
                self.pos = list(move.target)
                self.move_start = nt
            elif self.busy_at == nt:
                self.reply("echo:busy: processing", nt)
                self.busy_at = nt + self.busy_interval
            elif self.heat_report_at == nt:
                self.reply(self._temps(" W:?"), nt)
                self.heat_report_at = nt + 1.0 * self.time_scale
            elif self.next_report == nt:
                self.reply(self._temps(""), nt)
                self.next_report = nt + self.auto_report
            elif self.queue and self.queue[0].until == nt:
                self.queue[0].until = None
                self.queue[0].started = True
            self._run_queue(nt)

    def _update_temps(self, t: float) -> None:
        last = getattr(self, "_temp_t", t)
        dt = max(0.0, t - last) / max(self.time_scale, 1e-9)
        self._temp_t = t
        for heater in (self.hotend, self.bed):
            goal = heater[1] if heater[1] > 0 else AMBIENT
            step = self.heat_rate * dt
            if abs(goal - heater[0]) <= step:
                heater[0] = goal
            else:
                heater[0] += step if goal > heater[0] else -step

    def _temps(self, extra: str) -> str:
        h, b = self.hotend, self.bed
        return f"T:{h[0]:.2f} /{h[1]:.2f} B:{b[0]:.2f} /{b[1]:.2f} @:0 B@:0{extra}"

    # ---- executing --------------------------------------------------------------------

    def _done(self, cmd: Command, t: float, ok: str = "ok") -> None:
        self.queue.popleft()
        self.executed.append((cmd.number, cmd.text))
        self.busy_at = None
        self.heat_report_at = None
        self.reply(ok, t)

    def _run_queue(self, t: float) -> None:
        while self.queue and not self.halted:
            cmd = self.queue[0]
            if not self._execute(cmd, t):
                if self.busy_at is None:
                    self.busy_at = t + self.busy_interval
                return
            if len(self.queue) < 4 and self.rx:
                self._read_lines(t)
                return

    def _words(self, text: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for m in WORD.finditer(text.upper().split(";")[0]):
            out.setdefault(m.group(1), float(m.group(2)) if m.group(2) else 0.0)
        return out

    def _execute(self, cmd: Command, t: float) -> bool:
        text = cmd.text.split(";")[0].strip().upper()
        if not text:
            self._done(cmd, t)
            return True
        head = text.split()[0]
        w = self._words(text[len(head) :])
        if head in ("G0", "G1"):
            if len(self.planner) >= PLANNER_BLOCKS:
                return False
            if "F" in w:
                self.feed = w["F"]
            start = list(self.planner[-1].target) if self.planner else list(self.pos)
            target = list(start)
            for i, axis in enumerate("XYZE"):
                if axis in w:
                    target[i] = w[axis] if self.absolute else start[i] + w[axis]
            dist = math.dist(start[:3], target[:3]) or abs(target[3] - start[3])
            duration = dist / (self.feed / 60.0) * self.time_scale if self.feed > 0 else 0.0
            if not self.planner:
                self.move_start = t
            self.planner.append(Move(target, duration))
            self._done(cmd, t)
            return True
        if head in ("G28", "G4", "M400", "G29"):
            if self.planner:
                return False
            if not cmd.started:
                if cmd.until is None:
                    if head == "G4":
                        secs = w.get("S", 0.0) + w.get("P", 0.0) / 1000.0
                    else:
                        secs = 0.0 if head == "M400" else 3.0
                    cmd.until = t + secs * self.time_scale
                    if cmd.until <= t:
                        cmd.started = True
                if not cmd.started:
                    return False
            if head == "G28":
                self.pos[:3] = [0.0, 0.0, 0.0]
            self._done(cmd, t)
            return True
        if head in ("M109", "M190"):
            heater = self.hotend if head == "M109" else self.bed
            if not cmd.started:
                heater[1] = w.get("S", w.get("R", heater[1]))
                cmd.started = True
                self.heat_report_at = t + 1.0 * self.time_scale
            self._update_temps(t)
            if heater[0] < heater[1] - 0.5:
                return False
            self._done(cmd, t)
            return True
        if head in ("M104", "M140"):
            (self.hotend if head == "M104" else self.bed)[1] = w.get("S", 0.0)
        elif head == "M105":
            self._update_temps(t)
            self._done(cmd, t, "ok " + self._temps(""))
            return True
        elif head == "M155":
            self.auto_report = w.get("S", 0.0) * self.time_scale
            self.next_report = t + self.auto_report if self.auto_report > 0 else None
        elif head == "M114":
            x, y, z, e = self.pos
            self.reply(f"X:{x:.2f} Y:{y:.2f} Z:{z:.2f} E:{e:.2f} Count X:0 Y:0 Z:0", t)
        elif head == "M110":
            self.last_n = int(w.get("N", 0))
        elif head == "G90":
            self.absolute = True
        elif head == "G91":
            self.absolute = False
        elif head == "G92":
            for i, axis in enumerate("XYZE"):
                if axis in w:
                    self.pos[i] = w[axis]
        elif head == "M115":
            self.reply("FIRMWARE_NAME:Marlin 2.1.2.1 (cellctl simulator) PROTOCOL_VERSION:1.0", t)
            self.reply("Cap:AUTOREPORT_TEMP:1", t)
            self.reply("Cap:EMERGENCY_PARSER:1", t)
        elif head not in ("G21", "M82", "M83", "M84", "M106", "M107", "M117", "M410", "M108"):
            self.reply(f'echo:Unknown command: "{cmd.text}"', t)
        self._done(cmd, t)
        return True
