"""A GRBL 1.1 controller on a pseudo-terminal.

Faithful where a sender can tell the difference: the serial receive ring holds
127 bytes and drops what arrives when it is full (as the AVR's ISR does, which
corrupts the line it lands in); real-time bytes are picked out before the ring;
a 15-block planner blocks the line reader when full, so `ok` comes only once the
line is planned; `$` commands and dwells wait for the planner to empty; writing
settings memory (EEPROM) blinds the serial port for a moment; feed hold, cycle
start, soft reset and alarms behave as GRBL documents them. The main loop takes
bytes out of the ring into its line buffer as they arrive (dropping spaces), so
while it is not blocked a line longer than the ring still gets in. Opening the
port resets the board, as DTR does to an Uno: position zero, buffers empty, banner.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field

from firmware_bridge.sim.wire import SimDevice

RX_CAPACITY = 127  # a 128-slot ring buffer holds 127 bytes
PLANNER_BLOCKS = 15
LINE_MAX = 80
HOLD_DECEL_S = 0.05
EEPROM_BLIND_S = 0.02
BANNER = "Grbl 1.1h ['$' for help]"
REALTIME = {ord("?"), ord("!"), ord("~"), 0x18}
WORD = re.compile(r"([A-Z])([-+]?(?:\d+\.?\d*|\.\d+))")

DEFAULT_SETTINGS: dict[int, float] = {
    0: 10, 1: 25, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 10: 3, 11: 0.010, 12: 0.002, 13: 0,
    20: 0, 21: 0, 22: 0, 23: 0, 24: 25.0, 25: 500.0, 26: 250, 27: 1.0, 30: 1000, 31: 0,
    32: 0, 100: 250.0, 101: 250.0, 102: 250.0, 110: 10000.0, 111: 10000.0, 112: 5000.0,
    120: 10.0, 121: 10.0, 122: 10.0, 130: 200.0, 131: 200.0, 132: 200.0,
}  # fmt: skip


@dataclass
class Block:
    origin: list[float]
    target: list[float]
    remaining: float
    feed: float


@dataclass
class Action:
    kind: str  # motion | sync | reply | error
    line: str
    code: int = 0
    target: list[float] = field(default_factory=list)
    duration: float = 0.0
    feed: float = 0.0
    dwell: float = 0.0
    replies: list[str] = field(default_factory=list)
    effect: object = None
    eeprom: bool = False
    started: bool = False


class GrblSim(SimDevice):
    kind = "grbl"

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        homing: bool = False,
        alarm_after_lines: int | None = None,
        lose_ok: set[int] | None = None,
        **wire: object,
    ) -> None:
        super().__init__(**wire)  # type: ignore[arg-type]  # wire options, checked by the base
        self.time_scale = time_scale
        self.settings = dict(DEFAULT_SETTINGS)
        if homing:
            self.settings[22] = 1
        self.alarm_after_lines = alarm_after_lines
        self.lose_ok = set(lose_ok or ())
        self.mpos = [0.0, 0.0, 0.0]
        self.wco = [0.0, 0.0, 0.0]
        self.executed: list[str] = []
        self.overflows = 0
        self.bytes_lost_eeprom = 0
        self.oks_sent = 0
        self.max_rx_used = 0
        self.resets = 0
        self._reports = 0
        self._reset_state(0.0, power_on=True)

    def stats(self) -> dict[str, float]:
        return {
            **super().stats(),
            "rx_overflows": self.overflows,
            "rx_max_used": self.max_rx_used,
            "lines_executed": len(self.executed),
        }

    # ---- state ---------------------------------------------------------------------

    def _reset_state(self, t: float, power_on: bool = False) -> None:
        self.rx = bytearray()
        self.linebuf = bytearray()
        self.line_overflow = False
        self.pending: Action | None = None
        self.planner: deque[Block] = deque()
        self.cur_start = t
        self.hold = False
        self.hold_until: float | None = None
        self.dwell_until: float | None = None
        self.home_until: float | None = None
        self.critical = False
        self.eeprom_until = 0.0
        self.absolute = True
        self.inches = False
        self.motion = 0
        self.feed = 0.0
        self.spindle = 0.0
        if power_on:
            self.state = "Alarm" if self.settings[22] else "Idle"

    def on_host_open(self, t: float) -> None:
        # DTR resets the AVR: what it counted and queued is gone; settings and the
        # work offsets live in EEPROM and stay.
        self.resets += 1
        self.mpos = [0.0, 0.0, 0.0]
        self._reset_state(t, power_on=True)
        self.send_line("", t)
        self.send_line(BANNER, t)
        if self.state == "Alarm":
            self.send_line("[MSG:'$H'|'$X' to unlock]", t)

    def on_unplug(self, t: float) -> None:
        # The board keeps power: it finishes what it planned, then starves.
        self.rx.clear()
        self.linebuf.clear()

    @property
    def status_name(self) -> str:
        if self.hold:
            return "Hold:1" if self.hold_until is not None else "Hold:0"
        return self.state

    def position(self, t: float) -> list[float]:
        if self.state == "Run" and not self.hold and self.planner:
            b = self.planner[0]
            done = (t - self.cur_start) / b.remaining if b.remaining > 0 else 1.0
            frac = min(1.0, max(0.0, done))
            return [o + (g - o) * frac for o, g in zip(b.origin, b.target, strict=True)]
        if self.planner and self.hold:
            return list(self.planner[0].origin)
        return list(self.mpos)

    def status_report(self, t: float) -> str:
        pos = self.position(t)
        mask = int(self.settings[10])
        if mask & 1:
            parts = ["MPos:" + ",".join(f"{v:.3f}" for v in pos)]
        else:
            parts = ["WPos:" + ",".join(f"{p - w:.3f}" for p, w in zip(pos, self.wco, strict=True))]
        if mask & 2:
            parts.append(f"Bf:{PLANNER_BLOCKS - len(self.planner)},{RX_CAPACITY - len(self.rx)}")
        feed = self.planner[0].feed if self.planner and self.state == "Run" else 0.0
        parts.append(f"FS:{feed:.0f},{self.spindle:.0f}")
        if self._reports % 10 == 0:
            parts.append("WCO:" + ",".join(f"{v:.3f}" for v in self.wco))
        elif self._reports % 10 == 1:
            parts.append("Ov:100,100,100")
        self._reports += 1
        return "<" + "|".join([self.status_name, *parts]) + ">"

    # ---- bytes arriving --------------------------------------------------------------

    def wakes_for(self, byte: int) -> bool:
        return byte == 0x0A or byte == 0x0D or byte in REALTIME or byte >= 0x80

    def deliver(self, t: float, byte: int) -> None:
        if byte in REALTIME or byte >= 0x80:
            self._realtime(t, byte)
            return
        if t < self.eeprom_until:
            self.bytes_lost_eeprom += 1
            return
        if len(self.rx) >= RX_CAPACITY:
            self.overflows += 1
            return
        self.rx.append(byte)
        self.max_rx_used = max(self.max_rx_used, len(self.rx))
        self._pump(t)

    def _realtime(self, t: float, byte: int) -> None:
        if byte == ord("?"):
            self.send_line(self.status_report(t), t)
        elif byte == ord("!"):
            if self.state == "Idle" and not self.hold:
                # GRBL 1.1 holds even when idle: lines planned meanwhile wait for `~`.
                self.hold = True
                self.hold_until = None
            elif self.state == "Run" and not self.hold:
                if self.planner:
                    b = self.planner[0]
                    b.origin = self.position(t)
                    b.remaining = max(0.0, b.remaining - (t - self.cur_start))
                self.hold = True
                self.hold_until = t + HOLD_DECEL_S
        elif byte == ord("~"):
            if self.hold:
                self.hold = False
                self.hold_until = None
                self.cur_start = t
                if not self.planner:
                    self.state = "Idle"
                self._pump(t)
        elif byte == 0x18:
            self._soft_reset(t)
        elif byte == 0x85 and self.state == "Jog":
            self.planner.clear()
            self.state = "Idle"

    def _soft_reset(self, t: float) -> None:
        self.resets += 1
        moving = (self.state == "Run" and not self.hold) or self.state == "Home"
        if moving:
            self.mpos = self.position(t)
            self.send_line("ALARM:3" if self.state == "Run" else "ALARM:6", t)
        elif self.planner and self.hold:
            self.mpos = list(self.planner[0].origin)
        was_alarm = self.state == "Alarm"
        self._reset_state(t)
        self.state = "Alarm" if (moving or was_alarm) else "Idle"
        self.send_line("", t)
        self.send_line(BANNER, t)
        if self.state == "Alarm":
            self.send_line("[MSG:'$H'|'$X' to unlock]", t)

    def inject_reset(self) -> None:
        """The board resets by itself (brown-out, watchdog, someone pressed reset)."""
        with self.lock:
            self._soft_reset(self.now())
        self._poke()

    def inject_alarm(self, code: int = 1) -> None:
        """A limit switch trips (or similar): stop dead, alarm, wait for a reset."""
        with self.lock:
            t = self.now()
            self._raise_alarm(t, code)
        self._poke()

    def _raise_alarm(self, t: float, code: int) -> None:
        self.mpos = self.position(t)
        self.planner.clear()
        self.hold = False
        self.hold_until = None
        self.pending = None
        self.state = "Alarm"
        self.critical = True
        self.send_line(f"ALARM:{code}", t)
        self.send_line("[MSG:Reset to continue]", t)

    # ---- timers --------------------------------------------------------------------

    def next_timer(self) -> float | None:
        times = []
        if self.hold_until is not None:
            times.append(self.hold_until)
        if self.state == "Run" and not self.hold and self.planner:
            times.append(self.cur_start + self.planner[0].remaining)
        if self.dwell_until is not None:
            times.append(self.dwell_until)
        if self.home_until is not None:
            times.append(self.home_until)
        return min(times) if times else None

    def advance(self, t: float) -> None:
        while True:
            nt = self.next_timer()
            if nt is None or nt > t:
                return
            if self.hold_until is not None and nt == self.hold_until:
                self.hold_until = None
            elif self.dwell_until is not None and nt == self.dwell_until:
                self.dwell_until = None
            elif self.home_until is not None and nt == self.home_until:
                self.home_until = None
                self.mpos = [0.0, 0.0, 0.0]
                self.state = "Idle"
            else:
                b = self.planner.popleft()
                self.mpos = list(b.target)
                self.cur_start = nt
                if not self.planner:
                    self.state = "Idle"
            self._pump(nt)

    # ---- the main loop: read lines, plan them --------------------------------------

    def _pump(self, t: float) -> None:
        while True:
            if self.critical or self.home_until is not None:
                return
            if self.pending is not None:
                if not self._try_exec(self.pending, t):
                    return
                self.pending = None
                if self.critical:
                    return
            line = self._read_line()
            if line is None:
                return
            self.pending = self._parse(line)

    def _read_line(self) -> str | None:
        while self.rx:
            c = self.rx.pop(0)
            if c in (0x0A, 0x0D):
                if not self.linebuf and not self.line_overflow:
                    continue
                if self.line_overflow:
                    self.linebuf.clear()
                    self.line_overflow = False
                    return "\x00overflow"
                text = self.linebuf.decode("ascii", "replace")
                self.linebuf.clear()
                return text
            if c in (0x20, 0x09):
                continue
            if len(self.linebuf) >= LINE_MAX - 1:
                self.line_overflow = True
                continue
            self.linebuf.append(c)
        return None

    def _ok(self, t: float, action: Action) -> None:
        self.oks_sent += 1
        for r in action.replies:
            self.send_line(r, t)
        if self.oks_sent not in self.lose_ok:
            self.send_line("ok", t)

    def _try_exec(self, a: Action, t: float) -> bool:
        if a.kind == "error":
            self.send_line(f"error:{a.code}", t)
            return True
        if a.kind == "motion":
            if len(self.planner) >= PLANNER_BLOCKS:
                return False
            origin = list(self.planner[-1].target) if self.planner else list(self.mpos)
            self.planner.append(Block(origin, a.target, a.duration, a.feed))
            if self.state == "Idle":
                self.state = "Run"
                self.cur_start = t
            self.executed.append(a.line)
            self._ok(t, a)
            self._after_line(t)
            return True
        if a.kind == "sync":
            if not a.started:
                if self.planner or self.hold:
                    return False
                a.started = True
                if callable(a.effect):
                    a.effect(t)
                if a.eeprom:
                    # The AVR writes EEPROM with interrupts off: the port is deaf until done.
                    self.eeprom_until = t + EEPROM_BLIND_S
                    self.dwell_until = self.eeprom_until
                    return False
                if a.dwell > 0:
                    self.dwell_until = t + a.dwell
                    return False
                if self.home_until is not None:
                    return False
            elif self.dwell_until is not None or self.home_until is not None:
                return False
            self.executed.append(a.line)
            self._ok(t, a)
            self._after_line(t)
            return True
        if callable(a.effect):
            a.effect(t)
        self.executed.append(a.line)
        self._ok(t, a)
        self._after_line(t)
        return True

    def _after_line(self, t: float) -> None:
        if self.alarm_after_lines is not None and len(self.executed) == self.alarm_after_lines:
            self._raise_alarm(t, 1)

    # ---- parsing -------------------------------------------------------------------

    def _err(self, line: str, code: int) -> Action:
        return Action("error", line, code=code)

    def _parse(self, raw: str) -> Action:
        if raw == "\x00overflow":
            return self._err(raw, 11)
        line = raw.upper()
        if line.startswith("$"):
            return self._parse_system(line)
        if self.state == "Alarm":
            return self._err(line, 9)
        body = re.sub(r"\([^)]*\)", "", line).split(";")[0]
        words: list[tuple[str, float]] = []
        pos = 0
        for m in WORD.finditer(body):
            if m.start() != pos:
                return self._err(line, 1)
            words.append((m.group(1), float(m.group(2))))
            pos = m.end()
        if pos != len(body):
            return self._err(line, 2 if body[pos : pos + 1].isalpha() else 1)
        return self._gcode(line, words)

    def _gcode(self, line: str, words: list[tuple[str, float]]) -> Action:
        axes: dict[int, float] = {}
        gs: list[float] = []
        ms: list[float] = []
        vals: dict[str, float] = {}
        for letter, v in words:
            if letter == "G":
                gs.append(v)
            elif letter == "M":
                ms.append(v)
            elif letter in "XYZ":
                axes["XYZ".index(letter)] = v
            elif letter in "FSTPLNIJKRH":
                if letter in vals:
                    return self._err(line, 25)
                vals[letter] = v
            else:
                return self._err(line, 20)
        scale = 25.4 if self.inches else 1.0
        motion = self.motion
        sync: Action | None = None
        for g in gs:
            if g in (0, 1, 2, 3):
                motion = int(g)
            elif g == 4:
                if "P" not in vals:
                    return self._err(line, 28)
                sync = Action("sync", line, dwell=vals["P"] * self.time_scale)
            elif g == 90:
                self.absolute = True
            elif g == 91:
                self.absolute = False
            elif g == 20:
                self.inches, scale = True, 25.4
            elif g == 21:
                self.inches, scale = False, 1.0
            elif g == 10:
                if vals.get("L") not in (2, 20):
                    return self._err(line, 28)
                offsets = dict(axes)
                axes = {}

                def set_wco(t: float, offsets: dict = offsets, k: float = scale) -> None:
                    for i, v in offsets.items():
                        self.wco[i] = self.mpos[i] - v * k

                sync = Action("sync", line, effect=set_wco, eeprom=True)
            elif g == 92:
                offsets = dict(axes)
                axes = {}
                for i, v in offsets.items():
                    self.wco[i] = self.mpos[i] - v * scale
            elif g in (28.1, 30.1):
                sync = Action("sync", line, eeprom=True)
            elif g in (17, 18, 19, 40, 49, 54, 55, 56, 57, 58, 59, 80, 93, 94, 53, 43.1):
                pass
            else:
                return self._err(line, 20)
        for m in ms:
            if m in (3, 4, 5):
                self.spindle = vals.get("S", self.spindle) if m != 5 else 0.0
                sync = sync or Action("sync", line)
            elif m in (2, 30, 7, 8, 9, 0, 1):
                sync = sync or Action("sync", line)
            else:
                return self._err(line, 20)
        if "F" in vals:
            if vals["F"] < 0:
                return self._err(line, 4)
            self.feed = vals["F"] * scale
        if "S" in vals and not ms:
            self.spindle = vals["S"]
        self.motion = motion
        if sync is not None:
            return sync
        if not axes:
            return Action("reply", line)
        if motion in (1, 2, 3) and self.feed <= 0:
            return self._err(line, 22)
        start = list(self.planner[-1].target) if self.planner else list(self.mpos)
        target = list(start)
        for i, v in axes.items():
            target[i] = (v * scale + self.wco[i]) if self.absolute else start[i] + v * scale
        dist = math.dist(start, target)
        rate = self.settings[110] if motion == 0 else min(self.feed, self.settings[110])
        duration = dist / (rate / 60.0) * self.time_scale if rate > 0 else 0.0
        return Action("motion", line, target=target, duration=duration, feed=rate)

    def _parse_system(self, line: str) -> Action:
        cycle = self.state in ("Run", "Jog") or self.hold
        if line == "$":
            return Action(
                "reply",
                line,
                replies=["[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]"],
            )
        if line == "$G":
            modal = f"G{self.motion} G54 G17 {'G20' if self.inches else 'G21'} "
            modal += f"{'G90' if self.absolute else 'G91'} G94 M5 M9 T0"
            return Action("reply", line, replies=[f"[GC:{modal} F{self.feed:g} S{self.spindle:g}]"])
        if line == "$I":
            return Action("reply", line, replies=["[VER:1.1h.20190825:]", "[OPT:V,15,128]"])
        if cycle:
            return self._err(line, 8)
        if line == "$$":
            out = [
                f"${k}={v:.3f}" if isinstance(v, float) else f"${k}={v}"
                for k, v in sorted(self.settings.items())
            ]
            return Action("sync", line, replies=out)
        if line == "$#":
            w = ",".join(f"{v:.3f}" for v in self.wco)
            return Action(
                "sync",
                line,
                replies=[
                    f"[G54:{w}]",
                    "[G92:0.000,0.000,0.000]",
                    "[TLO:0.000]",
                    "[PRB:0.000,0.000,0.000:0]",
                ],
            )
        if line == "$N":
            return Action("sync", line, replies=["$N0=", "$N1="])
        if line == "$X":

            def unlock(t: float) -> None:
                self.state = "Idle"
                self.critical = False

            if self.state != "Alarm":
                return Action("sync", line)
            return Action("sync", line, effect=unlock, replies=["[MSG:Caution: Unlocked]"])
        if line == "$H":
            if not self.settings[22]:
                return self._err(line, 5)

            def home(t: float) -> None:
                self.state = "Home"
                self.home_until = t + 1.0 * self.time_scale

            return Action("sync", line, effect=home)
        if line == "$C":
            return Action("sync", line, replies=["[MSG:Enabled]"])
        m = re.fullmatch(r"\$(\d+)=([-+]?\d*\.?\d+)", line)
        if m:
            key, value = int(m.group(1)), float(m.group(2))
            if key not in self.settings:
                return self._err(line, 3)
            if value < 0:
                return self._err(line, 4)

            def store(t: float) -> None:
                self.settings[key] = value if isinstance(self.settings[key], float) else int(value)

            return Action("sync", line, effect=store, eeprom=True)
        if line.startswith("$N") or line.startswith("$RST="):
            return Action("sync", line, eeprom=True)
        if line.startswith("$J="):
            return self._err(line, 16) if self.state == "Alarm" else Action("reply", line)
        if self.state == "Alarm":
            return self._err(line, 9)
        return self._err(line, 3)
