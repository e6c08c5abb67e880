"""Fuzz every parser that takes outside input: `python -m bench.fuzz [--json PATH] [-n N]`.

Each parser is one `Target` in `TARGETS`: a hypothesis strategy of inputs (random
bytes and text, plus well-formed messages with wild values and mutated real files,
so the generator reaches past the first check), the call, and the error types that
count as a clear answer. Anything else raised, or a call running past the hang
limit, is counted as unhandled. tests/security/test_fuzz.py runs the same table
with a few hundred examples per parser; this bench runs at least 10,000.
"""

from __future__ import annotations

import json
import math
import signal
import string
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "stations" / "demo"
TEMPLATES = ROOT / "label_templates"
HANG_S = 2.0

# -- generic values ----------------------------------------------------------------

WILD_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "\ufffd", "\x1d", "é", "1e999", "NaN", "-1", "0", "🙂"]),
    st.text(alphabet=string.ascii_letters + string.digits + "-_.:/ ", max_size=80),
)
EDGE_NUMBER = st.sampled_from(
    [math.inf, -math.inf, math.nan, 10**400, -(10**400), 2**63, -1, 0, 1e308, -0.0, 0.5, True]
)
HUGE_INT = st.one_of(st.integers(), st.integers(min_value=10**20, max_value=10**400))
NUMBER = st.one_of(EDGE_NUMBER, HUGE_INT, st.floats())
SCALAR = st.one_of(st.none(), st.booleans(), NUMBER, WILD_TEXT)
JSONISH = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(WILD_TEXT, inner, max_size=4)
    ),
    max_leaves=5,
)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=True).encode("utf-8", "surrogatepass")


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """A base input with a few bytes flipped, cut, inserted or repeated."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "dup", "truncate"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=6))
        elif op == "dup" and data:
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 16))] * draw(st.integers(1, 50))
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


def deep(opening: str) -> st.SearchStrategy[bytes]:
    """Deeply nested brackets: parsers that recurse must not blow the stack."""
    return st.integers(10, 60_000).map(lambda n: (opening * n).encode())


@st.composite
def _near_valid(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """Every expected key with a likely value, then up to three keys dropped or made wild."""
    d = {k: draw(v) for k, v in fields.items()}
    for k in draw(st.lists(st.sampled_from(sorted(fields)), max_size=3, unique=True)):
        how = draw(st.integers(0, 2))
        if how == 0:
            del d[k]
        else:
            d[k] = draw(EDGE_NUMBER if how == 1 else JSONISH)
    return d | draw(st.dictionaries(WILD_TEXT, JSONISH, max_size=1))


def messages(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[bytes]:
    """JSON objects with the expected keys and some wild values, some then mutated."""
    obj = _near_valid(fields)
    return st.one_of(obj.map(_dumps), obj.map(_dumps), mutated(obj.map(_dumps)))


def payload_bytes(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[bytes]:
    well_formed = messages(fields)
    return st.one_of(
        well_formed,
        well_formed,
        well_formed,
        st.binary(max_size=200),
        JSONISH.map(_dumps),
        deep("["),
        deep('{"a":'),
    )


VERSION = st.sampled_from([1] * 8 + [2, 0, "1", 1.0, True, None])
ISO_TIME = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.just(datetime.now(UTC).isoformat()),
    WILD_TEXT,
)
UUIDS = st.one_of(st.uuids(version=4).map(str), st.uuids().map(str), WILD_TEXT)
SMALL_INT = st.integers(-1, 2000)  # mostly valid: _near_valid adds the wild values


def _event_fields(etype: str) -> dict[str, st.SearchStrategy[Any]]:
    from cellctl.domain.events import EVENT_TYPES

    keys = EVENT_TYPES.get(etype, ())
    return {
        "schema": VERSION,
        "id": st.one_of(st.uuids(version=4).map(str), UUIDS),
        "type": st.just(etype),
        "cell": st.sampled_from(["cut-01", "cut-01", "qa-01", "", "x" * 65]),
        "seq": SMALL_INT,
        "time": ISO_TIME,
        "operator": st.one_of(st.none(), WILD_TEXT),
        "payload": st.fixed_dictionaries({k: JSONISH for k in keys}, optional={"x": JSONISH}),
    }


def event_types() -> st.SearchStrategy[str]:
    from cellctl.domain.events import EVENT_TYPES

    known = st.sampled_from(sorted(EVENT_TYPES))
    return st.one_of(known, known, known, WILD_TEXT)


def event_messages() -> st.SearchStrategy[bytes]:
    return st.one_of(
        event_types().flatmap(lambda t: messages(_event_fields(t))),
        payload_bytes({"schema": VERSION}),
    )


# -- config and template files: a tiny TOML writer for generated documents ----------


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(str(v))  # a JSON string is a valid TOML basic string


def _toml_key(k: str) -> str:
    return k if k and all(c.isalnum() or c in "-_" for c in k) and k.isascii() else json.dumps(k)


def to_toml(doc: dict[str, Any]) -> str:
    """Top-level scalars, then [tables], then [[arrays of tables]] (lists of dicts)."""
    lines: list[str] = []
    tables, arrays = [], []
    for k, v in doc.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays.append((k, v))
        elif v is not None:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in tables:
        lines.append(f"[{_toml_key(k)}]")
        lines += [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in v.items() if b is not None]
    for k, items in arrays:
        for item in items:
            lines.append(f"[[{_toml_key(k)}]]")
            lines += [
                f"{_toml_key(a)} = {_toml_value(b)}" for a, b in item.items() if b is not None
            ]
    return "\n".join(lines) + "\n"


TOML_SCALAR = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True),
    WILD_TEXT,
)
TOML_ANY = st.recursive(
    TOML_SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(WILD_TEXT, inner, max_size=3)
    ),
    max_leaves=4,
)


def _maybe(values: list[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(values), TOML_ANY)


def _table(fields: dict[str, list[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={k: _maybe(v) for k, v in fields.items()})


SITE_DOC = st.fixed_dictionaries(
    {
        "site": _table({"id": ["demo", "a b", ""], "name": ["Demo"], "timezone": ["UTC", "X"]}),
    },
    optional={
        "mqtt": _table(
            {
                "url": ["mqtt://h:1883", "mqtts://h", "mqtt://h:x", "mqtt://h:0", "mqtt://:99999"],
                "username": ["cell"],
                "password": ["pw"],
                "ca_file": ["ca.pem"],
                "keepalive_s": [1, 10, 4000],
            }
        ),
        "operators": st.lists(
            _table(
                {
                    "name": ["Ada"],
                    "badge": ["OP-1", "OP 1"],
                    "role": ["machinist", "qa", "supervisor", "boss"],
                    "pin_hash": ["1234", "scrypt$1$2$3$zz$yy"],
                }
            ),
            max_size=3,
        ),
        "defects": st.lists(
            _table({"code": ["D"], "description": ["d"], "severity": ["minor", "mega"]}),
            max_size=2,
        ),
        "shifts": st.lists(
            _table({"name": ["day"], "start": ["06:00", "25:00"], "end": ["14:00"], "days": [[]]}),
            max_size=2,
        ),
        "stations": _maybe([["cut-01.toml"], []]),
        "signing_key": _maybe(["keys/site.key"]),
    },
)
STATION_DOC = st.fixed_dictionaries(
    {
        "station": _table(
            {
                "id": ["cut-01", "bad id"],
                "kind": ["cut", "print", "qa", "weld"],
                "site": ["site.toml", "missing.toml", "../site.toml", "\x00"],
                "ideal_cycle_s": [60.0, 0, -1],
                "store": ["var/x.db"],
            }
        )
    },
    optional={
        "machine": _table(
            {"driver": ["grbl", "marlin", "line", "none", "x"], "port": ["sim://grbl", ""]}
        ),
        "camera": _table({"source": [0, "x.mp4"], "roi": [[0.1, 0.1, 0.5, 0.5], [0, 0, 2, 2]]}),
        "scanners": st.lists(_table({"kind": ["wedge", "serial"], "port": ["/dev/x"]}), max_size=2),
        "printer": _table({"backend": ["file://x"], "media": ["62", "zz"], "templates": [{}]}),
        "serial_format": _maybe(["{sku}-{n:04}", "{n", "{x}", "{n:>{w}}", "{0}"]),
    },
)
ELEMENT = _table(
    {
        "type": ["text", "qr", "datamatrix", "code128", "gs1_128", "line", "box", "image", "x"],
        "x": [0, 1.5, -1, 3000],
        "y": [0, 2],
        "width": [10, 0, 2001],
        "height": [5],
        "size": [10, 25.9, 0],
        "text": ["{serial}", "{", "{0}", "{a.b}", "{due:%Y}", "{x!r:>{y}}"],
        "data": ["{unit_code}", "(01)09501101530003(21){serial}"],
        "path": ["assets/logo.png", "../../etc/passwd", "\x00"],
        "x1": [0],
        "y1": [0],
        "x2": [10],
        "y2": [0],
    }
)
TEMPLATE_DOC = st.fixed_dictionaries(
    {},
    optional={
        "name": _maybe(["t", "x" * 70]),
        "media": _maybe(["29", "62", "62x29", "62red", "xx", "102"]),
        "length_mm": _maybe([36, 0, -5]),
        "orientation": _maybe(["portrait", "landscape", "diagonal"]),
        "elements": st.lists(ELEMENT, max_size=4),
    },
)


def toml_texts(doc: st.SearchStrategy[dict[str, Any]], *files: Path) -> st.SearchStrategy[bytes]:
    """Generated documents, mutated real files, and random bytes."""
    real = [f.read_bytes() for f in files]
    return st.one_of(
        doc.map(lambda d: to_toml(d).encode("utf-8", "surrogatepass")),
        mutated(doc.map(lambda d: to_toml(d).encode("utf-8", "surrogatepass"))),
        mutated(st.sampled_from(real)),
        st.binary(max_size=200),
        deep("a = ["),
        deep("a = {b = "),
    )


INSPECTION_DOC = st.fixed_dictionaries(
    {
        "inspection": _table(
            {
                "sku": ["MUG-ENAMEL", "OTHER", ""],
                "level": ["II", "S-1", "IV", "ii"],
                "aql": ["1.0", 1.0, 2.5, "0.010", "7", 1e309, "nan"],
                "count": ["items", "nonconformities", "all"],
                "title": ["Mug"],
            }
        )
    },
    optional={
        "checklist": st.lists(
            _table(
                {
                    "id": ["height", "rim", "a b"],
                    "text": ["Height"],
                    "kind": ["measure", "pass_fail", "look"],
                    "nominal": [80.0, math.inf, math.nan],
                    "tol_minus": [0.5, -1],
                    "tol_plus": [0.5],
                    "unit": ["mm"],
                    "defect": ["DIM", "NOPE"],
                }
            ),
            max_size=3,
        )
    },
)


def _inspection(raw: bytes) -> object:
    from cellctl.config.inspection import load_template
    from cellctl.config.load import load_site

    global _SITE
    if _SITE is None:
        _SITE = load_site(DEMO / "site.toml")
    return load_template(SCRATCH.write("MUG-ENAMEL.toml", raw), _SITE)


_SITE: Any = None


class _Scratch:
    """A folder for files the loaders read; a demo copy so station files find a site."""

    def __init__(self) -> None:
        self.dir: Path | None = None

    def path(self, name: str) -> Path:
        if self.dir is None:
            import atexit
            import shutil

            self.dir = Path(tempfile.mkdtemp(prefix="cellctl-fuzz-"))
            atexit.register(shutil.rmtree, self.dir, True)
            shutil.copy(DEMO / "site.toml", self.dir / "site.toml")
            shutil.copytree(TEMPLATES / "assets", self.dir / "assets")
        return self.dir / name

    def write(self, name: str, data: bytes) -> Path:
        p = self.path(name)
        p.write_bytes(data)
        return p


SCRATCH = _Scratch()

# -- scans ---------------------------------------------------------------------------

GS1_AI = st.sampled_from(["00", "01", "02", "10", "11", "15", "17", "21", "30", "37", "3103", "99"])
GS1_TEXT = st.lists(
    st.tuples(
        GS1_AI,
        st.one_of(st.text(alphabet=string.digits, max_size=20), st.text(max_size=8)),
        st.sampled_from(["", "\x1d"]),
    ),
    min_size=1,
    max_size=5,
).map(lambda parts: "".join(a + v + s for a, v, s in parts))
OUR_TEXT = st.tuples(
    st.sampled_from(["CU", "CB", "CR", "CO", "CD", "CC", "CM", "cu", "CX"]),
    st.sampled_from([":", ";", ""]),
    st.one_of(
        WILD_TEXT,
        st.tuples(
            WILD_TEXT, st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=", max_size=110)
        ).map(lambda t: f"{t[0]}:{t[1]}"),
        st.tuples(WILD_TEXT, st.text(alphabet=string.digits + "x", max_size=6)).map(
            lambda t: f"{t[0]}/{t[1]}"
        ),
        st.sampled_from(["GOOD+1", "SCRAP+1", "HOLD", "UNDO", "DONE", "good+1"]),
    ),
).map("".join)
SCAN_TEXT = st.one_of(
    OUR_TEXT,
    GS1_TEXT,
    GS1_TEXT.map(lambda t: "]C1" + t),
    st.text(alphabet=string.digits, min_size=6, max_size=14),
    st.sampled_from(["]E0", "]d2", "]Q3", "]C1", "]"]).flatmap(
        lambda p: st.text(max_size=30).map(lambda t: p + t)
    ),
    st.text(max_size=100),
    st.binary(max_size=60).map(lambda b: b.decode("utf-8", "replace")),
)
SYMBOLOGY = st.sampled_from(
    [None, "QR", "Code128", "DataMatrix", "EAN-13", "UPC-A", "EAN-8", "GS1-128", "Aztec", ""]
)


def _public_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()


class _Station:
    """A cut cell's controller with a run step offered, fed one scan per call; its
    state carries over, so the scans form long sequences (sign in, count, undo...)."""

    def __init__(self) -> None:
        self.controller: Any = None

    def __call__(self, text: str) -> object:
        if self.controller is None:
            from cellctl.config.load import load_station
            from cellctl.station.controller import StationController
            from cellctl.store.station_store import StationStore

            loaded = load_station(DEMO / "cut-01.toml")
            store = StationStore(SCRATCH.path("fuzz-cut-01.db"), loaded.id, synchronous="OFF")
            self.controller = StationController(loaded, store)
            self.controller.offer_assignment(
                {"run_id": "R-100", "step": 0, "kind": "cut", "sku": "MUG-ENAMEL",
                 "title": "Mug", "quantity": 60, "due": "2026-11-23T14:00:00Z",
                 "batch": "B-100"}
            )  # fmt: skip
        return self.controller.handle_scan(text)


def _refused() -> tuple[type[BaseException], ...]:
    from cellctl.station.controller import Refused

    return (Refused,)


KIOSK_SCANS = st.one_of(
    st.sampled_from(
        [
            "CO:OP-ADA",
            "CO:OP-QUINN",
            "CO:OP-NOBODY",
            "CC:GOOD+1",
            "CC:SCRAP+1",
            "CC:UNDO",
            "CC:PAUSE",
            "CC:RESUME",
            "CC:DONE",
            "CC:HOLD",
            "CD:SCRATCH",
            "CD:NOPE",
            "CR:R-100",
            "CR:R-100/0",
            "CR:R-999/3",
            "CM:LOT-1",
            "CB:B-100",
            " CC:GOOD+1 \n",
        ]
    ),
    SCAN_TEXT,
)


class _Board:
    """The supervisors' board feed, fed one message per call (topic and payload)."""

    def __init__(self) -> None:
        self.feed: Any = None

    def __call__(self, message: tuple[str, bytes]) -> object:
        if self.feed is None:
            import logging

            from cellctl.board.feed import BoardFeed

            logging.getLogger("cellctl.board.feed").setLevel(logging.CRITICAL)
            self.feed = BoardFeed("demo")
        topic, raw = message
        self.feed.handle(topic, raw)
        self.feed.tick()
        return self.feed.version


