"""GRBL 1.1 error and alarm codes in words an operator can act on."""

from __future__ import annotations

GRBL_ERRORS: dict[int, str] = {
    1: "G-code words need a letter and a value; a letter was missing",
    2: "a number was missing or badly formatted",
    3: "unknown '$' system command",
    4: "a negative value was given where only a positive one is allowed",
    5: "homing is not enabled in the settings",
    6: "step pulse time must be at least 3 microseconds",
    7: "the controller's settings memory (EEPROM) failed to read; defaults restored",
    8: "'$' commands only work while the machine is idle",
    9: "G-code is locked out while the machine is in alarm or jogging",
    10: "soft limits need homing to be enabled",
    11: "the line is too long for the controller (over 80 characters); it was not run",
    12: "a setting would make the step rate exceed the controller's maximum",
    13: "the safety door is open",
    14: "build info or start-up line too long for the settings memory",
    15: "the jog target is outside the machine's travel; jog ignored",
    16: "invalid jog command",
    17: "laser mode needs PWM spindle output",
    20: "unsupported or invalid G-code command",
    21: "two commands of the same modal group on one line",
    22: "no feed rate set (add an F word before the first G1/G2/G3)",
    23: "this G-code command needs a whole number",
    24: "two commands on one line both want the axis words",
    25: "the same G-code word appears twice on the line",
    26: "the command needs axis words and none were given",
    27: "invalid line number",
    28: "the command is missing a required value",
    29: "G59.x work coordinate systems are not supported",
    30: "G53 is only allowed with G0 and G1",
    31: "axis words given but nothing on the line uses them",
    32: "arcs (G2/G3) need at least one axis word in the plane",
    33: "the motion target is invalid",
    34: "the arc radius is invalid",
    35: "arcs (G2/G3) need at least one offset word in the plane",
    36: "unused value words on the line",
    37: "tool length offset not on the configured axis",
    38: "tool number too large",
}

GRBL_ALARMS: dict[int, str] = {
    1: "hard limit switch hit: the machine stopped at once and its position is likely lost; "
    "home it again",
    2: "the move goes beyond the machine's travel (soft limit); position kept, unlock to go on",
    3: "reset while moving: position may be lost; home the machine again",
    4: "probe was already triggered before the probing move",
    5: "probe did not touch within the programmed distance",
    6: "homing failed: reset during the homing cycle",
    7: "homing failed: safety door opened during homing",
    8: "homing failed: could not pull off the limit switch; check wiring or pull-off distance",
    9: "homing failed: limit switch not found within the search distance",
    10: "homing failed: second limit switch of a dual axis not found",
}


def grbl_error_message(code: int) -> str:
    return GRBL_ERRORS.get(code, f"unknown GRBL error {code}")


def grbl_alarm_message(code: int) -> str:
    return GRBL_ALARMS.get(code, f"unknown GRBL alarm {code}")
