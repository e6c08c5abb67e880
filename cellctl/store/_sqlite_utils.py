"""sqlite-utils, imported without pandas.

sqlite-utils imports pandas whenever it is installed (only to map `pandas.Timestamp` to a
column type, which no store of ours ever receives). In a development or central install
pandas is there (ortools needs it), and importing it cost a kiosk 0.24 s and ~70 MB at
start-up (`python -m bench.kiosk`). Hidden from that one import; whoever imports pandas
later gets it as usual.
"""

from __future__ import annotations

import sys

_hide = "pandas" not in sys.modules
if _hide:
    sys.modules["pandas"] = None  # type: ignore[assignment]  # None makes the import fail
try:
    import sqlite_utils
finally:
    if _hide:
        del sys.modules["pandas"]

__all__ = ["sqlite_utils"]