def _board_messages() -> st.SearchStrategy[tuple[str, bytes]]:
    base = "cellctl/v1/demo"
    status = {
        "v": VERSION, "cell": st.sampled_from(["cut-01", "qa-01"]), "kind": WILD_TEXT,
        "state": st.sampled_from(["idle", "running", "down", "offline", "x"]),
        "online": st.booleans(), "last_seq": SMALL_INT, "backlog": SMALL_INT,
        "run": WILD_TEXT, "good": SMALL_INT, "scrap": SMALL_INT,
    }  # fmt: skip
    queue = {"v": VERSION, "runs": st.lists(JSONISH, max_size=3), "time": ISO_TIME}
    return st.one_of(
        st.tuples(st.sampled_from([f"{base}/cells/cut-01/status", f"{base}/cells/qa-01/status"]),
                  payload_bytes(status)),
        st.tuples(st.just(f"{base}/cells/cut-01/events"), event_messages()),
        st.tuples(st.sampled_from([f"{base}/scheduler/queue", f"{base}/scheduler/status"]),
                  st.one_of(payload_bytes(queue), st.just(b""))),
        st.tuples(
            st.sampled_from([f"{base}/board/ack/cell_stale/cut-01", f"{base}/board/ack/x",
                             f"{base}/board/ack/"]),
            st.one_of(payload_bytes({"v": VERSION, "by": WILD_TEXT}), st.just(b"")),
        ),
    )  # fmt: skip


