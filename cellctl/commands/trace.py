"""`cellctl trace SERIAL|BATCH --site stations/demo/site.toml [--json]`: asks the site
historian over the bus; `--store FILE` reads station store files instead (forensics)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "trace",
        help="the whole genealogy of a serial or a batch, from the site historian",
        description=(
            "Ask the site historian (over the broker) for the run, cells and machines, "
            "operators, times, material lots, counts, defects, inspections, labels printed, "
            "reprinted or voided, hold history and non-conformance records of a unit or "
            "batch. With --store, read those station store files instead (forensics on one "
            "machine; nothing else is read)."
        ),
    )
    p.add_argument("query", metavar="SERIAL|BATCH", help="a serial, a batch, or a scanned code")
    p.add_argument("--site", help="the site file (its broker and site id; names cells)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--url", help="broker URL, overriding the site file's [mqtt] url")
    p.add_argument(
        "--timeout", type=float, default=3.0, help="seconds to wait for the historian (3)"
    )
    p.add_argument(
        "--store",
        action="append",
        default=[],
        metavar="FILE",
        help="read this station store file instead of asking the historian (repeatable)",
    )
    p.set_defaults(func=_trace)


def _trace(args: argparse.Namespace) -> int:
    from cellctl.errors import CliError, ConfigError

    if args.store:
        from cellctl.site.trace import TraceError, trace_stores

        try:
            result = trace_stores(args.store, args.query, site_path=args.site)
        except ConfigError as exc:
            raise CliError(str(exc)) from None
        except TraceError as exc:
            raise CliError(str(exc.args[0])) from None
    else:
        from cellctl.bus.site_request import SiteRequestError, ask_site_sync
        from cellctl.commands.historian import load_site_for_bus

        if not args.site:
            raise CliError("give --site (to ask the site historian) or --store FILE")
        site = load_site_for_bus(args.site, args.url)
        try:
            result = ask_site_sync(
                site.mqtt, site.site.id, "trace", {"query": args.query}, timeout_s=args.timeout
            )
        except SiteRequestError as exc:
            raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print("\n".join(render(result)))
    return 0


def _t(time: str | None) -> str:
    return (time or "-").replace("T", " ").removesuffix("Z")


def render(r: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    head = f"unit {r['serial']}" if r["kind"] == "unit" else f"batch {r['batch']}"
    lines.append(f"{head}  sku {r['sku'] or '?'}  batch {r['batch'] or '?'}")
    lines.append(f"runs: {', '.join(r['runs']) or 'none recorded'}")
    if r["on_hold"]:
        lines.append(f"ON HOLD: {r['on_hold']}")
    if r["kind"] == "batch" and r["units"]:
        lines.append(
            f"units ({len(r['units'])}): {', '.join(r['units'][:12])}"
            + (" ..." if len(r["units"]) > 12 else "")
        )

    def section(title: str, rows: list[str]) -> None:
        if rows:
            lines.append("")
            lines.append(title)
            lines.extend(f"  {row}" for row in rows)

    section(
        "steps",
        [
            f"{s['run_id']} step {s['step']} at {s['cell']} ({s['kind'] or '?'}"
            + (f", {s['machine']}" if s["machine"] else "")
            + f"): {_t(s['started'])} -> {_t(s['completed'])}, {s['good']} good, "
            f"{s['scrap']} scrap; by {', '.join(s['operators']) or '?'}"
            + (f"; material {', '.join(s['materials'])}" if s["materials"] else "")
            + (f"; CLOSED SHORT: {s['closed_short']}" if s.get("closed_short") else "")
            + (f"; {s['outcome']}" if s.get("outcome") else "")
            for s in r["steps"]
        ],
    )
    section("material lots", [f"{_t(m['time'])} {m['cell']}: {m['lot']}" for m in r["materials"]])
    section(
        "defects",
        [
            f"{_t(d['time'])} {d['cell']}: {d['code']} ({d['severity']})"
            + (f" on {d['serial']}" if d.get("serial") else "")
            + (f" - {d['note']}" if d.get("note") else "")
            + (f" [photo {d['photo']}]" if d.get("photo") else "")
            for d in r["defects"]
        ],
    )
    section(
        "samples",
        [
            f"{_t(s['time'])} {s['cell']}: {s['n']} of {s['lot_size']} ({s['severity']}, "
            f"level {s['level']}, AQL {s['aql']}, seed {s['seed']})"
            + (
                f"; this unit {'in' if s['unit_in_sample'] else 'not in'} the sample"
                if "unit_in_sample" in s
                else ""
            )
            for s in r["samples"]
        ],
    )
    section(
        "inspections",
        [
            f"{_t(i['time'])} {i['cell']}: {i['serial']} "
            + ("passed" if i["passed"] else f"FAILED {', '.join(i['defects'])}")
            + f" by {i['operator']}"
            + (f" - {i['note']}" if i.get("note") else "")
            for i in r["inspections"]
        ],
    )
    section(
        "lot verdicts",
        [
            f"{_t(lot['time'])} {lot['cell']}: "
            + ("ACCEPTED" if lot["accepted"] else "REJECTED")
            + (" (resubmitted)" if lot["resubmitted"] else "")
            + f" - {lot['reason']}"
            for lot in r["lots"]
        ],
    )
    section(
        "labels",
        [
            f"{_t(lb['time'])} {lb['cell']}: {lb['kind']} {lb.get('template', '')} "
            f"{', '.join(lb['serials'][:4])}"
            + (f" ({lb['reason']})" if lb.get("reason") else "")
            + f" by {lb['operator']}"
            for lb in r["labels"]
        ],
    )
    section(
        "hold history",
        [
            f"{_t(h['time'])} {h['cell']}: {'HELD' if h['held'] else 'released'} - "
            f"{h['reason']} by {h['operator']}"
            for h in r["holds"]
        ],
    )
    section(
        "non-conformance",
        [
            f"{n['ncr_id']}: {n['status']}"
            + (
                f", opened {_t(n['opened']['time'])} ({n['opened']['reason']})"
                if n["opened"]
                else ""
            )
            + (
                f", closed {_t(n['closed']['time'])}: {n['disposition']} by "
                f"{n['closed']['operator']} ({n['closed']['note']})"
                if n.get("closed")
                else ""
            )
            for n in r["ncrs"]
        ],
    )
    section("operators", [f"{b}: {name}" for b, name in sorted(r["operators"].items())])
    section(
        "timeline",
        [
            f"{_t(e['time'])} {e['cell']:<10} {e['type']:<22} {e['summary']}"
            + (f" [{e['operator']}]" if e["operator"] else "")
            for e in r["timeline"]
        ],
    )
    if r.get("stores_missing"):
        section("not read", r["stores_missing"])
    return lines
