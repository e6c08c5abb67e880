"""`cellctl operators list|set-pin`: the site's operators and their PINs.

A PIN is stored only as a salted scrypt hash (`cellctl.domain.pins`). set-pin
edits the one `pin_hash` line of the operator's `[[operators]]` table and leaves
every other byte of the site file as it was (comments included); the edit is
checked by parsing the result before it replaces the file.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("operators", help="list operators, set an operator's PIN")
    osub = p.add_subparsers(dest="operators_command", metavar="ACTION", required=True)
    ls = osub.add_parser("list", help="list the site's operators and whether they have a PIN")
    ls.add_argument("--site", required=True, help="the site's TOML file")
    ls.set_defaults(func=_list)
    sp = osub.add_parser(
        "set-pin",
        help="set an operator's PIN (stored as a salted hash)",
        description="Ask for the PIN twice (or read one line from stdin with --pin-stdin) "
        "and store its salted scrypt hash as the operator's pin_hash in the site file.",
    )
    sp.add_argument("--site", required=True, help="the site's TOML file")
    sp.add_argument("--badge", required=True, help="the operator's badge")
    sp.add_argument(
        "--pin-stdin", action="store_true", help="read the PIN from the first line of stdin"
    )
    sp.set_defaults(func=_set_pin)


def _load(path: str):
    from cellctl.config.load import load_site
    from cellctl.errors import CliError, ConfigError

    try:
        return load_site(path)
    except ConfigError as exc:
        raise CliError("\n" + str(exc)) from None


def _list(args: argparse.Namespace) -> int:
    site = _load(args.site)
    for op in site.operators:
        pin = "PIN set" if op.pin_hash else "no PIN"
        print(f"{op.badge:16} {op.role.value:11} {pin:7} {op.name}")
    return 0


def _read_pin(args: argparse.Namespace, name: str) -> str:
    from cellctl.errors import CliError

    if args.pin_stdin:
        line = sys.stdin.readline()
        if not line:
            raise CliError("--pin-stdin: nothing on stdin")
        return line.rstrip("\r\n")
    import getpass

    first = getpass.getpass(f"New PIN for {name} (4-12 digits): ")
    second = getpass.getpass("The same PIN again: ")
    if first != second:
        raise CliError("the two PINs differ: nothing changed")
    return first


def _set_pin(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cellctl.domain.pins import hash_pin
    from cellctl.errors import CliError

    path = Path(args.site)
    site = _load(args.site)
    op = site.operator(args.badge)
    if op is None:
        known = ", ".join(o.badge for o in site.operators) or "none"
        raise CliError(f"no operator with badge {args.badge!r} in {path} (known: {known})")
    pin = _read_pin(args, op.name)
    try:
        pin_hash = hash_pin(pin)
    except ValueError as exc:
        raise CliError(f"{exc}: nothing changed") from None
    del pin
    text = path.read_text(encoding="utf-8")
    new_text = with_pin_hash(text, args.badge, pin_hash)
    if new_text is None:
        raise CliError(
            f"could not find the [[operators]] table of {args.badge!r} in {path} "
            f"(is it written inline?): set pin_hash = {pin_hash!r} there by hand"
        )
    _replace(path, new_text)
    _load(args.site)  # the file as written still loads
    print(f"PIN set for {op.name} ({args.badge}) in {path}")
    return 0


def with_pin_hash(text: str, badge: str, pin_hash: str) -> str | None:
    """The site file's text with the badge's pin_hash set, or None if it cannot be placed.

    The result is checked: parsed, it must equal the original with only that one
    value changed.
    """
    import tomllib

    lines = text.splitlines(keepends=True)
    headers = [i for i, line in enumerate(lines) if line.strip() == "[[operators]]"]
    for start in headers:
        end = next(
            (j for j in range(start + 1, len(lines)) if lines[j].lstrip().startswith("[")),
            len(lines),
        )
        try:
            table = tomllib.loads("".join(lines[start + 1 : end]))
        except tomllib.TOMLDecodeError:
            continue
        if table.get("badge") != badge:
            continue
        entry = f"pin_hash = {_toml_string(pin_hash)}\n"
        body = lines[start + 1 : end]
        at = next((k for k, ln in enumerate(body) if ln.lstrip().startswith("pin_hash")), None)
        if at is not None:
            body[at] = entry
        else:
            badge_at = next(k for k, ln in enumerate(body) if ln.lstrip().startswith("badge"))
            body.insert(badge_at + 1, entry)
        new_text = "".join(lines[: start + 1] + body + lines[end:])
        if not new_text.endswith("\n") and text.endswith("\n"):
            new_text += "\n"
        if _only_pin_changed(text, new_text, badge, pin_hash):
            return new_text
        return None
    return None


def _toml_string(value: str) -> str:
    import json

    return json.dumps(value)


def _only_pin_changed(old: str, new: str, badge: str, pin_hash: str) -> bool:
    import tomllib

    try:
        before, after = tomllib.loads(old), tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        return False
    for op in before.get("operators", []):
        if isinstance(op, dict) and op.get("badge") == badge:
            op["pin_hash"] = pin_hash
    return before == after


def _replace(path, text: str) -> None:
    """Write beside the file, keep its mode, then rename over it (never half a file)."""
    import os
    import stat
    import tempfile

    mode = stat.S_IMODE(path.stat().st_mode)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