# -- the table -----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    inputs: Callable[[], st.SearchStrategy[Any]]
    call: Callable[[Any], object]
    clear: Callable[[], tuple[type[BaseException], ...]]
    """The parser's own error types: raising one of these is a clear answer."""


def _codec(fn_name: str) -> Callable[[Any], object]:
    def call(raw: bytes) -> object:
        from cellctl.bus import codec

        return getattr(codec, fn_name)(raw)

    return call


def _payload_error() -> tuple[type[BaseException], ...]:
    from cellctl.bus.codec import PayloadError

    return (PayloadError,)


def _decode_event(raw: bytes) -> object:
    from cellctl.bus.codec import decode_event

    return decode_event(raw, "cut-01")


def _event_from_dict(data: Any) -> object:
    from cellctl.domain.events import Event

    return Event.from_dict(data)


def _event_error() -> tuple[type[BaseException], ...]:
    from cellctl.domain.events import EventError

    return (EventError,)


def _assignment(raw: bytes) -> object:
    """What a cell does with a message on its assign topic."""
    from cellctl.bus.codec import decode_assign
    from cellctl.domain.assignment import Assignment

    data = decode_assign(raw)
    return None if data is None else Assignment.from_dict(data)


def _assignment_errors() -> tuple[type[BaseException], ...]:
    from cellctl.bus.codec import PayloadError
    from cellctl.domain.assignment import AssignmentError

    return (PayloadError, AssignmentError)


