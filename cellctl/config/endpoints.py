"""The syntax of the places a station talks to: printer backends, camera sources, serial
ports. Checked when the config is loaded (so `cellctl config check` says what the kiosk
would refuse), without opening anything: a device may be plugged in later.

Each function returns None when the value is well formed, else the reason.
"""

from __future__ import annotations

import re

_HOST_PORT = re.compile(r"^[A-Za-z0-9._\-\[\]:]+:\d{1,5}$")

PRINTER_FORMS = "tcp://host:9100, usb://VID:PID, file:///dev/usb/lp0 or file://folder"
SERIAL_FORMS = (
    "a device path (/dev/ttyUSB0, COM3), socket://host:port, rfc2217://host:port, "
    "loop:// or sim://grbl|marlin|line"
)
CAMERA_FORMS = (
    "a camera index (0), a device (/dev/video0), a folder of images, a video file, "
    'rtsp://, http(s):// or "generated"'
)
SIM_KINDS = ("grbl", "marlin", "line")


def _scheme(value: str) -> str | None:
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*)://", value)
    return m.group(1).lower() if m else None


def printer_backend_problem(url: str) -> str | None:
    scheme = _scheme(url)
    rest = url.split("://", 1)[1] if scheme else ""
    if scheme == "tcp":
        rest = rest.rstrip("/")
        if rest and (":" not in rest or _HOST_PORT.match(rest)):
            return None
        return f"{url!r}: expected tcp://host:9100"
    if scheme == "usb":
        return None if rest else f"{url!r}: expected usb://VID:PID (or usb://0x04f9:0x209d)"
    if scheme == "file":
        return None if rest else f"{url!r} needs a path: file:///dev/usb/lp0 or file://folder"
    return f"{url!r} is not a printer backend: expected {PRINTER_FORMS}"


def serial_port_problem(port: str) -> str | None:
    if not port.strip():
        return "empty: expected " + SERIAL_FORMS
    scheme = _scheme(port)
    if scheme is None:
        if "://" in port or port != port.strip():
            return f"{port!r}: expected {SERIAL_FORMS}"
        return None  # a device path; it may not exist until the machine is plugged in
    rest = port.split("://", 1)[1]
    if scheme in ("socket", "rfc2217"):
        if _HOST_PORT.match(rest.split("?", 1)[0].rstrip("/")):
            return None
        return f"{port!r}: expected {scheme}://host:port"
    if scheme in ("loop", "spy", "hwgrep", "alt"):
        return None
    if scheme == "sim":
        kind = rest.split("?", 1)[0].strip("/")
        if kind in SIM_KINDS or kind == "":
            return None
        return f"{port!r}: no simulator {kind!r} (sim://grbl, sim://marlin or sim://line)"
    return f"{port!r}: unknown scheme {scheme!r}: expected {SERIAL_FORMS}"


def camera_source_problem(source: str | int) -> str | None:
    if isinstance(source, bool):
        return f"{source!r}: expected {CAMERA_FORMS}"
    if isinstance(source, int):
        return None if source >= 0 else f"{source}: a camera index is 0 or more"
    if not source.strip():
        return "empty: expected " + CAMERA_FORMS
    scheme = _scheme(source)
    if scheme is None:
        if "://" in source:
            return f"{source!r}: expected {CAMERA_FORMS}"
        return None  # "generated", an index, a device, a folder or a file
    if scheme in ("rtsp", "rtsps", "http", "https", "rtmp", "udp", "tcp", "file"):
        return None
    return f"{source!r}: unknown scheme {scheme!r}: expected {CAMERA_FORMS}"
