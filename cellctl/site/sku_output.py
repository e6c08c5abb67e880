"""The SKU report as text (CSV, JSON) and as charts a supervisor can mail.

Charts use matplotlib's Agg backend (no display, safe on a headless central machine):
lead time p50/p90 per SKU, yield and FPY per SKU, and a scrap Pareto per SKU; each as
PNG (for mail clients) and SVG (for print), with an `index.html` that shows them
beside the tables (inline images referenced by file name, no script, no CDN).
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from pathlib import Path
from typing import Any

from cellctl.domain.sku_report import SKU_TABLES


def sku_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2) + "\n"


def sku_csv(report: dict[str, Any]) -> str:
    """The three tables in one file, a `section` column first (like `report --table all`)."""
    columns = ["section"]
    for name in SKU_TABLES:
        for row in report.get(name, []):
            columns += [k for k in row if k not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for name in SKU_TABLES:
        for row in report.get(name, []):
            writer.writerow({"section": name, **row})
    return out.getvalue()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60] or "_"


def write_plots(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """Charts and an index page in `out_dir` (created); the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    charts: list[tuple[str, str]] = []

    def save(fig: Any, stem: str, title: str) -> None:
        for ext in ("png", "svg"):
            path = out_dir / f"{stem}.{ext}"
            fig.savefig(path, dpi=110, bbox_inches="tight")
            written.append(path)
        plt.close(fig)
        charts.append((f"{stem}.png", title))

    rows = report.get("sku", [])
    skus = [r["sku"] for r in rows]
    if rows:
        fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(rows)))
        y = range(len(rows))
        p50 = [(r["lead_p50_s"] or 0) / 3600 for r in rows]
        p90 = [(r["lead_p90_s"] or 0) / 3600 for r in rows]
        ax.barh([i + 0.2 for i in y], p90, height=0.4, label="p90", color="#c77")
        ax.barh([i - 0.2 for i in y], p50, height=0.4, label="p50", color="#47a")
        ax.set_yticks(list(y), skus)
        ax.set_xlabel("lead time, submitted to last step done (hours)")
        ax.legend()
        save(fig, "lead_time", "Lead time per SKU")

        fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(rows)))
        ax.barh([i + 0.2 for i in y], [100 * (r["yield"] or 0) for r in rows], height=0.4,
                label="yield", color="#6a6")  # fmt: skip
        ax.barh([i - 0.2 for i in y], [100 * (r["fpy"] or 0) for r in rows], height=0.4,
                label="first-pass yield", color="#aa4")  # fmt: skip
        ax.set_yticks(list(y), skus)
        ax.set_xlim(0, 100)
        ax.set_xlabel("% (rolled over the SKU's steps)")
        ax.legend(loc="lower left")
        save(fig, "yield", "Yield and first-pass yield per SKU")

    by_sku: dict[str, list[dict[str, Any]]] = {}
    for r in report.get("sku_scrap", []):
        by_sku.setdefault(r["sku"], []).append(r)
    for sku, scrap in by_sku.items():
        fig, ax = plt.subplots(figsize=(7, 3.2))
        codes = [r["code"] for r in scrap]
        ax.bar(codes, [r["count"] for r in scrap], color="#a55")
        ax.set_ylabel("defects")
        twin = ax.twinx()
        twin.plot(codes, [100 * r["cumulative"] for r in scrap], marker="o", color="#333")
        twin.set_ylim(0, 105)
        twin.set_ylabel("cumulative %")
        ax.set_title(f"Scrap Pareto — {sku}")
        save(fig, f"pareto_{_safe(sku)}", f"Scrap Pareto, {sku}")

    page = [
        "<!doctype html><meta charset=utf-8><title>SKU report</title>",
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}"
        "td:first-child{text-align:left}</style>",
        f"<h1>SKU report {html.escape(str(report.get('from', '')))} – "
        f"{html.escape(str(report.get('to', '')))}</h1>",
    ]
    for name in SKU_TABLES:
        table = report.get(name, [])
        if not table:
            continue
        page.append(f"<h2>{html.escape(name)}</h2><table><tr>")
        page += [f"<th>{html.escape(str(k))}</th>" for k in table[0]]
        page.append("</tr>")
        for row in table:
            cells = "".join(f"<td>{html.escape('' if v is None else str(v))}</td>"
                            for v in row.values())  # fmt: skip
            page.append(f"<tr>{cells}</tr>")
        page.append("</table>")
    for src, title in charts:
        page.append(f"<h2>{html.escape(title)}</h2><img src='{html.escape(src)}' alt=''>")
    index = out_dir / "index.html"
    index.write_text("\n".join(page) + "\n", encoding="utf-8")
    written.append(index)
    return written
