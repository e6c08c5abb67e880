"""`cellctl provenance build|certificate`: the public provenance site and certificates."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "provenance",
        help="the public provenance page a unit's QR opens, and collector certificates",
    )
    psub = p.add_subparsers(dest="provenance_command", metavar="ACTION", required=True)
    build = psub.add_parser(
        "build",
        help="write the static provenance site (for any static web host)",
        description="Ask the site historian for every batch's story and write a static site "
        "(HTML, CSS, a little JavaScript and JSON files) that checks a unit's signed QR in "
        "the browser and shows what the site file's [provenance] public list allows. Put "
        "the folder at the site's [provenance] base_url.",
    )
    build.add_argument("--out", required=True, metavar="DIR", help="the folder to (re)write")
    cert = psub.add_parser(
        "certificate",
        help="an A6 certificate of authenticity for one unit (PNG or PDF)",
        description="Render the collector certificate template with the unit's edition, its "
        "signed QR and the signature's fingerprint, on an A6 page at 300 dpi. Needs the "
        "site's signing key on this machine.",
    )
    cert.add_argument("serial", metavar="SERIAL", help="a serial, or a scanned unit code")
    cert.add_argument("--out", required=True, metavar="FILE", help="a .png or .pdf file")
    for sp in (build, cert):
        sp.add_argument("--site", default="stations/demo/site.toml", help="the site's TOML file")
        sp.add_argument("--url", help="broker URL, overriding the site file's [mqtt] url")
        sp.add_argument(
            "--timeout", type=float, default=10.0, help="seconds to wait for each answer (10)"
        )
        sp.add_argument(
            "--db",
            metavar="FILE|URL",
            help="read this historian database directly instead of asking the historian "
            "(forensics on the central machine)",
        )
    build.set_defaults(func=_build)
    cert.set_defaults(func=_certificate)


def _site(args: argparse.Namespace) -> Any:
    from cellctl.commands.historian import load_site_for_bus
    from cellctl.errors import CliError

    site = load_site_for_bus(args.site, args.url)
    if site.provenance is None and args.func is _build:
        raise CliError(
            f"{args.site} has no [provenance] table: set base_url (where the site will be "
            "hosted) before building it"
        )
    return site


def _asker(args: argparse.Namespace, site: Any) -> Any:
    """ask(what, body) -> result: the historian over the bus, or the database given."""
    from cellctl.errors import CliError

    if args.db:
        from cellctl.commands.historian import database_of
        from cellctl.historian.answers import BadQuery, SiteContext, answer
        from cellctl.historian.backends import open_store

        store = open_store(database_of(site, args.site, args.db))
        ctx = SiteContext.load(site, args.site)

        def ask_db(what: str, body: dict[str, Any]) -> Any:
            try:
                return answer(store, what, body, ctx)
            except BadQuery as exc:
                raise CliError(str(exc)) from None

        return ask_db

    from cellctl.bus.site_request import SiteRequestError, ask_site_sync

    def ask_bus(what: str, body: dict[str, Any]) -> Any:
        try:
            return ask_site_sync(site.mqtt, site.site.id, what, body, timeout_s=args.timeout)
        except SiteRequestError as exc:
            raise CliError(str(exc)) from None

    return ask_bus


def _public_key(site: Any, site_path: str) -> Any:
    from pathlib import Path

    from cellctl.errors import CliError
    from cellctl.labels.errors import KeyFileError
    from cellctl.labels.keys import load_public

    if site.public_key is None:
        raise CliError(f"{site_path} has no public_key: the page needs it to check codes")
    path = (
        site.public_key
        if site.public_key.is_absolute()
        else Path(site_path).parent / site.public_key
    )
    try:
        return load_public(path)
    except KeyFileError as exc:
        raise CliError(str(exc)) from None


def _build(args: argparse.Namespace) -> int:
    from cellctl.site.provenance import build, historian_pages

    site = _site(args)
    ask = _asker(args, site)
    result = build(
        historian_pages(lambda body: ask("provenance", body)),
        args.out,
        config=site.provenance,
        public_key=_public_key(site, args.site),
        maker=site.site.name,
    )
    print(
        f"wrote {result.out}: {result.units} units in {result.batches} batches "
        f"({result.seconds:.1f} s). Host the folder at {site.provenance.base_url}"
    )
    return 0


def _certificate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cellctl.domain.trace import normalise_query
    from cellctl.errors import CliError
    from cellctl.labels.errors import KeyFileError
    from cellctl.labels.keys import load_private
    from cellctl.site.certificate import certificate, save

    site = _site(args)
    if site.signing_key is None:
        raise CliError(f"{args.site} has no signing_key: a certificate's QR must be signed")
    key_path = site.signing_key
    if not key_path.is_absolute():
        key_path = Path(args.site).parent / key_path
    try:
        key = load_private(key_path)
    except KeyFileError as exc:
        raise CliError(str(exc)) from None
    ask = _asker(args, site)
    serial = normalise_query(args.serial)
    found = ask("trace", {"query": serial})
    if found.get("kind") != "unit" or not found.get("batch"):
        raise CliError(f"{serial!r} is not a unit serial with a batch known to the historian")
    record = ask("provenance", {"batch": found["batch"]})
    prov = site.provenance
    cert = certificate(
        serial,
        record,
        signing_key=key,
        base_url=prov.base_url if prov else None,
        site_name=(prov.maker if prov and prov.maker else site.site.name),
        title=prov.products.get(record.get("sku") or "") if prov else None,
    )
    out = save(cert, args.out)
    print(f"wrote {out}: certificate of {serial}, signature {cert.fingerprint}")
    return 0
