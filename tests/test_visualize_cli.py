"""`trufor visualize`: the authors' command line (--image IMG --output NPZ [--mask M]) beside ours
(IMAGE NPZ [-o PNG]), the Noiseprint++ panel, and the panels in the authors' order everywhere."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from trufor.cli import main
from trufor.visualize import PANEL_ORDER, noiseprint_picture, result_figure


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, small_weights):
    """One image analysed with and without np++ (random small model), and a mask."""
    tmp = tmp_path_factory.mktemp("vis")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (72, 96, 3), dtype=np.uint8)).save(tmp / "img.png")
    mask = np.zeros((72, 96), np.uint8)
    mask[20:50, 30:70] = 255
    Image.fromarray(mask).save(tmp / "mask.png")
    assert main(["detect", str(tmp / "img.png"), "-o", str(tmp / "np" / "img.png.npz"), "--save-np",
                 "--weights", str(small_weights), "-q"]) == 0
    assert main(["detect", str(tmp / "img.png"), "-o", str(tmp / "plain" / "img.png.npz"),
                 "--weights", str(small_weights), "-q"]) == 0
    return tmp




def test_official_command_line_with_noiseprint_and_mask(analysed, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    npz = analysed / "np" / "img.png.npz"
    rc = main(["visualize", "--image", str(analysed / "img.png"), "--output", str(npz),
               "--mask", str(analysed / "mask.png")])
    assert rc == 0
    png = analysed / "np" / "img.png.figure.png"
    assert f"no display: figure written to {png}" in capsys.readouterr().out
    with Image.open(png) as im:
        assert im.width > 4 * im.height  # five panels side by side


def test_panels_in_the_authors_order(analysed):
    from trufor.results import AnalysisResult

    with_np = AnalysisResult.from_npz(analysed / "np" / "img.png.npz")
    fig = result_figure(with_np, image=analysed / "img.png", mask=analysed / "mask.png")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert [t.split(" (")[0] for t in titles] == list(PANEL_ORDER)
    plain = AnalysisResult.from_npz(analysed / "plain" / "img.png.npz")
    fig = result_figure(plain, image=analysed / "img.png")
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["Image", "Localization map", "Confidence map"]


def test_official_command_line_without_noiseprint(analysed, monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    rc = main(["visualize", "--image", str(analysed / "img.png"), "--output", str(analysed / "plain" / "img.png.npz"),
               "--figure", str(tmp_path / "f.png")])
    assert rc == 0 and (tmp_path / "f.png").stat().st_size > 0


@pytest.mark.parametrize("argv, message", [
    (["IMG", "NPZ", "-o", "fig.npz"], "ambiguous"),
    (["IMG", "--output", "res.npz"], "ambiguous"),
    (["--image", "IMG", "NPZ"], "not both"),
    (["--image", "IMG", "--output", "fig.png"], "names the result .npz"),
    (["--image", "IMG"], "needs --output"),
])
def test_mixed_command_lines_get_a_clear_error(analysed, capsys, argv, message):
    subst = {"IMG": str(analysed / "img.png"), "NPZ": str(analysed / "np" / "img.png.npz")}
    rc = main(["visualize", *[subst.get(a, a) for a in argv]])
    err = capsys.readouterr().err
    assert rc == 1 and message in err and "Traceback" not in err


def test_our_command_line_still_writes_the_png(analysed, tmp_path, capsys):
    out = tmp_path / "fig.png"
    assert main(["visualize", str(analysed / "img.png"), str(analysed / "np" / "img.png.npz"), "-o", str(out)]) == 0
    assert out.exists() and f"wrote {out}" in capsys.readouterr().out


def test_detect_save_png_with_save_np_draws_the_noiseprint(analysed, small_weights):
    out = analysed / "both"
    assert main(["detect", str(analysed / "img.png"), "-o", str(out), "--save-np", "--save-png",
                 "--weights", str(small_weights), "-q"]) == 0
    with Image.open(out / "img.png.figure.png") as im:
        four = im.width / im.height
    out2 = analysed / "pngonly"
    assert main(["detect", str(analysed / "img.png"), "-o", str(out2), "--save-png",
                 "--weights", str(small_weights), "-q"]) == 0
    with Image.open(out2 / "img.png.figure.png") as im:
        three = im.width / im.height
    assert four > three * 1.2  # one panel more


def test_noiseprint_picture_large_and_small():
    rng = np.random.default_rng(1)
    big = rng.normal(0, 1, (3000, 2000)).astype(np.float32)
    big[100, 100] = 1e6  # one extreme value must not flatten the grey scale
    pic, crop = noiseprint_picture(big)
    assert crop == 17 and max(pic.shape) <= 1024
    assert 0.3 < float(pic.mean()) < 0.7 and float(pic.std()) > 0.05
    small = rng.normal(0, 1, (40, 50)).astype(np.float32)
    pic, crop = noiseprint_picture(small)
    assert crop == 0 and pic.shape == (40, 50)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.floats(-1e3, 1e3), st.floats(0, 1e3))
def test_noiseprint_picture_is_always_a_grey_picture(h, w, offset, scale):
    npp = (offset + scale * np.random.default_rng(h * 1000 + w).normal(size=(h, w))).astype(np.float32)
    pic, crop = noiseprint_picture(npp)
    assert np.isfinite(pic).all() and pic.min() >= 0.0 and pic.max() <= 1.0
    assert pic.shape == (h - 2 * crop, w - 2 * crop)
