"""Scanning: camera capture and decoding, keyboard-wedge and serial scanners, and
what a scan means.

For the station controller and the kiosk:

- `hub.ScanHub`: one asyncio stream of `scans.Scan(origin, text, symbology, parsed,
  time, captured)`; `attach_config(station)`, `attach_camera(source, pipeline)`,
  `attach_serial(port)`, `wedge_key(char, t)` for the kiosk's keys, `status` and
  `on_status` for camera/scanner states, `generated` for the demo camera.
- `payload.parse(text, symbology, public_key)` -> OwnCode | Gs1Code | PlainText |
  UnknownCode, and `payload.describe(parsed)` for a person.
- `wedge.WedgeDetector`: scanner bursts versus typing, from (char, time) pairs.
- `capture`: FrameSource implementations (OpenCV, folder, generated) and `Grabber`.
- `cascade.Pipeline`: decode one frame (a live video frame within its budget, or a
  still image with the deeper search); `files.scan_inputs` for `cellctl scan`.
- `decoders.SYMBOLOGIES`: what a station's `[camera] symbologies` may list (QR,
  DataMatrix, Code 128, EAN-13, UPC-A, EAN-8, Code 39, ITF, GS1 DataBar).
- `decoys`: generated pictures with no code, for checking that nothing is read there.
"""
