"""trufor.provenance on real files: the camera photos of ../shared (EXIF, lossless crops), copies
re-saved and edited in the test, JPEGs saved at known qualities; `trufor provenance` (table and --json)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import require_shared
from PIL import Image

from trufor.exif import parse_exif, read_exif
from trufor.provenance import inspect_bytes, inspect_file, sha256_bytes
from trufor.provenance.jpeg import estimate_quality, parse_jpeg


def _photo(seed: int = 0, size=(96, 128)) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3), dtype=np.uint8)
    return Image.fromarray(base).resize((size[1], size[0]), Image.BILINEAR)


def _jpeg(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def camera() -> Path:
    return require_shared("data/pristine/camera")


# ------------------------------------------------------------------------------------ JPEG quality
@pytest.mark.parametrize("quality", [50, 75, 90, 95])
@pytest.mark.parametrize("subsampling", [0, 2])
def test_quality_of_known_saves(quality, subsampling):
    info = parse_jpeg(_jpeg(_photo(), quality=quality, subsampling=subsampling))
    est = estimate_quality(info.tables, info.component_tables)
    assert abs(est["quality"] - quality) <= 2
    assert est["standard"] and est["error"] == 0  # Pillow writes libjpeg's scaled standard tables
    assert info.subsampling == {0: "4:4:4", 2: "4:2:0"}[subsampling]


def test_hand_checked_quality_tables():
    """Spot values checked by hand against IJG's scaling: q50 = the Annex K table itself; q75 halves it
    ((16*50+50)//100 = 8); q90 scales by 20 % ((16*20+50)//100 = 3); q95 by 10 % (2)."""
    for quality, dc in ((50, 16), (75, 8), (90, 3), (95, 2)):
        info = parse_jpeg(_jpeg(_photo(), quality=quality))
        assert info.tables[0][0] == dc


def test_progressive_and_grey():
    info = parse_jpeg(_jpeg(_photo(), quality=80, progressive=True))
    assert info.progressive and info.subsampling == "4:2:0"
    grey = parse_jpeg(_jpeg(_photo().convert("L"), quality=80))
    assert grey.subsampling == "grey" and not grey.progressive
    assert estimate_quality(grey.tables, grey.component_tables)["quality"] == 80


def test_custom_tables_are_not_standard():
    tables = {0: [int(v) for v in np.random.default_rng(1).integers(1, 40, 64)], 1: [7] * 64}
    im = _photo()
    info = parse_jpeg(_jpeg(im, qtables=[tables[0], tables[1]]))
    est = estimate_quality(info.tables, info.component_tables)
    assert not est["standard"] and est["error"] > 1


# ------------------------------------------------------------------------------- camera photos
def test_camera_photos_exif(camera):
    photos = sorted(camera.glob("*.jpg"))
    assert len(photos) > 100
    with_camera = 0
    for path in photos[::10]:
        report = inspect_file(path, c2pa=False)
        assert report["file"]["format"] == "JPEG"
        assert report["file"]["sha256"] == sha256_bytes(path.read_bytes())
        json.dumps(report)  # JSON-ready
        if report["exif"].get("camera"):
            with_camera += 1
        assert report["jpeg"]["quality"]["quality"] >= 50
    assert with_camera >= len(photos[::10]) - 2


def test_iphone_photo(camera):
    report = inspect_file(camera / "Apple_iPhone_6_plus.jpg", c2pa=False)
    exif = report["exif"]
    assert exif["camera"] == "apple iphone 6 plus" and exif["gps"] is True and exif["orientation"] == 1
    assert exif["datetime"]["original"] == "2014:10:31 13:32:37" and not exif["datetimes_disagree"]
    assert "4.15mm" in exif["lens"]
    # the shared photos were cropped losslessly: the camera's EXIF size no longer matches the pixels
    assert (exif["pixel_width"], exif["pixel_height"]) == (2448, 3264)
    assert report["image"] == {"width": 1024, "height": 1024}
    assert report["consistency"]["dimensions_match"] is False
    assert any("Camera Raw" in t for t in report["editing_traces"])
    assert not report["jpeg"]["quality"]["standard"]  # the camera's own tables


def test_exif_reader_is_the_package_one(camera):
    path = camera / "Canon_IXUS_430.jpg"
    record = read_exif(path)
    assert record.camera == "canon digital ixus 430" and record.thumbnail and record.thumbnail[:2] == b"\xff\xd8"
    report = inspect_file(path, c2pa=False)
    assert report["consistency"]["thumbnail"] is not None


# --------------------------------------------------------------------------- re-saved, edited
def test_resave_changes_tables_and_software_tag_is_a_trace(camera):
    original = camera / "Apple_iPhone_6_plus.jpg"
    with Image.open(original) as im:
        exif = im.getexif()
        resaved = _jpeg(im, quality=85, exif=exif.tobytes())
        exif[0x0131] = "Adobe Photoshop CC 2019 (Windows)"
        exif[0x0132] = "2020:01:01 10:00:00"
        edited = _jpeg(im.crop((0, 0, 512, 400)), quality=90, exif=exif.tobytes())
    before = inspect_file(original, c2pa=False)
    after = inspect_bytes(resaved, c2pa=False)
    assert not before["jpeg"]["quality"]["standard"]
    assert after["jpeg"]["quality"] == {"quality": 85, "error": 0.0, "max_difference": 0, "standard": True}
    assert after["exif"]["camera"] == "apple iphone 6 plus"  # EXIF copied: the camera still "says" it
    ed = inspect_bytes(edited, c2pa=False)
    assert any("Photoshop" in t for t in ed["editing_traces"])
    assert ed["exif"]["datetimes_disagree"] is True
    assert ed["consistency"]["dimensions_match"] is False
    assert "edited" in ed["short"] and "Photoshop" in ed["summary"]


def test_file_without_metadata_and_png():
    report = inspect_bytes(_jpeg(_photo(), quality=70), c2pa=False)
    assert report["exif"] == {"present": False} and report["editing_traces"] == []
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Canon", "Canon EOS 5D", "GIMP 2.10"
    _photo().save(buf, "PNG", exif=exif.tobytes())
    png = inspect_bytes(buf.getvalue(), c2pa=False)
    assert png["file"]["format"] == "PNG" and png["jpeg"] is None
    assert png["exif"]["camera"] == "canon eos 5d" and any("GIMP" in t for t in png["editing_traces"])
    assert png["image"] == {"width": 128, "height": 96}


def test_hostile_blocks_warn_and_go_on():
    data = bytearray(_jpeg(_photo(), quality=80, exif=b"Exif\x00\x00MM\x00*\x00\x00\xff\xff\xff\xf0garbage"))
    report = inspect_bytes(bytes(data), c2pa=False)
    assert report["jpeg"]["quality"]["quality"] == 80
    assert parse_exif(b"not a tiff").problems
    truncated = inspect_bytes(bytes(data[:40]), c2pa=False)
    assert truncated["warnings"] and truncated["file"]["size"] == 40
    assert inspect_bytes(b"", c2pa=False)["file"]["format"] is None


# ------------------------------------------------------------------------------------------ CLI
def test_cli_table_and_json(camera, tmp_path, capsys):
    from trufor.cli import main

    path = camera / "Apple_iPhone_6_plus.jpg"
    assert main(["provenance", str(path), "--no-c2pa"]) == 0
    out = capsys.readouterr().out
    assert "apple iphone 6 plus" in out and "DIFFERS" in out and "summary:" in out
    assert main(["provenance", "--json", "--tables", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc[0]["exif"]["camera"] == "apple iphone 6 plus" and "0" in doc[0]["jpeg"]["tables"]
    assert doc[0]["c2pa"]["state"] in ("none", "not-checked")
    assert main(["provenance", str(tmp_path / "absent.jpg")]) == 1
