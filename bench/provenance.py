"""The factory's edge: building the provenance site for 100,000 units, and the HTTP API
under 50 concurrent clients, each beside the historian's own query time in the same run.

Build: a synthetic history (`SiteHistory`, 24 units a batch) bulk-loaded into a SQLite
historian, then `cellctl.site.provenance.build` from it (the records from the database
through the historian's answer code, as `provenance build --db` reads them). The
baseline is the historian's own part: every batch's record asked for, nothing written.
The API figures are bench.api's (its docstring says how they are made).

    python -m bench.provenance           # 100k units, then bench.api's full run
    python -m bench.provenance --quick   # 20k units, bench.api --quick
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench import api
from bench.report import Report, parser


def _build(report: Report, units: int) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cellctl.config.provenance import ProvenanceConfig
    from cellctl.historian.answers import SiteContext, answer
    from cellctl.historian.backends import open_store
    from cellctl.historian.synth import CELLS, SiteHistory
    from cellctl.site.provenance import build, historian_pages

    history = SiteHistory()
    per_run = history.units
    ctx = SiteContext(cells={c: {"kind": kind} for kind, cells in CELLS.items() for c in cells})
    with tempfile.TemporaryDirectory(prefix="bench-provenance-") as tmpdir:
        tmp = Path(tmpdir)
        store = open_store(str(tmp / "historian.db"))
        # About 42 events a run: enough runs for `units` serials.
        wanted = units // per_run + 1
        loaded = store.bulk_load(history.events(wanted * 42))
        report.add("history_events", loaded, "events")

        def pages():  # the historian's own answers, as `provenance build --db` asks them
            return historian_pages(lambda body: answer(store, "provenance", body, ctx))

        t = time.perf_counter()
        records = sum(len(r["units"]) for page in pages() for r in page)
        query_s = time.perf_counter() - t
        config = ProvenanceConfig(base_url="https://maker.example/p/")
        key = Ed25519PrivateKey.generate().public_key()
        result = build(pages(), tmp / "site", config=config, public_key=key,
                       maker="bench")  # fmt: skip
        size = sum(p.stat().st_size for p in (tmp / "site").rglob("*") if p.is_file())
        store.close()
    assert result.units == records, (result.units, records)
    report.add("units", result.units, "units")
    report.add("batches", result.batches, "batches")
    report.add("historian_records_s", query_s, "s")
    report.add("build_s", result.seconds, "s")
    report.add("build_vs_records", result.seconds / query_s, "x historian")
    report.add("site_mb", size / 1e6, "MB")
    report.add("build_units_per_s", result.units / result.seconds, "units/s")


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="20k units and bench.api --quick")
    p.add_argument("--no-api", action="store_true", help="only the build")
    args = p.parse_args()
    report = Report()
    _build(report, 20_000 if args.quick else 100_000)
    headline = report.figures.pop()  # build_units_per_s, printed last
    if not args.no_api:
        api.measure(report, quick=args.quick)
    report.emit(headline, args.json)


if __name__ == "__main__":
    main()
