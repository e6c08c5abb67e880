"""`cellctl provenance build`: the static provenance site a unit's QR opens.

The site is plain files for any static host: `index.html`, `page.js` and `style.css`
(cellctl/site/provenance_page/, no build tool, no CDN), `site.json` (the maker's name and
public key), `b/{file}.json` per batch (its public story) and `u/{shard}.json` (units by
a hash of their serial: edition number, day made, own QA result, and their batch's
file). The page checks the signature in the browser and reads only those files.

The records come from the site historian, a page of batches at a time
(`historian_pages`: over the bus, or from a historian database read on this machine
with `--db`, through the same answer code). The build writes into a fresh folder
beside the target and swaps it in whole, so a host never serves half a site.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cellctl.config.provenance import ProvenanceConfig
from cellctl.domain.codes import b64url
from cellctl.domain.provenance import batch_file, public_batch, public_unit, unit_slot
from cellctl.errors import CliError
from cellctl.labels.keys import key_id

ASSETS = ("index.html", "page.js", "style.css")
MARK = ".cellctl-provenance"

Page = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class BuildResult:
    out: Path
    batches: int
    units: int
    seconds: float


def historian_pages(ask: Callable[[dict[str, Any]], Any], page_size: int = 50) -> Iterator[Page]:
    """Pages of batch records asked of the site historian (`ask` sends one `provenance`
    request body and returns its result)."""
    after = ""
    while True:
        result = ask({"after": after, "limit": page_size})
        yield result["batches"]
        if not result.get("next"):
            return
        after = result["next"]


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, separators=(",", ":"), ensure_ascii=False), "utf-8")


def build(
    pages: Iterable[Page],
    out: str | Path,
    *,
    config: ProvenanceConfig,
    public_key: Ed25519PublicKey,
    maker: str,
) -> BuildResult:
    """Write the provenance site for every batch in `pages` to `out`."""
    started = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CliError(f"{out} is a file: give a folder for the provenance site")
    if out.exists() and any(out.iterdir()) and not (out / MARK).exists():
        raise CliError(
            f"{out} holds files that are not a provenance site cellctl built: give an empty "
            "or new folder (a build replaces the whole folder)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}-building-", dir=out.parent))
    try:
        batches, units = _write_site(work, pages, config, public_key, maker)
        if out.exists():
            old = out.with_name(f".{out.name}-old-{time.time_ns()}")
            out.rename(old)
            work.rename(out)
            shutil.rmtree(old)
        else:
            work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return BuildResult(out, batches, units, time.perf_counter() - started)


def _write_site(
    work: Path,
    pages: Iterable[Page],
    config: ProvenanceConfig,
    public_key: Ed25519PublicKey,
    maker: str,
) -> tuple[int, int]:
    page_dir = resources.files("cellctl.site") / "provenance_page"
    for name in ASSETS:
        (work / name).write_bytes((page_dir / name).read_bytes())
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    _write_json(
        work / "site.json",
        {"maker": config.maker or maker, "public_key": b64url(raw), "key_id": key_id(public_key)},
    )
    (work / MARK).write_text("built by cellctl provenance build\n")
    (work / "b").mkdir()
    (work / "u").mkdir()
    shards: dict[str, dict[str, list[Any]]] = {}
    n_batches = n_units = 0
    public = list(config.public)
    for page in pages:
        for record in page:
            file = batch_file(record["batch"])
            _write_json(work / "b" / f"{file}.json", public_batch(record, public, config.products))
            n_batches += 1
            for serial, unit in record["units"].items():
                shard, key = unit_slot(serial)
                shards.setdefault(shard, {})[key] = public_unit(unit, file, public)
                n_units += 1
    for shard, entries in shards.items():
        _write_json(work / "u" / f"{shard}.json", entries)
    work.chmod(0o755)  # mkdtemp makes it 0700; a web server must read it
    return n_batches, n_units
