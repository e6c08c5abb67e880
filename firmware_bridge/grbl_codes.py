"""GRBL 1.1 error and alarm codes: the documented name and meaning, in words an operator can act on.

The names and meanings follow GRBL 1.1's own tables (`doc/csv/error_codes_en_US.csv`
and `alarm_codes_en_US.csv` in the grbl repository); the advice after the meaning
is ours.
"""

from __future__ import annotations

GRBL_ERRORS: dict[int, tuple[str, str]] = {
    1: ("Expected command letter", "G-code words are a letter and a value; a letter was missing"),
    2: ("Bad number format", "a G-code word's value was missing or not a valid number"),
    3: ("Invalid statement", "the '$' system command was not recognised or not supported"),
    4: ("Value < 0", "a negative value was given where only a positive one is allowed"),
    5: ("Setting disabled", "homing is not enabled in this machine's settings ($22=0), so it "
        "cannot home: set its work zero instead"),
    6: ("Value < 3 usec", "the step pulse time must be at least 3 microseconds"),
    7: ("EEPROM read fail", "the settings memory could not be read; defaults were restored: "
        "check the settings"),
    8: ("Not idle", "'$' commands only work while the machine is idle"),
    9: ("G-code lock", "G-code is locked out while the machine is in alarm or jogging: home or "
        "unlock it first"),
    10: ("Homing not enabled", "soft limits cannot be enabled without homing"),
    11: ("Line overflow", "the line is longer than the controller takes (79 characters without "
         "spaces); it was not run"),
    12: ("Step rate > 30kHz", "the setting would make the step rate exceed the maximum"),
    13: ("Check Door", "the safety door is open"),
    14: ("Line length exceeded", "build info or start-up line too long for the settings memory; "
         "not stored"),
    15: ("Travel exceeded", "the jog target is outside the machine's travel; the jog was ignored"),
    16: ("Invalid jog command", "the jog command has no '=' or has G-code not allowed in a jog"),
    17: ("Setting disabled", "laser mode needs PWM spindle output"),
    20: ("Unsupported command", "unsupported or invalid G-code command in the line"),
    21: ("Modal group violation", "two G-code commands of the same modal group in one line"),
    22: ("Undefined feed rate", "no feed rate set: add an F word before the first G1/G2/G3"),
    23: ("Invalid gcode ID:23", "this G-code command needs a whole number"),
    24: ("Invalid gcode ID:24", "two G-code commands in one line both need the axis words"),
    25: ("Invalid gcode ID:25", "the same G-code word appears twice in the line"),
    26: ("Invalid gcode ID:26", "the command needs axis words and none were given"),
    27: ("Invalid gcode ID:27", "the line number value is invalid"),
    28: ("Invalid gcode ID:28", "the G-code command is missing a required value word"),
    29: ("Invalid gcode ID:29", "G59.x work coordinate systems are not supported"),
    30: ("Invalid gcode ID:30", "G53 is only allowed with G0 and G1 motion"),
    31: ("Invalid gcode ID:31", "axis words given but no command or modal state uses them"),
    32: ("Invalid gcode ID:32", "G2/G3 arcs need at least one axis word in the plane"),
    33: ("Invalid gcode ID:33", "the motion command's target is invalid"),
    34: ("Invalid gcode ID:34", "the arc radius value is invalid"),
    35: ("Invalid gcode ID:35", "G2/G3 arcs need at least one offset word in the plane"),
    36: ("Invalid gcode ID:36", "unused value words in the line"),
    37: ("Invalid gcode ID:37", "G43.1 tool length offset is not on the configured axis"),
    38: ("Invalid gcode ID:38", "tool number greater than the maximum supported"),
}  # fmt: skip

GRBL_ALARMS: dict[int, tuple[str, str]] = {
    1: ("Hard limit", "hard limit switch hit: the machine stopped at once and its position is "
        "likely lost; home it again"),
    2: ("Soft limit", "the move goes beyond the machine's travel; position kept, unlock to go on"),
    3: ("Abort during cycle", "reset while moving: position may be lost; home the machine again"),
    4: ("Probe fail", "the probe was not in the expected state before the probing move"),
    5: ("Probe fail", "the probe did not touch within the programmed travel"),
    6: ("Homing fail", "the homing cycle was reset"),
    7: ("Homing fail", "the safety door was opened during homing"),
    8: ("Homing fail", "could not pull off the limit switch; check wiring or the pull-off "
        "distance"),
    9: ("Homing fail", "limit switch not found within the search distance; check wiring or "
        "max travel"),
    10: ("Homing fail", "the second limit switch of a dual-motor axis was not found"),
}  # fmt: skip


def grbl_error_message(code: int) -> str:
    """`5` -> "homing is not enabled ... (Setting disabled)", for an `error:5` reply."""
    if code not in GRBL_ERRORS:
        return f"unknown GRBL error {code} (not in GRBL 1.1's table)"
    name, meaning = GRBL_ERRORS[code]
    return f"{meaning} ({name})"


def grbl_alarm_message(code: int) -> str:
    """`1` -> "hard limit switch hit ... (Hard limit)", for an `ALARM:1` line."""
    if code not in GRBL_ALARMS:
        return f"unknown GRBL alarm {code} (not in GRBL 1.1's table)"
    name, meaning = GRBL_ALARMS[code]
    return f"{meaning} ({name})"
