"""Test-time views (``tta``): mirror and shifted views on the JPEG grid, averaged before the detection head."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trufor import load_model
from trufor.errors import TruForError
from trufor.inference import MIN_SIDE, TTA_VIEWS


@pytest.fixture(scope="module")
def bundled_models():
    """The bundled model read plainly, with the left-right mirror, with the four mirrors and with the four shifts."""
    return {tta: load_model(device="cpu", tta=tta) for tta in TTA_VIEWS}


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = np.clip(rng.normal(120, 30, (h, w, 3)), 0, 255).astype(np.uint8)
    pixels[h // 3: h // 2, w // 5: w // 2] = rng.integers(0, 256, (h // 2 - h // 3, w // 2 - w // 5, 3))
    return pixels


def test_plain_reading_is_untouched(bundled_models):
    """``tta="none"`` is the weights' exact output: the same arrays as a model built without the argument."""
    pixels = _image(72, 96)
    plain = load_model(device="cpu").analyze(pixels)
    none = bundled_models["none"].analyze(pixels)
    assert none.score == plain.score
    np.testing.assert_array_equal(none.map, plain.map)
    np.testing.assert_array_equal(none.conf, plain.conf)
    assert bundled_models["none"].name == load_model(device="cpu").name


def test_views_change_the_reading_and_are_named(bundled_models):
    pixels = _image(72, 96)
    plain = bundled_models["none"].analyze(pixels)
    for tta in ("hflip", "flips", "shifts"):
        model = bundled_models[tta]
        result = model.analyze(pixels)
        assert model.name == f"{bundled_models['none'].name} [test-time views: {tta}]"
        assert model.describe()["tta"] == tta
        assert result.model_name == model.name
        assert result.map.shape == plain.map.shape and result.conf.shape == plain.conf.shape
        assert not np.array_equal(result.map, plain.map)  # a second reading, not the first one again
        np.testing.assert_array_equal(result.noiseprint, plain.noiseprint)  # the fingerprint is the plain image's


def test_score_is_the_head_over_the_averaged_logits(bundled_models):
    """The score is the detection head applied to the averaged logits (not an average of the views' scores)."""
    model = bundled_models["flips"]
    result = model.analyze(_image(64, 80), keep_logits=True)
    loc = torch.from_numpy(result.loc_logits)[None]
    conf = torch.from_numpy(result.conf_logits)[None]
    with torch.no_grad():
        det = model.net.detection(loc, conf).item()
    assert result.det_logit == pytest.approx(det, abs=1e-5)
    assert result.score == pytest.approx(1 / (1 + np.exp(-det)), abs=1e-6)
    heat = torch.softmax(loc[0], dim=0)[1].numpy()
    np.testing.assert_allclose(result.map, heat, atol=1e-6)


@settings(max_examples=4, deadline=None)
@given(h8=st.integers(5, 9), w8=st.integers(5, 9), seed=st.integers(0, 2**16))
def test_mirrored_image_gives_the_mirrored_reading(bundled_models, h8, w8, seed):
    """On the JPEG grid (sides multiples of 8) the views of an image and of its mirror are the same set of passes, so the
    averaged reading of the mirror is the mirror of the reading, and the score is the same."""
    pixels = _image(8 * h8, 8 * w8, seed)
    for tta, axes in (("hflip", (1,)), ("flips", (0, 1))):
        model = bundled_models[tta]
        a = model.analyze(pixels, noiseprint=False)
        b = model.analyze(np.ascontiguousarray(np.flip(pixels, axis=axes)), noiseprint=False)
        np.testing.assert_allclose(np.flip(b.map, axis=axes), a.map, atol=1e-5)
        np.testing.assert_allclose(np.flip(b.conf, axis=axes), a.conf, atol=1e-5)
        assert b.score == pytest.approx(a.score, abs=1e-5)


def test_columns_past_the_grid_keep_the_plain_reading(bundled_models):
    """A width that is not a multiple of 8: the mirror covers the largest multiple of 8 from the left, and the last
    columns keep the plain pass alone."""
    pixels = _image(64, 77)  # 77 = 72 + 5
    plain = bundled_models["none"].analyze(pixels)
    views = bundled_models["hflip"].analyze(pixels)
    np.testing.assert_allclose(views.map[:, 72:], plain.map[:, 72:], atol=1e-6)
    assert not np.allclose(views.map[:, :72], plain.map[:, :72], atol=1e-4)


def test_too_small_for_a_mirror_is_said(bundled_models):
    pixels = _image(30, MIN_SIDE + 2)  # the mirror would cover 24 rows/columns: below what the network takes
    result = bundled_models["flips"].analyze(pixels)
    assert result.map.shape == (30, MIN_SIDE + 2)
    assert sum("too small for the mirror view" in w for w in result.warnings) == 3


def test_shifted_views_are_readings_of_the_cut_image_put_back_in_place(bundled_models):
    """Each shifted view is the plain reading of the image without its first rows and columns (multiples of 8), put
    back where those pixels are; every pixel averages the views that cover it, so the first 8 rows and columns keep
    the plain pass alone."""
    pixels = _image(88, 104, seed=3)
    plain = bundled_models["none"]
    sums = torch.from_numpy(plain.analyze(pixels, keep_logits=True).loc_logits).double()
    count = torch.ones(pixels.shape[:2], dtype=torch.float64)
    for view in TTA_VIEWS["shifts"]:
        top, left = view.shift
        assert top % 8 == 0 and left % 8 == 0 and view.flip == ()
        cut = plain.analyze(np.ascontiguousarray(pixels[top:, left:]), keep_logits=True)
        sums[:, top:, left:] += torch.from_numpy(cut.loc_logits).double()
        count[top:, left:] += 1
    result = bundled_models["shifts"].analyze(pixels, keep_logits=True)
    np.testing.assert_allclose(result.loc_logits, (sums / count).numpy(), atol=1e-4)
    first = plain.analyze(pixels)
    np.testing.assert_allclose(result.map[:8], first.map[:8], atol=1e-6)
    np.testing.assert_allclose(result.map[:, :8], first.map[:, :8], atol=1e-6)
    assert not np.allclose(result.map[8:, 8:], first.map[8:, 8:], atol=1e-4)


def test_too_small_for_a_shift_is_said(bundled_models):
    pixels = _image(40, 60)  # rows left by the shifts of 8 / 16 / 24: 32, 24 and 16: the last two are too few
    result = bundled_models["shifts"].analyze(pixels)
    assert result.map.shape == (40, 60)
    assert sum("too small for the shifted view" in w for w in result.warnings) == 2


def test_the_cli_offers_every_view_setting():
    from trufor.cli._common import TTA_CHOICES

    assert TTA_CHOICES == tuple(TTA_VIEWS)


def test_bad_settings_are_refused(small_weights):
    with pytest.raises(ValueError, match="tta must be one of"):
        load_model(small_weights, tta="rot90")
    pytest.importorskip("onnxruntime")
    with pytest.raises(TruForError, match="torch backend only"):
        load_model(small_weights, backend="onnxruntime", tta="hflip")


def test_detect_records_the_views(small_weights, tmp_path):
    from PIL import Image

    from trufor.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(_image(48, 64)).save(folder / "a.png")
    out = tmp_path / "out"
    assert main(["detect", str(folder), "-o", str(out), "--weights", str(small_weights), "--tta", "hflip", "-q"]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["model"]["tta"] == "hflip"
    assert doc["model"]["name"].endswith("[test-time views: hflip]")
    assert doc["custody"]["options"]["tta"] == "hflip"
    assert doc["counts"]["ok"] == 1