def _run_submit(raw: bytes) -> object:
    """What the scheduler does with a message on runs/submit."""
    from cellctl.bus.codec import decode
    from cellctl.domain.run_spec import parse_run

    return parse_run(decode(raw), default_id="R-fuzz")


def _run_errors() -> tuple[type[BaseException], ...]:
    from cellctl.bus.codec import PayloadError
    from cellctl.domain.run_spec import RunSpecError

    return (PayloadError, RunSpecError)


def _scan(args: tuple[str, str | None, bool]) -> object:
    from cellctl.scan.payload import parse

    text, symbology, with_key = args
    return parse(text, symbology, _PUBLIC_KEY if with_key else None)


_PUBLIC_KEY = _public_key()


def _code(text: str) -> object:
    from cellctl.domain.codes import decode

    return decode(text)


def _code_error() -> tuple[type[BaseException], ...]:
    from cellctl.domain.codes import CodeError

    return (CodeError,)


@st.composite
def _unit_urls(draw: st.DrawFn) -> str:
    """Provenance URLs: signed ones, the same with bytes flipped, cut or repeated, and
    fragments of wild claims (the codec must say why, never crash)."""
    from datetime import date

    from cellctl.domain.codes import UnitClaims, encode_unit_url

    value = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-/+ ]{0,30}", fullmatch=True)
    limited = draw(st.booleans())
    n = draw(st.integers(1, 10**6))
    claims = UnitClaims(
        draw(value), draw(value), draw(st.dates(date(1, 1, 1), date(9999, 12, 31))),
        n if limited else None, n + draw(st.integers(0, 10**6)) if limited else None,
    )  # fmt: skip
    url = encode_unit_url("https://maker.example/p/", claims, _FUZZ_KEY)
    wild = st.dictionaries(st.sampled_from("sekdgx"), WILD_TEXT, max_size=6).map(
        lambda d: "&".join(f"{k}={v}" for k, v in d.items())
    )
    how = draw(st.integers(0, 2))
    if how == 0:
        return url
    if how == 1:
        return draw(mutated(st.just(url.encode()))).decode("utf-8", "replace")
    return "https://maker.example/p/#s=" + draw(wild)


