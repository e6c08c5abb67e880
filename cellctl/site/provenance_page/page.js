// The provenance page: reads the unit's claims from the URL fragment, checks their
// Ed25519 signature with the maker's public key in this browser (WebCrypto), then shows
// the published story of the unit's batch. Everything shown goes in as text, never as
// HTML. The claim format and the signed message mirror cellctl/domain/codes.py.
"use strict";

(() => {
  const VALUE = /^[A-Za-z0-9][A-Za-z0-9_.\-/+ ]{0,63}$/;
  const EDITION = /^([1-9][0-9]{0,6})(?:\/([1-9][0-9]{0,6}))?$/;
  const DAY = /^[0-9]{8}$/;
  const SIG = /^[A-Za-z0-9_-]{86}$/;
  const KEYS = ["s", "e", "k", "d", "g"];
  const STEP_WORDS = { cut: "Cut", print: "Printed", finish: "Finished", qa: "Inspected" };
  const $ = (id) => document.getElementById(id);

  function put(id, value) {
    $(id).textContent = value == null ? "" : String(value);
  }

  function parseClaims(fragment) {
    if (fragment.length > 600) return { error: "the code is too long to be one of ours" };
    const seen = {};
    for (const part of fragment.split("&")) {
      const cut = part.indexOf("=");
      if (cut < 1) return { error: "the code's claims are not readable" };
      const k = part.slice(0, cut);
      let v;
      try {
        v = decodeURIComponent(part.slice(cut + 1).replace(/\+/g, " "));
      } catch (e) {
        return { error: "the code's claims are not readable" };
      }
      if (!KEYS.includes(k)) return { error: `the code has an unknown claim "${k}"` };
      if (k in seen) return { error: `the code gives "${k}" twice` };
      seen[k] = v;
    }
    for (const k of ["s", "k", "d", "g"]) {
      if (!(k in seen)) return { error: "the code is incomplete (serial, product, date or signature missing)" };
    }
    if (!VALUE.test(seen.s)) return { error: "the serial in the code is not valid" };
    if (!VALUE.test(seen.k)) return { error: "the product code in the code is not valid" };
    if (!DAY.test(seen.d)) return { error: "the date in the code is not valid" };
    const y = +seen.d.slice(0, 4), m = +seen.d.slice(4, 6), d = +seen.d.slice(6);
    const day = new Date(Date.UTC(y, m - 1, d));
    if (day.getUTCFullYear() !== y || day.getUTCMonth() !== m - 1 || day.getUTCDate() !== d) {
      return { error: "the date in the code does not exist" };
    }
    let n = null, of = null;
    if ("e" in seen) {
      const em = EDITION.exec(seen.e);
      if (!em) return { error: "the edition in the code is not valid" };
      n = +em[1];
      of = em[2] ? +em[2] : null;
      if (of !== null && n > of) return { error: "the edition in the code does not exist" };
    }
    if (!SIG.test(seen.g)) return { error: "the signature in the code is damaged" };
    return {
      claims: { serial: seen.s, sku: seen.k, day: seen.d, n, of, sig: seen.g },
    };
  }

  function message(c) {
    const edition = c.n === null ? "" : `${c.n}/${c.of === null ? "" : c.of}`;
    return new TextEncoder().encode(["CP1", c.serial, edition, c.sku, c.day].join("\n"));
  }

  function unb64url(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  }

  // "valid", "invalid", or "unsupported" (no WebCrypto Ed25519 in this browser).
  async function check(c, publicKey) {
    const subtle = window.crypto && window.crypto.subtle;
    if (!subtle) return "unsupported";
    let key;
    try {
      key = await subtle.importKey("raw", unb64url(publicKey), { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      return "unsupported";
    }
    try {
      const ok = await subtle.verify({ name: "Ed25519" }, key, unb64url(c.sig), message(c));
      return ok ? "valid" : "invalid";
    } catch (e) {
      return "invalid";
    }
  }

  async function slot(serial) {
    const data = new TextEncoder().encode("cellctl-provenance:" + serial);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    return [hex.slice(0, 2), hex.slice(2, 18)];
  }

  async function getJSON(path) {
    const r = await fetch(path, { cache: "no-cache" });
    if (r.status === 404) return null;
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.json();
  }

  function longDay(iso) {
    if (!iso) return "";
    const [y, m, d] = iso.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(undefined, {
      day: "numeric", month: "long", year: "numeric", timeZone: "UTC",
    });
  }

  function claimDay(c) {
    return `${c.day.slice(0, 4)}-${c.day.slice(4, 6)}-${c.day.slice(6)}`;
  }

  function verdict(state, status, reason) {
    document.body.dataset.state = state;
    put("status", status);
    put("reason", reason);
  }

  function showClaims(c, product, checked) {
    $("product-box").hidden = false;
    put("product", product || c.sku);
    const dl = $("claims");
    dl.replaceChildren();
    const rows = [["Serial", c.serial], ["Product code", c.sku], ["Made", longDay(claimDay(c))]];
    if (c.n !== null) rows.splice(1, 0, ["Edition", c.of ? `${c.n} of ${c.of}` : `${c.n}`]);
    for (const [name, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = value;
      if (!checked) dd.className = "unchecked";
      dl.append(dt, dd);
    }
  }

  function showTour(batch, unit) {
    const ol = $("tour");
    ol.replaceChildren();
    const add = (what, when, cls) => {
      const li = document.createElement("li");
      li.textContent = what;
      if (cls) li.className = cls;
      if (when) {
        const span = document.createElement("span");
        span.className = "when";
        span.textContent = longDay(when);
        li.append(span);
      }
      ol.append(li);
    };
    for (const step of batch.steps || []) {
      if (step.kind === "qa") continue; // said with its verdict below
      const word = STEP_WORDS[step.kind] || "Worked on";
      add(step.done ? word : `${word} (in progress)`, step.day, "step");
    }
    if (batch.qa) {
      const passed = batch.qa.verdict === "accepted";
      let what = passed ? "Inspected: the batch passed quality inspection"
                        : "Inspected: the batch did not pass quality inspection";
      const k = batch.qa.inspected;
      if (k) what += ` (${k} ${k === 1 ? "unit" : "units"} sampled)`;
      if (unit[3] === true) what += "; this unit was among them and passed";
      if (unit[3] === false) what += "; this unit was among them and failed";
      add(what, batch.qa.day, passed ? "qa-accepted" : "qa-rejected");
    }
    $("tour-box").hidden = ol.children.length === 0;
  }

  async function main() {
    let site;
    try {
      site = await getJSON("site.json");
    } catch (e) {
      site = null;
    }
    if (!site) {
      verdict("invalid", "Cannot check", "This page could not load the maker's key (site.json).");
      return;
    }
    put("maker", site.maker);
    put("key", `The code is checked in your browser with ${site.maker}'s public key ` +
      `${site.key_id}; the code itself never leaves your browser.`);
    const fragment = location.hash.slice(1);
    if (!fragment) {
      verdict("invalid", "No code", "Open this page by scanning the QR code on the product.");
      return;
    }
    const parsed = parseClaims(fragment);
    if (parsed.error) {
      verdict("invalid", "Not genuine", `This is not a valid code: ${parsed.error}.`);
      return;
    }
    const c = parsed.claims;
    const result = await check(c, site.public_key);
    if (result === "invalid") {
      showClaims(c, null, false);
      verdict("not-genuine", "Not genuine",
        `The signature does not match these claims under ${site.maker}'s key: the code ` +
        "was altered, or it was signed by someone else.");
      return;
    }
    let unit = null, batch = null;
    if (window.crypto && window.crypto.subtle) {
      const [shard, key] = await slot(c.serial);
      const index = await getJSON(`u/${shard}.json`);
      unit = index && Object.prototype.hasOwnProperty.call(index, key) ? index[key] : null;
      if (unit) batch = await getJSON(`b/${unit[0]}.json`);
    }
    const product = batch && batch.product;
    if (result === "unsupported") {
      showClaims(c, product, false);
      verdict("unchecked", "Not checked in this browser",
        "This browser cannot check Ed25519 signatures, so the claims below are not " +
        "verified. Open the page in a current browser to check them.");
      if (batch) showTour(batch, unit);
      return;
    }
    showClaims(c, product, true);
    if (!unit || !batch) {
      verdict("unknown", "Unknown serial",
        `The code carries ${site.maker}'s signature, but serial ${c.serial} is not in the ` +
        "published record. If it is new, the record may not be published yet.");
      return;
    }
    if ((unit[1] !== null && unit[1] !== c.n) || (batch.sku && batch.sku !== c.sku)) {
      verdict("not-genuine", "Not genuine",
        "The signed claims disagree with the maker's published record for this serial.");
      return;
    }
    const edition = c.n !== null && c.of ? ` — edition ${c.n} of ${c.of}` : "";
    verdict("genuine", `Genuine${edition}`,
      `${product || c.sku}, made by ${site.maker} on ${longDay(claimDay(c))}.`);
    showTour(batch, unit);
  }

  main().catch((e) => {
    verdict("invalid", "Cannot check", `Something went wrong loading the record: ${e.message}`);
  });
  window.addEventListener("hashchange", () => location.reload());
})();
