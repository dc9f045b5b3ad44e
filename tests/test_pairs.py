"""trufor.evaluation.pairs: fakes paired with their originals by content, and masks from their difference.

Real camera photos from ../shared; the edits are made here, so the true changed region is known exactly."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import require_shared
from trufor.cli import main as cli
from trufor.evaluation.pairs import align, compare, difference_mask, find_pairs, match_colours
from trufor.imageio import read_image

PHOTOS = ["Apple_iPhone_4S.jpg", "Apple_iPhone_5.jpg", "Apple_iPhone_6.jpg", "Apple_iPhone_6_plus.jpg"]


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    """Four real camera photos at 512 px (their own JPEG history kept, then area-downscaled)."""
    root = require_shared("data/pristine/camera")
    out = {}
    for name in PHOTOS:
        px = read_image(root / name).pixels
        out[name] = cv2.resize(px, (512, 512 * px.shape[0] // px.shape[1]), interpolation=cv2.INTER_AREA)
    return out


def _jpeg(px: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(px).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _splice(host: np.ndarray, donor: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``host`` with the ``box`` (y, x, h, w) of ``donor`` pasted in the same place, and the true mask."""
    y, x, h, w = box
    out = host.copy()
    out[y:y + h, x:x + w] = donor[y:y + h, x:x + w]
    mask = np.zeros(host.shape[:2], bool)
    mask[y:y + h, x:x + w] = True
    return out, mask


def _grade(px: np.ndarray, gain: float, offset: float) -> np.ndarray:
    return np.clip(px.astype(np.float32) * gain + offset, 0, 255).round().astype(np.uint8)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_splice_with_a_global_grade_gives_back_the_pasted_region(photos):
    host, donor = photos[PHOTOS[0]], photos[PHOTOS[1]]
    fake, truth = _splice(host, donor, (120, 150, 140, 110))
    # the whole photo graded warmer and brighter, then saved again: none of that is the edit
    fake = _jpeg(_grade(fake, 1.15, 14.0), 85)
    original = _jpeg(host, 95)
    warped, cover = align(fake, original)
    assert cover.all() and warped is original
    derived = difference_mask(fake, warped, cover)
    assert _iou(derived, truth) >= 0.85
    # the grade is what the colour match takes away: outside the paste, the matched original is the fake's colours
    matched = match_colours(original.astype(np.float32), fake.astype(np.float32))
    before = np.abs(original.astype(np.float32) - fake)[~truth].mean()
    after = np.abs(matched - fake)[~truth].mean()
    assert before > 20 and after < 6


def test_a_resized_and_cropped_fake_is_aligned_by_keypoints(photos):
    host, donor = photos[PHOTOS[2]], photos[PHOTOS[3]]
    fake, truth = _splice(host, donor, (200, 100, 120, 160))
    # published smaller and re-framed: 0.7x, then 20 px cut from the left and 12 from the top
    small = cv2.resize(fake, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)[12:, 20:]
    small_truth = cv2.resize(truth.astype(np.uint8), None, fx=0.7, fy=0.7, interpolation=cv2.INTER_NEAREST)
    small_truth = small_truth[12:, 20:] > 0
    small = _jpeg(small, 90)
    warped, cover = align(small, host)
    assert warped.shape == small.shape and cover.mean() > 0.97
    derived = difference_mask(small, warped, cover)
    assert _iou(derived, small_truth) >= 0.7


def test_find_pairs_by_thumbnail_and_by_keypoints_and_leaves_strangers_alone(photos):
    a, b, c, d = (photos[n] for n in PHOTOS)
    same_size, _ = _splice(a, b, (100, 100, 120, 120))
    cropped, _ = _splice(c, b, (150, 150, 100, 100))
    cropped = cv2.resize(cropped, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)[30:, 40:]
    fakes = {"f_same.jpg": _jpeg(same_size, 90), "f_crop.jpg": _jpeg(cropped, 90), "f_stranger.jpg": d}
    originals = {"o_a.jpg": a, "o_b.jpg": b, "o_c.jpg": c}
    pairs = {p.fake: p for p in find_pairs(fakes, originals)}
    assert set(pairs) == {"f_same.jpg", "f_crop.jpg"}
    assert pairs["f_same.jpg"].original == "o_a.jpg" and pairs["f_same.jpg"].geometry == "same"
    assert pairs["f_same.jpg"].distance < 20 and pairs["f_same.jpg"].inliers == 0
    assert pairs["f_crop.jpg"].original == "o_c.jpg" and pairs["f_crop.jpg"].geometry == "warped"
    assert np.isnan(pairs["f_crop.jpg"].distance) and pairs["f_crop.jpg"].inliers >= 40
    # without the keypoint pass the re-framed fake stays unpaired
    assert {p.fake for p in find_pairs(fakes, originals, keypoints=False)} == {"f_same.jpg"}


