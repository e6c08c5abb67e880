"""`cellctl label list|check|preview|print|status|keygen|readback`."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("label", help="label templates, previews, printing and signing keys")
    lsub = p.add_subparsers(dest="label_command", metavar="ACTION", required=True)

    def add(name: str, help_text: str, func) -> argparse.ArgumentParser:
        sp = lsub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(func=func)
        return sp

    def template_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("template", help="a template name (see `label list`) or a .toml file")
        sp.add_argument("--templates", help="the folder of templates (default: the shipped ones)")
        sp.add_argument(
            "--field", "-f", action="append", default=[], metavar="K=V", help="a field value"
        )
        sp.add_argument("--key", help="signing key (PEM) for {unit_code}")

    sp = add("list", "list the templates", _list)
    sp.add_argument("--templates", help="the folder of templates (default: the shipped ones)")

    sp = add("check", "validate templates (exit 1 on problems)", _check)
    sp.add_argument("files", nargs="*", help="template files (default: every shipped template)")
    sp.add_argument("--templates", help="the folder of templates (default: the shipped ones)")

    sp = add("preview", "render a template to a PNG at the printer's resolution", _preview)
    template_args(sp)
    sp.add_argument("-o", "--output", required=True, help="the PNG to write")

    sp = add("print", "print a template (N copies as one job)", _print)
    template_args(sp)
    sp.add_argument("--printer", required=True, help="tcp://host:9100, usb://..., file://...")
    sp.add_argument("--model", default="QL-820NWB", help="printer model (default QL-820NWB)")
    sp.add_argument("--copies", type=int, default=1)
    sp.add_argument("--cut", choices=("each", "end", "none"), default="end")

    sp = add("status", "ask the printer for its status", _status)
    sp.add_argument("--printer", required=True)
    sp.add_argument("--media", default="62", help="the labels the jobs need (default 62)")

    sp = add("keygen", "make the site's Ed25519 key pair (private key 0600)", _keygen)
    sp.add_argument("--out", required=True, help="private key file; the public goes to .pub")

    sp = add("readback", "decode a raster file with brother_ql's reader; list its codes", _readback)
    sp.add_argument("raster", help="a .bin raster file")
    sp.add_argument("-o", "--output", help="folder for the page PNGs")


def _fields(pairs: list[str]) -> dict[str, Any]:
    from cellctl.errors import CliError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--field {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def _load(args: argparse.Namespace):
    from cellctl.errors import CliError
    from cellctl.labels.errors import LabelError
    from cellctl.labels.template import find_template

    try:
        return find_template(args.template, args.templates)
    except LabelError as exc:
        raise CliError(str(exc)) from None


def _values(args: argparse.Namespace, template, *, samples: bool) -> dict[str, Any]:
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cellctl.domain.codes import CodeError, encode_unit
    from cellctl.errors import CliError
    from cellctl.labels import keys
    from cellctl.labels.errors import KeyFileError
    from cellctl.labels.samples import sample_values

    given = _fields(args.field)
    values: dict[str, Any] = {"now": datetime.now(UTC)}
    if samples:
        values.update(sample_values())
        filled = sorted((template.fields() - set(given)) & set(values))
        if filled:
            print(f"example values for: {', '.join(filled)}")
    values.update(given)
    if "unit_code" in template.fields() and "unit_code" not in given:
        if args.key:
            try:
                key = keys.load_private(args.key)
            except KeyFileError as exc:
                raise CliError(str(exc)) from None
        elif samples:
            key = Ed25519PrivateKey.generate()
            print("unit code signed with a throwaway key (give --key for the site's)")
        else:
            raise CliError("this template has a signed unit code: give --key SITE_KEY")
        if "serial" not in values:
            raise CliError("give --field serial=... for the unit code")
        try:
            values["unit_code"] = encode_unit(values["serial"], key)
        except CodeError as exc:
            raise CliError(str(exc)) from None
        values["key_id"] = keys.key_id(key.public_key())
    return values


def _list(args: argparse.Namespace) -> int:
    from cellctl.labels.errors import LabelError
    from cellctl.labels.template import load_template, template_paths

    for path in template_paths(args.templates):
        try:
            t = load_template(path)
        except LabelError:
            print(f"{path.stem:24} (has problems: run `cellctl label check`)")
            continue
        print(f"{t.name:24} {t.media_spec.description:28} {t.description}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from cellctl.labels.errors import LabelError
    from cellctl.labels.template import load_template, template_paths

    paths = args.files or template_paths(args.templates)
    bad = 0
    for path in paths:
        try:
            t = load_template(path)
        except LabelError as exc:
            bad += 1
            print(exc)
            continue
        print(f"ok: {t.name} ({t.media_spec.description}, {len(t.elements)} elements)")
    return 1 if bad else 0


def _render(args: argparse.Namespace, *, samples: bool):
    from cellctl.errors import CliError
    from cellctl.labels.errors import LabelError
    from cellctl.labels.render import render

    t = _load(args)
    try:
        return t, render(t, _values(args, t, samples=samples))
    except LabelError as exc:
        raise CliError(str(exc)) from None


def _preview(args: argparse.Namespace) -> int:
    from cellctl.errors import CliError

    t, r = _render(args, samples=True)
    try:
        r.image.save(args.output)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot write {args.output}: {exc}") from None
    w, h = t.size_mm
    print(f"wrote {args.output}: {r.image.width} x {r.image.height} dots ({w:.1f} x {h:.1f} mm)")
    for code in r.codes:
        print(f"  {code.kind}: {code.payload}")
    return 0


def _print(args: argparse.Namespace) -> int:
    from cellctl.domain.ids import new_id
    from cellctl.errors import CliError
    from cellctl.labels.backends import open_backend
    from cellctl.labels.errors import LabelError
    from cellctl.labels.media import media
    from cellctl.labels.raster import build_job

    if args.copies < 1:
        raise CliError("--copies must be at least 1")
    t, r = _render(args, samples=False)
    try:
        job = build_job(
            [r.image] * args.copies,
            args.model,
            t.media,
            landscape=t.orientation == "landscape",
            cut=args.cut,
        )
        backend = open_backend(args.printer)
        status = backend.status()
        problems = status.problems(media(t.media)) if status else []
        if problems:
            raise CliError(" ".join(problems))
        result = backend.send(new_id(), job, [r.image] * args.copies, page_count=args.copies)
    except LabelError as exc:
        raise CliError(str(exc)) from None
    print(result.detail)
    return 0


def _status(args: argparse.Namespace) -> int:
    from cellctl.errors import CliError
    from cellctl.labels.backends import open_backend
    from cellctl.labels.errors import LabelError
    from cellctl.labels.media import media

    try:
        need = media(args.media)
        status = open_backend(args.printer).status()
    except LabelError as exc:
        raise CliError(str(exc)) from None
    if status is None:
        print(f"{args.printer} gives no status back (network or file): nothing to report")
        return 0
    problems = status.problems(need)
    print(f"{status.model}: {status.loaded_text}, {status.phase}")
    for p in problems:
        print(p)
    return 1 if problems else 0


def _keygen(args: argparse.Namespace) -> int:
    from cellctl.errors import CliError
    from cellctl.labels import keys
    from cellctl.labels.errors import KeyFileError

    try:
        private, public = keys.generate(args.out)
    except KeyFileError as exc:
        raise CliError(str(exc)) from None
    print(f"private key {private} (mode 600: keep it on the station, never publish it)")
    print(f"public key  {public} (publish it; `cellctl verify` needs it)")
    print(f"key id      {keys.key_id(keys.load_public(public))}")
    return 0


def _readback(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cellctl.errors import CliError
    from cellctl.labels.decode import decode_all
    from cellctl.labels.raster import read_back

    try:
        data = Path(args.raster).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.raster}: {exc.strerror}") from None
    if args.output:
        Path(args.output).mkdir(parents=True, exist_ok=True)
    try:
        pages = read_back(data, args.output)
    except Exception as exc:  # the reader is third-party code on untrusted bytes
        raise CliError(f"{args.raster} is not a readable Brother QL raster: {exc}") from None
    for n, page in enumerate(pages, 1):
        found = sorted({(f.kind, f.text) for f in decode_all(page)})
        print(f"page {n}: {page.width} x {page.height} dots")
        for kind, text in found:
            print(f"  {kind}: {text}")
    return 0
