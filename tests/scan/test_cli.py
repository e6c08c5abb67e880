"""`cellctl scan` on files, folders and videos."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2

from cellctl.cli import main

from .frames import frame_with


def test_json_one_object_per_image_in_input_order(tmp_path, backgrounds, capsys) -> None:
    cv2.imwrite(str(tmp_path / "z_qr.png"), frame_with("CB:Z-1", "QR", backgrounds[0], 1, 1))
    cv2.imwrite(
        str(tmp_path / "a_ean.png"), frame_with("4006381333931", "EAN-13", backgrounds[1], 0, 2)
    )
    cv2.imwrite(str(tmp_path / "empty.png"), backgrounds[2])
    args = [str(tmp_path / n) for n in ("z_qr.png", "empty.png", "a_ean.png")]
    assert main(["scan", "--json", *args]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["file"] for x in lines] == args
    assert lines[0]["reads"] == [{"format": "QR", "text": "CB:Z-1"}]
    assert lines[1]["reads"] == []
    assert lines[2]["reads"] == [{"format": "EAN-13", "text": "4006381333931"}]
    assert all(isinstance(x["ms"], float) and x["ms"] > 0 for x in lines)


def test_folder_and_bad_inputs_give_clear_lines_and_exit_1(tmp_path, backgrounds, capsys) -> None:
    folder = tmp_path / "shift"
    folder.mkdir()
    cv2.imwrite(str(folder / "1.png"), frame_with("CM:LOT-2", "DataMatrix", backgrounds[0], 0, 3))
    (folder / "2.png").write_bytes(b"not a png")
    code = main(["scan", str(folder), str(tmp_path / "missing.jpg")])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0] == f"{folder / '1.png'}: DataMatrix 'CM:LOT-2' ({out[0].rsplit('(', 1)[1]}"
    assert out[1] == f"{folder / '2.png'}: error: not an image OpenCV can read"
    assert out[2] == f"{tmp_path / 'missing.jpg'}: error: no such file"


def test_video_gives_one_object_per_frame(tmp_path, backgrounds, capsys) -> None:
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (1280, 720))
    for image in (backgrounds[0], frame_with("CR:R9/2", "QR", backgrounds[0], 0, 5)):
        w.write(image)
    w.release()
    assert main(["scan", "--json", str(path)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["frame"], x["reads"]) for x in lines] == [
        (0, []),
        (1, [{"format": "QR", "text": "CR:R9/2"}]),
    ]


def test_usage_errors_are_sentences_not_tracebacks() -> None:
    for argv, words in (
        (["scan"], "nothing to scan"),
        (["scan", "--roi", "0.5,0.5,0.9,0.9", "x.png"], "--roi must lie inside"),
        (["scan", "--decoders", "ocr", "x.png"], "--decoders"),
    ):
        r = subprocess.run(
            [sys.executable, "-m", "cellctl", *argv], capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 1 and words in r.stderr and "Traceback" not in r.stderr


def test_live_generated_camera_runs_for_given_seconds() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "cellctl", "scan", "--camera", "generated", "--seconds", "0.5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and "camera live" in r.stderr


def test_live_station_camera_uses_its_config(tmp_path) -> None:
    (tmp_path / "site.toml").write_text('[site]\nid = "demo"\nname = "Demo"\n')
    (tmp_path / "qa.toml").write_text(
        '[station]\nid = "qa1"\nkind = "qa"\n\n'
        '[camera]\nsource = "generated"\nwidth = 640\nheight = 360\nfps = 15\n'
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cellctl",
            "scan",
            "--station",
            str(tmp_path / "qa.toml"),
            "--seconds",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and "camera live" in r.stderr, r.stderr
    (tmp_path / "bare.toml").write_text('[station]\nid = "cut1"\nkind = "cut"\n')
    r = subprocess.run(
        [sys.executable, "-m", "cellctl", "scan", "--station", str(tmp_path / "bare.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and "no [camera] source" in r.stderr