def _private_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(bytes(32))


_FUZZ_KEY = _private_key()


def _unit_url(text: str) -> object:
    from cellctl.domain.codes import decode_unit_url, verify_unit

    code = decode_unit_url(text)
    return verify_unit(code, _FUZZ_KEY.public_key())


def _site(raw: bytes) -> object:
    from cellctl.config.load import load_site

    return load_site(SCRATCH.write("fuzz-site.toml", raw))


def _station(raw: bytes) -> object:
    from cellctl.config.load import load_station

    return load_station(SCRATCH.write("fuzz-station.toml", raw))


def _config_error() -> tuple[type[BaseException], ...]:
    from cellctl.errors import ConfigError

    return (ConfigError,)


def _template(raw: bytes) -> object:
    from cellctl.labels.template import load_template

    return load_template(SCRATCH.write("fuzz-template.toml", raw))


def _label_error() -> tuple[type[BaseException], ...]:
    from cellctl.labels.errors import LabelError

    return (LabelError,)


def _printer_status(raw: bytes) -> object:
    from cellctl.labels.status import parse_status

    return parse_status(raw)


def _status_bytes() -> st.SearchStrategy[bytes]:
    from cellctl.labels.status import build_status

    built = st.builds(
        build_status,
        model_code=st.integers(0, 255),
        media_width_mm=st.integers(0, 255),
        media_length_mm=st.integers(0, 255),
        media_type=st.integers(0, 255),
        error1=st.integers(0, 255),
        error2=st.integers(0, 255),
        status_type=st.integers(0, 255),
        phase=st.integers(0, 255),
    )
    return st.one_of(built, mutated(built), st.binary(max_size=40))


