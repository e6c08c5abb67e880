"""Serial number formatting; allocation itself lives in the store."""

from __future__ import annotations

import string

DEFAULT_FORMAT = "{sku}-{batch}-{n:04}"
_ALLOWED_FIELDS = {"sku", "batch", "run", "n", "cell", "year"}


class SerialFormatError(ValueError):
    pass


def check_format(fmt: str) -> None:
    fields = {name for _, name, _, _ in string.Formatter().parse(fmt) if name is not None}
    unknown = fields - _ALLOWED_FIELDS
    if unknown:
        raise SerialFormatError(
            f"serial format {fmt!r} uses unknown field(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(_ALLOWED_FIELDS))}"
        )
    if "n" not in fields:
        raise SerialFormatError(f"serial format {fmt!r} must contain {{n}}")


def format_serial(fmt: str, n: int, **fields: object) -> str:
    check_format(fmt)
    values: dict[str, object] = {k: "" for k in _ALLOWED_FIELDS}
    values.update({k: v for k, v in fields.items() if v is not None})
    values["n"] = n
    return fmt.format(**values)


def edition_text(n: int, edition_size: int | None) -> str | None:
    return None if edition_size is None else f"{n}/{edition_size}"