@settings(max_examples=12, deadline=None)
@given(gain=st.floats(0.85, 1.15), offset=st.floats(-15, 15), quality=st.integers(80, 95))
def test_a_global_grade_and_recompression_alone_is_never_an_edit(photos, gain, offset, quality):
    # photos kept away from 0 and 255, so that the grade does not clip
    original = (photos[PHOTOS[1]].astype(np.float32) * 0.7 + 35).astype(np.uint8)
    fake = _jpeg(_grade(original, gain, offset), quality)
    assert difference_mask(fake, original).mean() < 0.01


def test_bad_inputs_are_named(photos):
    px = photos[PHOTOS[0]]
    with pytest.raises(ValueError, match="differ in size"):
        difference_mask(px, px[:-8])
    with pytest.raises(ValueError, match="RGB uint8"):
        difference_mask(px.astype(np.float32), px)
    with pytest.raises(ValueError, match="threshold"):
        difference_mask(px, px, threshold=0)
    with pytest.raises(ValueError, match="coverage"):
        difference_mask(px, px, np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="too small"):
        find_pairs({"tiny": px[:4, :4]}, {"o": px})
    noise = np.random.default_rng(0).integers(0, 256, (300, 420, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="cannot align"):
        align(noise, px)


def test_compare_reports_how_it_aligned_and_what_changed(photos):
    host, donor = photos[PHOTOS[0]], photos[PHOTOS[2]]
    fake, truth = _splice(host, donor, (60, 300, 100, 120))
    found = compare(_jpeg(fake, 90), host)
    assert (found.geometry, found.regions, found.is_region, found.coverage) == ("same", 1, True, 1.0)
    assert found.changed == pytest.approx(truth.mean(), rel=0.15) and _iou(found.mask, truth) >= 0.85
    # the same fake published at 60 %: the original is resized onto it
    small = cv2.resize(fake, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    found = compare(_jpeg(small, 90), host)
    assert found.geometry in ("scaled", "warped") and found.regions == 1 and found.changed == pytest.approx(
        truth.mean(), rel=0.25)
    # the original as the donor of a pasted object, not its host: most of the image differs
    assert not compare(_jpeg(fake, 90), donor).is_region


def test_the_compare_command_writes_mask_and_overlay_and_names_bad_input(photos, tmp_path, capsys):
    host, donor = photos[PHOTOS[0]], photos[PHOTOS[2]]
    fake, truth = _splice(host, donor, (60, 300, 100, 120))
    Image.fromarray(_jpeg(fake, 90)).save(tmp_path / "suspect.png")
    Image.fromarray(host).save(tmp_path / "original.png")
    prefix = tmp_path / "out" / "s"
    assert cli(["compare", str(tmp_path / "suspect.png"), str(tmp_path / "original.png"), "-o", str(prefix),
                "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["geometry"], report["regions"], report["is_region"]) == ("same", 1, True)
    mask = np.asarray(Image.open(report["mask"])) > 0
    assert mask.shape == truth.shape and _iou(mask, truth) >= 0.85
    overlay = np.asarray(Image.open(report["overlay"]).convert("RGB")).astype(int)
    assert overlay.shape == fake.shape and (overlay[mask][:, 0] - overlay[mask][:, 2]).mean() > 60
    assert sorted(p.name for p in prefix.parent.iterdir()) == ["s.mask.png", "s.overlay.png"]
    assert cli(["compare", str(tmp_path / "suspect.png"), str(tmp_path / "original.png"), "-o", str(prefix)]) == 0
    assert "changed: " in capsys.readouterr().out
    # nothing to align with: an error naming both files, nothing written
    noise = np.random.default_rng(1).integers(0, 256, (300, 420, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    assert cli(["compare", str(tmp_path / "noise.png"), str(tmp_path / "original.png"), "-o",
                str(tmp_path / "n")]) == 1
    err = capsys.readouterr().err
    assert "noise.png vs" in err and "cannot align" in err and not list(tmp_path.glob("n.*"))
    (tmp_path / "notes.txt").write_text("not an image")
    assert cli(["compare", str(tmp_path / "notes.txt"), str(tmp_path / "original.png")]) == 1
    assert "notes.txt" in capsys.readouterr().err
    assert cli(["compare", str(tmp_path / "suspect.png"), str(tmp_path / "original.png"), "--threshold", "0"]) == 1