TARGETS: list[Target] = [
    Target(
        "mqtt.decode",
        lambda: payload_bytes({"v": VERSION, "schema": VERSION}),
        _codec("decode"),
        _payload_error,
    ),
    Target(
        "mqtt.decode_event",
        event_messages,
        _decode_event,
        _payload_error,
    ),
    Target(
        "event.from_dict",
        lambda: st.one_of(
            JSONISH,
            event_types().flatmap(lambda t: _near_valid(_event_fields(t))),
        ),
        _event_from_dict,
        _event_error,
    ),
    Target(
        "mqtt.decode_assign",
        lambda: payload_bytes(
            {
                "v": VERSION,
                "assign_id": WILD_TEXT,
                "run_id": WILD_TEXT,
                "step": SMALL_INT,
                "kind": st.sampled_from(["cut", "print", "qa", "x"]),
                "quantity": SMALL_INT,
                "due": ISO_TIME,
                "edition_size": st.one_of(st.none(), SMALL_INT, st.floats()),
                "batch": st.one_of(st.none(), WILD_TEXT),
            }
        ),
        _assignment,
        _assignment_errors,
    ),
    Target(
        "mqtt.decode_resend",
        lambda: payload_bytes({"v": VERSION, "from_seq": SMALL_INT, "to_seq": SMALL_INT}),
        _codec("decode_resend"),
        _payload_error,
    ),
    Target(
        "mqtt.decode_status",
        lambda: payload_bytes(
            {
                "v": VERSION,
                "cell": WILD_TEXT,
                "state": WILD_TEXT,
                "online": st.booleans(),
                "last_seq": SMALL_INT,
                "backlog": SMALL_INT,
            }
        ),
        _codec("decode_status"),
        _payload_error,
    ),
    Target(
        "mqtt.decode_holds",
        lambda: payload_bytes(
            {
                "v": VERSION,
                "holds": st.one_of(
                    JSONISH,
                    st.dictionaries(
                        WILD_TEXT,
                        st.one_of(
                            JSONISH,
                            st.fixed_dictionaries(
                                {"held": st.one_of(st.booleans(), JSONISH), "reason": WILD_TEXT}
                            ),
                        ),
                        max_size=4,
                    ),
                ),
            }
        ),
        _codec("decode_holds"),
        _payload_error,
    ),
    Target(
        "mqtt.decode_command",
        lambda: payload_bytes(
            {
                "v": VERSION,
                "action": st.sampled_from(["prioritise", "cancel", "release_hold", "x"]),
                "badge": WILD_TEXT,
                "run_id": WILD_TEXT,
                "priority": SMALL_INT,
                "batch": WILD_TEXT,
            }
        ),
        _codec("decode_command"),
        _payload_error,
    ),
    Target(
        "mqtt.runs_submit",
        lambda: payload_bytes(
            {
                "v": VERSION,
                "id": st.one_of(st.sampled_from(["R-1", "R.2_x"]), WILD_TEXT),
                "sku": st.sampled_from(["MUG", "MUG", "a b"]),
                "quantity": st.one_of(SMALL_INT, st.floats(), WILD_TEXT),
                "unit_margin": st.one_of(st.floats(0, 100), st.floats(), WILD_TEXT),
                "due": ISO_TIME,
                "routing": st.one_of(
                    st.sampled_from(["cut>print>qa", "cut, qa", "cut,,x", ""]),
                    st.lists(st.sampled_from(["cut", "qa", "x"])),
                ),
                "sla": st.sampled_from(["standard", "express", "critical", "x"]),
                "manual_priority": st.one_of(SMALL_INT, st.floats()),
                "cycle_s": st.one_of(st.floats(0.01, 1000), st.floats(), WILD_TEXT),
                "batch": st.one_of(st.none(), st.just("B-1"), WILD_TEXT),
            }
        ),
        _run_submit,
        _run_errors,
    ),
    Target(
        "scan.parse",
        lambda: st.tuples(SCAN_TEXT, SYMBOLOGY, st.booleans()),
        _scan,
        lambda: (),
    ),
    Target("codes.decode", lambda: SCAN_TEXT, _code, _code_error),
    Target("codes.unit_url", _unit_urls, _unit_url, _code_error),
    Target("station.handle_scan", lambda: KIOSK_SCANS, _Station(), _refused),
    Target("board.handle", _board_messages, _Board(), lambda: ()),
    Target(
        "config.load_site",
        lambda: toml_texts(SITE_DOC, DEMO / "site.toml"),
        _site,
        _config_error,
    ),
    Target(
        "config.load_station",
        lambda: toml_texts(STATION_DOC, *sorted(DEMO.glob("*-01.toml"))),
        _station,
        _config_error,
    ),
    Target(
        "labels.load_template",
        lambda: toml_texts(TEMPLATE_DOC, *sorted(TEMPLATES.glob("*.toml"))),
        _template,
        _label_error,
    ),
    Target("labels.parse_status", _status_bytes, _printer_status, _label_error),
    Target(
        "config.inspection_template",
        lambda: toml_texts(INSPECTION_DOC, *sorted((DEMO / "inspection").glob("*.toml"))),
        _inspection,
        _config_error,
    ),
]

# -- the firmware bridge: job files, controller replies, line-protocol frames --------


