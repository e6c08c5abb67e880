"""`cellctl verify CODE_OR_IMAGE`: is a unit label genuine? Works offline."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="check a unit code (text or a photo/scan of the label) against the site's key",
        description="Say whether a unit code is genuine, offline, with the site's public key. "
        "Exit status 0 genuine, 1 not genuine or not readable.",
    )
    p.add_argument("code", metavar="CODE_OR_IMAGE", help="the scanned text, or an image file")
    p.add_argument("--public-key", help="the site's public key (PEM)")
    p.add_argument("--site", help="site.toml whose public_key to use (default: ./site.toml)")
    p.add_argument(
        "--history",
        action="store_true",
        help="also ask the site historian (over the bus) what the unit went through",
    )
    p.add_argument("--url", help="broker URL, overriding the site file's [mqtt] url")
    p.set_defaults(func=_verify)


def _public_key_path(args: argparse.Namespace):
    from pathlib import Path

    from cellctl.config.load import load_site
    from cellctl.errors import CliError, ConfigError

    if args.public_key:
        return Path(args.public_key)
    site_path = Path(args.site or "site.toml")
    if not site_path.is_file():
        raise CliError("give --public-key PEM or --site site.toml (with public_key set)")
    try:
        site = load_site(site_path)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if site.public_key is None:
        raise CliError(f"{site_path} has no public_key: give --public-key")
    p = site.public_key
    return p if p.is_absolute() else site_path.parent / p


def _verify(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cellctl.errors import CliError
    from cellctl.labels.errors import KeyFileError
    from cellctl.labels.keys import key_id, load_public
    from cellctl.labels.verify import verify_text

    try:
        public = load_public(_public_key_path(args))
    except KeyFileError as exc:
        raise CliError(str(exc)) from None
    texts = [args.code]
    source = Path(args.code)
    if source.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"):
        texts = _codes_in_image(source)
    verdicts = [verify_text(t, public) for t in texts]
    units = [v for v in verdicts if v.serial is not None] or verdicts
    for v in units:
        word = "GENUINE" if v.genuine else "NOT GENUINE"
        print(f"{word}: {v.reason} ({key_id(public)})")
        if args.history and v.genuine and v.serial:
            for line in _history(args, v.serial):
                print(f"  {line}")
    return 0 if units and all(v.genuine for v in units) else 1


def _history(args: argparse.Namespace, serial: str) -> list[str]:
    """What the site historian knows of the unit, a line a step; the genuineness above
    stands without it (it is checked offline), so a historian away is said, not fatal."""
    from cellctl.bus.site_request import SiteRequestError, ask_site_sync
    from cellctl.commands.historian import load_site_for_bus
    from cellctl.errors import CliError

    try:
        site = load_site_for_bus(args.site or "site.toml", args.url)
        found = ask_site_sync(site.mqtt, site.site.id, "trace", {"query": serial})
    except (CliError, SiteRequestError) as exc:
        return [f"history: not available ({exc})"]
    lines = [f"batch {found.get('batch') or '?'} · SKU {found.get('sku') or '?'} · "
             f"run {', '.join(found.get('runs') or []) or '?'}"]  # fmt: skip
    for step in found.get("steps", []):
        day = (step.get("completed") or step.get("started") or "")[:10]
        lines.append(
            f"{day} {step.get('kind') or '?'} at {step.get('cell')}: "
            f"{step.get('good', 0)} good, {step.get('scrap', 0)} scrap"
        )
    for lot in found.get("lots", []):
        verdict = "accepted" if lot.get("accepted") else "rejected"
        lines.append(f"{(lot.get('time') or '')[:10]} QA {verdict} the batch")
    return lines


def _codes_in_image(path) -> list[str]:
    from PIL import Image, UnidentifiedImageError

    from cellctl.errors import CliError
    from cellctl.labels.decode import decode_all

    try:
        with Image.open(path) as img:
            found = decode_all(img)
    except FileNotFoundError:
        raise CliError(f"no image {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise CliError(f"cannot read {path} as an image: {exc}") from None
    texts = list(dict.fromkeys(f.text for f in found))
    if not texts:
        raise CliError(f"no code found in {path}: scan it again, flatter and sharper")
    return texts
