"""The provenance site built from the historian over the bus, opened in real headless
Chromium at phone width: genuine, altered, foreign-key, unknown-serial, unreadable and
unchecked codes, with what the page says checked in its DOM and a screenshot kept."""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import date
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cellctl.domain.codes import UnitClaims, encode_unit_url
from cellctl.labels.keys import load_private
from tests.board.browser import Chromium, chromium_path
from tests.provenance.conftest import PRODUCT, SERIALS, ProvenanceSite, cli

pytestmark = pytest.mark.skipif(
    chromium_path() is None and not os.environ.get("CI"),
    reason="chromium is not installed (apt-get install -y --no-install-recommends chromium)",
)
ARTIFACTS = Path(os.environ.get("CELLCTL_TEST_ARTIFACTS", "build/test-artifacts")) / "provenance"
# Settles when page.js has said its verdict (no event announces it to DevTools).
VERDICT = """new Promise((done) => {
  const look = () => document.body && document.body.dataset.state !== "loading"
    ? done(document.body.dataset.state) : setTimeout(look, 20);
  look();
})"""
READ = """JSON.stringify({state: document.body.dataset.state,
  status: document.getElementById("status").textContent,
  reason: document.getElementById("reason").textContent,
  product: document.getElementById("product").textContent,
  claims: Array.from(document.querySelectorAll("#claims dd"), (d) => [d.textContent, d.className]),
  tour: Array.from(document.querySelectorAll("#tour li"), (li) => li.textContent),
  imgs: document.querySelectorAll("img").length, pwned: window.__pwned || null,
  width: document.documentElement.scrollWidth})"""
NO_ED25519 = """(() => {
  const subtle = crypto.subtle, native = subtle.importKey.bind(subtle);
  subtle.importKey = (format, key, alg, ...rest) =>
    (alg && (alg.name || alg) === "Ed25519")
      ? Promise.reject(new DOMException("Unrecognized name", "NotSupportedError"))
      : native(format, key, alg, ...rest);
})();"""


@pytest.fixture
def served(prov_site: ProvenanceSite) -> Iterator[str]:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(prov_site.out))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]  # keep pytest's output clean
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
async def phone() -> AsyncIterator[Chromium]:
    browser = Chromium("about:blank").start()
    try:
        await browser.open()
        await browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844,
                           deviceScaleFactor=2, mobile=True)  # fmt: skip
        yield browser
    finally:
        await browser.close()
        browser.stop()


async def _visit(browser: Chromium, url: str, shot: str) -> dict[str, Any]:
    await browser.call("Page.navigate", url="about:blank")
    await browser.call("Page.navigate", url=url)
    await browser.call("Runtime.evaluate", expression=VERDICT, awaitPromise=True, timeout=20000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await browser.screenshot(ARTIFACTS / f"{shot}.png")
    return json.loads(await browser.evaluate(READ))


def _url(base: str, key: Ed25519PrivateKey, serial: str = SERIALS[1], n: int = 2) -> str:
    claims = UnitClaims(serial, "MUG-BLUE", date(2026, 11, 2), n, 250)
    return encode_unit_url(base, claims, key)


async def test_the_page_tells_genuine_from_altered_foreign_and_unknown(
    prov_site: ProvenanceSite, served: str, phone: Chromium
) -> None:
    assert await cli(["provenance", "build", "--site", str(prov_site.site_path),
                      "--out", str(prov_site.out)]) == 0  # fmt: skip
    key = load_private(prov_site.signing_key)
    genuine = _url(served, key)

    page = await _visit(phone, genuine, "genuine")
    assert page["state"] == "genuine"
    assert page["status"] == "Genuine — edition 2 of 250"
    assert page["product"] == PRODUCT  # shown as text: the markup in the name is inert
    assert page["imgs"] == 0 and page["pwned"] is None
    assert [c[0] for c in page["claims"]][:3] == [SERIALS[1], "2 of 250", "MUG-BLUE"]
    assert all(c[1] == "" for c in page["claims"])
    assert page["tour"][0].startswith("Cut") and "2026" in page["tour"][0]
    assert page["tour"][1].startswith("Printed") and page["tour"][2].startswith("Finished")
    assert "passed quality inspection" in page["tour"][3]
    assert "this unit was among them and passed" in page["tour"][3]
    assert page["width"] <= 390  # nothing runs off a phone's screen

    altered = genuine.replace("e=2/250", "e=1/250")
    page = await _visit(phone, altered, "altered")
    assert page["state"] == "not-genuine" and page["status"] == "Not genuine"
    assert "altered" in page["reason"] and page["tour"] == []

    page = await _visit(phone, _url(served, Ed25519PrivateKey.generate()), "foreign-key")
    assert page["state"] == "not-genuine" and "signed by someone else" in page["reason"]

    page = await _visit(phone, _url(served, key, serial="MUG-BLUE-B0099-0001"), "unknown")
    assert page["state"] == "unknown" and page["status"] == "Unknown serial"
    assert "MUG-BLUE-B0099-0001 is not in the published record" in page["reason"]

    page = await _visit(phone, genuine.split("&g=")[0], "unreadable")
    assert page["state"] == "invalid" and "incomplete" in page["reason"]

    other = _url(served, key, serial=SERIALS[0], n=1)
    page = await _visit(phone, other, "genuine-not-sampled")
    assert page["status"] == "Genuine — edition 1 of 250"
    assert "this unit was among them" not in page["tour"][3]

    # A browser without WebCrypto Ed25519: the claims are shown as not checked, never genuine.
    await phone.call("Page.addScriptToEvaluateOnNewDocument", source=NO_ED25519)
    page = await _visit(phone, genuine, "unchecked")
    assert page["state"] == "unchecked" and page["status"] == "Not checked in this browser"
    assert all(c[1] == "unchecked" for c in page["claims"])
    page = await _visit(phone, altered, "unchecked-altered")
    assert page["state"] == "unchecked"


async def test_the_built_files_hold_nothing_private(prov_site: ProvenanceSite) -> None:
    assert await cli(["provenance", "build", "--site", str(prov_site.site_path),
                      "--out", str(prov_site.out)]) == 0  # fmt: skip
    files = [p for p in prov_site.out.rglob("*") if p.is_file()]
    names = sorted(str(p.relative_to(prov_site.out)) for p in files)
    assert {"index.html", "page.js", "style.css", "site.json"} <= set(names)
    text = "\n".join(p.read_text() for p in files if p.suffix == ".json")
    for secret in ("Ada", "OP-ADA", "cut-01", "qa-01", "B0042", "R-42", *SERIALS, "PRIVATE"):
        assert secret not in text, secret
    site = json.loads((prov_site.out / "site.json").read_text())
    assert site["maker"] == "Fox & Kiln Microfactory" and site["key_id"].startswith("ed25519:")
    # A rebuild replaces the site whole; a folder of other files is never overwritten.
    (prov_site.out / "stale.json").write_text("{}")
    assert await cli(["provenance", "build", "--site", str(prov_site.site_path),
                      "--out", str(prov_site.out)]) == 0  # fmt: skip
    assert not (prov_site.out / "stale.json").exists()
    other = prov_site.out.parent / "somebody-elses"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert await cli(["provenance", "build", "--site", str(prov_site.site_path),
                      "--out", str(other)]) == 1  # fmt: skip
    assert (other / "keep.txt").read_text() == "mine"