@st.composite
def mutated_text(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """A reply line with a few characters changed, as line noise would."""
    raw = draw(mutated(base.map(lambda t: t.encode("latin-1", "replace"))))
    return raw.decode("ascii", "replace")  # what SerialLink hands the driver


GRBL_LINES = st.sampled_from(
    [
        "ok",
        "error:20",
        "error:",
        "ALARM:1",
        "ALARM:x",
        "Grbl 1.1h ['$' for help]",
        "[MSG:Reset to continue]",
        "[MSG:'$H'|'$X' to unlock]",
        "[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]",
        "<Idle|MPos:0.000,0.000,0.000|Bf:15,127|FS:0,0|WCO:0.000,0.000,0.000>",
        "<Run|WPos:1.5,2.5,-3|Bf:10,100|F:500>",
        "<Hold:0|MPos:1,2,3|FS:100,0>",
        "<Alarm|MPos:0,0,0>",
        "<>",
        "<|||>",
    ]
)
MARLIN_LINES = st.sampled_from(
    [
        "ok",
        "ok T:200.0 /200.0 B:60.0 /60.0",
        "Resend: 12",
        "rs N7",
        "Resend:",
        "Error:Line Number is not Last Line Number+1, Last Line: 11",
        "Error:checksum mismatch, Last Line: 3",
        "Error:Printer halted. kill() called!",
        "echo:busy: processing",
        "busy: processing",
        "start",
        " T:25.0 /0.0 B:25.0 /0.0 @:0 B@:0",
        "T:abc /def",
        "FIRMWARE_NAME:Marlin 2.1.2 SOURCE_CODE_URL:github.com",
        "X:0.00 Y:0.00 Z:0.00 E:0.00 Count X:0 Y:0 Z:0",
        'echo:Unknown command: "G999"',
    ]
)


def _line_payloads() -> st.SearchStrategy[str]:
    from firmware_bridge.lineproto import frame

    payloads = st.one_of(
        st.sampled_from(
            [
                "! 1 BOOT proto=1 name=press",
                "! 2 CYCLE count=5",
                "! 3 STATE state=RUN",
                "! 4 FAULT code=7 text=guard_open",
                "! 5 CYCLE count=x",
                "! 6 FAULT code= text=",
                "1 OK",
                "0 ERR 1",
                "2 OK state=IDLE count=3",
            ]
        ),
        st.text(alphabet=string.ascii_uppercase + string.digits + " =!_-", max_size=40),
    )
    framed = payloads.map(lambda p: frame(p).decode("ascii").rstrip("\n"))
    return st.one_of(framed, mutated_text(framed), st.text(max_size=100))


GCODE = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "G21",
                "G90",
                "G0 X10 Y10",
                "G1 X1.5 F300 ; cut",
                "(comment) M3 S1000",
                "M5",
                "$H",
                "G4 P0.5",
                "M104 S200",
                "?",
                "~",
                "!",
                "G1 X" + "9" * 90,
                "\t",
                "",
            ]
        ),
        st.text(max_size=30),
    ),
    max_size=12,
).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))


def _job_file(args: tuple[bytes, str]) -> object:
    from firmware_bridge.grbl import GrblMachine
    from firmware_bridge.jobs import load_lines
    from firmware_bridge.marlin import MarlinMachine

    raw, driver = args
    rules = {"grbl": GrblMachine.rules, "marlin": MarlinMachine.rules}[driver]
    return load_lines(SCRATCH.write("fuzz-job.gcode", raw), rules)


def _job_error() -> tuple[type[BaseException], ...]:
    from firmware_bridge.jobs import JobError

    return (JobError,)


class _Driver:
    """One driver on an unopened link, fed reply lines inside its own event loop.

    An exception from the driver's line handler, or from a task it spawned, is
    what would break the serial reader's callback in the kiosk: count it."""

    def __init__(self, driver: str) -> None:
        self.driver = driver
        self.machine: Any = None
        self.loop: Any = None
        self.errors: list[BaseException] = []

    def _start(self) -> None:
        import asyncio

        from firmware_bridge.link import SerialLink

        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(
            lambda loop, ctx: self.errors.append(ctx.get("exception") or RuntimeError(ctx))
        )
        link = SerialLink("loop://", reconnect=False)
        if self.driver == "grbl":
            from firmware_bridge.grbl import GrblMachine

            self.machine = GrblMachine(link)
        elif self.driver == "marlin":
            from firmware_bridge.marlin import MarlinMachine

            self.machine = MarlinMachine(link)
        else:
            from firmware_bridge.linemachine import LineMachine

            self.machine = LineMachine(link)

    def __call__(self, text: str) -> object:
        import asyncio

        if self.machine is None:
            self._start()

        async def feed() -> None:
            self.machine._line(text)
            await asyncio.sleep(0)

        self.loop.run_until_complete(feed())
        if self.errors:
            exc = self.errors.pop()
            self.errors.clear()
            raise exc
        return self.machine.state


def _frame(text: str) -> object:
    from firmware_bridge.lineproto import parse, unframe

    return parse(unframe(text))


def _frame_error() -> tuple[type[BaseException], ...]:
    from firmware_bridge.lineproto import FrameError

    return (FrameError,)


