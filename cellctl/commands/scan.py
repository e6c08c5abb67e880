"""`cellctl scan INPUT...`: decode images, videos, folders or a live camera."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scan",
        help="decode barcodes in images, videos, folders or a live camera",
        description=(
            "Decode the image files, video files or folders given, in order, and print one "
            "line per read; or watch a camera (--camera 0, /dev/video0, rtsp://..., or "
            "'generated') and print each new scan. Use it to check a camera's position and "
            "lighting before a shift."
        ),
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image, video file or folder")
    p.add_argument("--camera", metavar="SOURCE", help="watch a live source instead of files")
    p.add_argument(
        "--station", metavar="FILE", help="watch the camera of this station file, with its settings"
    )
    p.add_argument("--seconds", type=float, default=0, help="with --camera: stop after this")
    p.add_argument("--json", action="store_true", help="one JSON object per image or frame")
    p.add_argument("--decoders", default="zxing,zbar", help="comma list of zxing, zbar")
    p.add_argument("--roi", help="x,y,w,h as fractions of the frame, e.g. 0.25,0.25,0.5,0.5")
    p.add_argument(
        "--budget-ms",
        type=float,
        help="CPU time to find a code: per image file (default 150), per video frame (default 30)",
    )
    p.add_argument(
        "--symbologies",
        help="comma list of what to read (default: QR,DataMatrix,Code128,EAN-13,UPC-A,EAN-8,"
        "Code39,ITF,DataBar); fewer is faster and safer",
    )
    p.add_argument("--no-cascade", action="store_true", help="plain decoding pass only")
    p.set_defaults(func=_scan)


def _pipeline(args: argparse.Namespace, live: bool = False):
    from cellctl.config.models import CameraConfig
    from cellctl.errors import CliError
    from cellctl.scan.cascade import Pipeline
    from cellctl.scan.decoders import check_symbologies

    roi: tuple[float, float, float, float] | None = None
    if args.roi:
        try:
            x, y, w, h = (float(v) for v in args.roi.split(","))
            roi = (x, y, w, h)
        except ValueError:
            raise CliError(f"--roi {args.roi!r}: expected four numbers x,y,w,h") from None
        if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 - x and 0 < h <= 1 - y):
            raise CliError("--roi must lie inside the frame: 0 <= x, y and x+w, y+h <= 1")
    decoders = [d.strip() for d in args.decoders.split(",") if d.strip()]
    defaults = CameraConfig()
    budget = args.budget_ms or (defaults.budget_ms if live else defaults.still_budget_ms)
    symbologies = defaults.symbologies
    if args.symbologies:
        symbologies = [s.strip() for s in args.symbologies.split(",") if s.strip()]
        try:
            check_symbologies(symbologies)
        except ValueError as exc:
            raise CliError(f"--symbologies: {exc}") from None
    try:
        return Pipeline(
            decoders,
            roi,
            budget,
            not args.no_cascade,
            static_every=10 if live else 0,
            still=not live,
            symbologies=frozenset(symbologies),
        )
    except ValueError as exc:
        raise CliError(f"--decoders: {exc}") from None


def _scan(args: argparse.Namespace) -> int:
    from cellctl.errors import CliError

    if args.camera is not None or args.station is not None:
        if args.inputs:
            raise CliError("give files or a camera (--camera/--station), not both")
        return _live(args)
    if not args.inputs:
        raise CliError("nothing to scan: give image/video files or folders, or --camera SOURCE")
    from cellctl.scan.files import scan_inputs

    pipeline = _pipeline(args)
    failed = 0
    for item in scan_inputs(args.inputs, pipeline):
        if item.error:
            failed += 1
        print(item.to_json() if args.json else item.to_line(), flush=True)
    return 1 if failed else 0


def _live(args: argparse.Namespace) -> int:
    import json
    import threading

    from cellctl.scan.capture import source_from_spec
    from cellctl.scan.payload import describe
    from cellctl.scan.worker import CameraScanner

    public_key = None
    dedup_s = 2.0
    if args.station is not None:
        pipeline, source, public_key, dedup_s = _from_station(args.station)
    else:
        pipeline = _pipeline(args, live=True)
        source = source_from_spec(args.camera)
    done = threading.Event()

    def on_scan(scan) -> None:
        if args.json:
            print(json.dumps({"format": scan.symbology, "text": scan.text}), flush=True)
        else:
            print(f"{scan.symbology}: {scan.text!r}  {describe(scan.parsed)}", flush=True)

    def on_state(state: str, detail: str) -> None:
        import sys

        print(f"camera {state}: {detail}", file=sys.stderr, flush=True)
        if state == "ended":
            done.set()

    cam = CameraScanner(source, on_scan, pipeline, dedup_s, public_key, on_state)
    cam.start()
    try:
        done.wait(args.seconds or None)
    finally:
        cam.stop()
    return 0


def _from_station(path: str):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from cellctl.config.load import load_station
    from cellctl.errors import CliError, ConfigError
    from cellctl.scan.capture import source_from_spec
    from cellctl.scan.cascade import Pipeline

    try:
        loaded = load_station(path)
    except (ConfigError, OSError) as exc:
        raise CliError(str(exc)) from None
    cam = loaded.config.camera
    if cam is None or cam.source is None:
        raise CliError(f"{path}: the station has no [camera] source")
    public_key = None
    if loaded.site.public_key is not None:
        key_path = loaded.site.public_key
        if not key_path.is_absolute():
            key_path = loaded.site_path.parent / key_path
        try:
            public_key = load_pem_public_key(key_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise CliError(f"site public key {key_path}: {exc}") from None
    source = source_from_spec(
        cam.source, cam.width, cam.height, cam.fps, focus=cam.focus, exposure=cam.exposure
    )
    return Pipeline.from_config(cam), source, public_key, cam.dedup_s
