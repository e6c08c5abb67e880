"""Unit labels per second, rendered and converted to raster, on one core (62 mm endless).

    python -m bench.labels [--labels 300] [--json out.json]

Each label is signed (Ed25519), rendered from the shipped unit_serial_62 template
and turned into a one-label brother_ql job. The baseline, measured in the same run
on the same rendered images, is brother_ql's own convert(); the first and last
labels are read back and decoded so a fast but wrong pipeline cannot score.
"""

from __future__ import annotations

import os
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.report import Report, parser
from cellctl.domain.codes import encode_unit
from cellctl.labels.decode import with_zxing
from cellctl.labels.raster import build_job, read_back
from cellctl.labels.render import render
from cellctl.labels.samples import sample_values
from cellctl.labels.template import find_template

MODEL = "QL-820NWB"


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--labels", type=int, default=300, help="labels to time (default 300)")
    args = p.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    key = Ed25519PrivateKey.generate()
    template = find_template("unit_serial_62")
    base = sample_values()
    serials = [f"MUG-BLUE-B0042-{n:04}" for n in range(1, args.labels + 1)]

    def one(serial: str):
        values = {**base, "serial": serial, "unit_code": encode_unit(serial, key)}
        image = render(template, values).image
        return image, build_job([image], MODEL, template.media, cut="each")

    for s in serials[:10]:  # warm caches: fonts, brother_ql's tables, imports
        one(s)

    images, jobs = [], []
    render_s = raster_s = 0.0
    t_all = time.perf_counter()
    for s in serials:
        t0 = time.perf_counter()
        image = render(template, {**base, "serial": s, "unit_code": encode_unit(s, key)}).image
        t1 = time.perf_counter()
        jobs.append(build_job([image], MODEL, template.media, cut="each"))
        raster_s += time.perf_counter() - t1
        render_s += t1 - t0
        images.append(image)
    total_s = time.perf_counter() - t_all

    from brother_ql.conversion import convert
    from brother_ql.raster import BrotherQLRaster

    baseline_n = min(len(images), 100)
    t0 = time.perf_counter()
    for image in images[:baseline_n]:
        qlr = BrotherQLRaster(MODEL)
        convert(qlr, [image], template.media, cut=True, compress=True)
    baseline_s = (time.perf_counter() - t0) / baseline_n

    t0 = time.perf_counter()
    batch = build_job(images[:50], MODEL, template.media, cut="end")
    batch_s = (time.perf_counter() - t0) / 50

    for i in (0, len(jobs) - 1):
        (page,) = read_back(jobs[i])
        texts = {f.text for f in with_zxing(page)}
        assert texts == {encode_unit(serials[i], key)}, f"label {i} does not decode"
    assert len(read_back(batch)) == 50

    n = len(serials)
    r = Report()
    r.add("labels", n, "labels")
    r.add("render_ms_per_label", 1000 * render_s / n, "ms")
    r.add("raster_ms_per_label", 1000 * raster_s / n, "ms")
    r.add("baseline_brother_ql_convert_ms_per_label", 1000 * baseline_s, "ms")
    r.add("raster_speedup_vs_brother_ql_convert", baseline_s / (raster_s / n), "x")
    r.add("batch_job_raster_ms_per_label", 1000 * batch_s, "ms")
    r.add("job_bytes_per_label", sum(map(len, jobs)) / n, "B")
    r.emit(("labels_per_s", n / total_s, "labels/s"), args.json)


if __name__ == "__main__":
    main()