BRIDGE_TARGETS: list[Target] = [
    Target(
        "bridge.job_file",
        lambda: st.tuples(
            st.one_of(GCODE, mutated(GCODE), st.binary(max_size=100)),
            st.sampled_from(["grbl", "marlin"]),
        ),
        _job_file,
        _job_error,
    ),
    Target(
        "bridge.grbl_reply",
        lambda: st.one_of(GRBL_LINES, mutated_text(GRBL_LINES), st.text(max_size=80)),
        _Driver("grbl"),
        lambda: (),
    ),
    Target(
        "bridge.marlin_reply",
        lambda: st.one_of(MARLIN_LINES, mutated_text(MARLIN_LINES), st.text(max_size=80)),
        _Driver("marlin"),
        lambda: (),
    ),
    Target("bridge.line_frame", _line_payloads, _frame, _frame_error),
    Target("bridge.line_reply", _line_payloads, _Driver("line"), lambda: ()),
]
TARGETS += BRIDGE_TARGETS


# -- running ------------------------------------------------------------------------


class Hang(BaseException):
    """A call ran past HANG_S (raised from a SIGALRM handler)."""


def _on_alarm(signum: int, frame: object) -> None:
    raise Hang(f"no answer within {HANG_S} s")


@dataclass
class Outcome:
    name: str
    inputs: int = 0
    values: int = 0
    clear_errors: int = 0
    unhandled: int = 0
    hangs: int = 0
    slowest_ms: float = 0.0
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)


def call_once(target: Target, value: Any, outcome: Outcome) -> None:
    clear = target.clear()
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_S)
    t0 = time.perf_counter()
    try:
        target.call(value)
        outcome.values += 1
    except clear:
        outcome.clear_errors += 1
    except Hang:
        outcome.hangs += 1
        outcome.examples.append(f"hang on {value!r:.300}")
    except Exception as exc:  # noqa: BLE001 — counting them is the point
        outcome.unhandled += 1
        if len(outcome.examples) < 5:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            outcome.examples.append(
                f"{type(exc).__name__}: {str(exc)[:120]} at {Path(where.filename).name}:"
                f"{where.lineno} on {value!r:.200}"
            )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        outcome.slowest_ms = max(outcome.slowest_ms, (time.perf_counter() - t0) * 1000)
        outcome.inputs += 1


BATCH = 8
"""Inputs drawn per hypothesis example in the bench: spreads the engine's own
per-example cost (the tests draw one input per example, for better shrinking)."""


def run_target(target: Target, n: int) -> Outcome:
    """Call the target on at least n generated inputs."""
    outcome = Outcome(target.name)
    batches = st.lists(target.inputs(), min_size=BATCH, max_size=BATCH)
    t0 = time.perf_counter()
    while outcome.inputs < n:

        @settings(
            max_examples=-(-(n - outcome.inputs) // BATCH),
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(batches)
        def probe(values: list[Any]) -> None:
            for value in values:
                call_once(target, value, outcome)

        probe()
    outcome.seconds = time.perf_counter() - t0
    return outcome


def _run_named(name: str, n: int) -> Outcome:
    return run_target(next(t for t in TARGETS if t.name == name), n)


def main(argv: list[str] | None = None) -> int:
    from concurrent.futures import ProcessPoolExecutor

    from bench.report import Report, parser

    p = parser("Fuzz every parser of outside input with generated inputs.")
    p.add_argument("-n", type=int, default=10_000, help="inputs per parser (default 10000)")
    p.add_argument("--only", help="run the targets whose name contains this")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    args = p.parse_args(argv)
    names = [t.name for t in TARGETS if not args.only or args.only in t.name]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = list(pool.map(_run_named, names, [args.n] * len(names)))
    wall = time.perf_counter() - t0
    report = Report()
    for o in outcomes:
        report.add(f"{o.name}.inputs", o.inputs)
        report.add(f"{o.name}.unhandled", o.unhandled + o.hangs)
        report.add(f"{o.name}.clear_errors", o.clear_errors)
        report.add(f"{o.name}.slowest", round(o.slowest_ms, 1), "ms")
        report.add(f"{o.name}.time", round(o.seconds, 1), "s")
        for line in o.examples:
            print(f"  {o.name}: {line}", file=sys.stderr)
    total_unhandled = sum(o.unhandled + o.hangs for o in outcomes)
    report.add("parsers", len(outcomes))
    report.add("min_inputs_per_parser", min((o.inputs for o in outcomes), default=0))
    report.add("total_inputs", sum(o.inputs for o in outcomes))
    report.add("hangs", sum(o.hangs for o in outcomes))
    report.add("wall_time", round(wall, 1), "s")
    report.emit(("total_unhandled", total_unhandled, "exceptions"), args.json)
    return 0 if total_unhandled == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
