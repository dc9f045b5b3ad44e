"""trufor.masks: the one mask reader (files written here: PNG/JPEG/TIFF, 0/255, 0/1, RGB, RGBA masks,
transposed masks, masks of another size, EXIF orientation), and the callers that use it (evaluation
datasets, training targets, figures)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from trufor import masks as M
from trufor.errors import ImageReadError

H, W = 40, 64


def region() -> np.ndarray:
    """A 0/255 uint8 mask with an off-centre rectangle (not symmetric under any flip or turn)."""
    m = np.zeros((H, W), np.uint8)
    m[4:20, 6:30] = 255
    return m


def scene(mask: np.ndarray) -> np.ndarray:
    """An RGB image whose only edges are the boundary of ``mask``."""
    img = np.full((*mask.shape, 3), 40, np.uint8)
    img[mask > 0] = 220
    return img


# ------------------------------------------------------------------------------------ reading
def test_png_masks_0_255_and_0_1(tmp_path):
    m = region()
    Image.fromarray(m).save(tmp_path / "m255.png")
    Image.fromarray((m > 0).astype(np.uint8)).save(tmp_path / "m01.png")
    want = m > 0
    for name in ("m255.png", "m01.png"):
        got = M.read_mask(tmp_path / name)  # the evaluation rule: grey > 0
        assert got.dtype == bool and got.shape == (H, W) and np.array_equal(got, want), name
        assert np.array_equal(M.read_mask(tmp_path / name, M.HALF_RANGE), want), name
    # without the 0/1 rule, half the range of a 0/1 mask is nothing (why HALF_RANGE has zero_one)
    assert not M.read_mask(tmp_path / "m01.png", M.MaskFormat(threshold=127)).any()
    assert np.array_equal(M.read_mask(tmp_path / "m255.png", M.MaskFormat(invert=True)), ~want)


def test_jpeg_mask_half_range_ignores_the_ringing(tmp_path):
    m = region()
    Image.fromarray(m).save(tmp_path / "m.jpg", quality=75)
    half = M.read_mask(tmp_path / "m.jpg", M.HALF_RANGE)
    anything = M.read_mask(tmp_path / "m.jpg")  # grey > 0: JPEG ringing counts as forged
    want = m > 0
    assert (half ^ want).sum() <= 0.01 * want.sum()
    assert anything.sum() >= half.sum() and (anything & want).sum() == want.sum()


def test_rgb_and_rgba_masks(tmp_path):
    m = region()
    Image.fromarray(np.dstack([m] * 3)).save(tmp_path / "grey_rgb.png")
    Image.fromarray(np.dstack([m, m, m, np.full_like(m, 255)])).save(tmp_path / "rgba.png")
    Image.fromarray(np.dstack([m, m, m, m])).save(tmp_path / "rgba_alpha.png")  # alpha is ignored
    red = np.zeros((H, W, 3), np.uint8)
    red[..., 0] = m
    Image.fromarray(red).save(tmp_path / "red.png")
    want = m > 0
    for name in ("grey_rgb.png", "rgba.png", "rgba_alpha.png"):
        assert np.array_equal(M.read_mask(tmp_path / name), want), name
        assert np.array_equal(M.read_mask(tmp_path / name, M.HALF_RANGE), want), name
    # a coloured mask: the grey level of pure red is 76, forged for the evaluation rule
    assert np.array_equal(M.read_mask(tmp_path / "red.png"), want)
    assert np.array_equal(M.read_mask(tmp_path / "red.png", M.MaskFormat(threshold=127, channel=0)), want)
    assert not M.read_mask(tmp_path / "red.png", M.MaskFormat(threshold=127, channel=1)).any()
    # arrays follow the same rule as files
    assert np.array_equal(M.binarize(red), want)


def test_high_bit_depth_compares_raw_values(tmp_path):
    m = (region() > 0).astype(np.uint16) * 1000
    Image.fromarray(m).save(tmp_path / "m16.png")
    assert np.array_equal(M.read_mask(tmp_path / "m16.png", M.MaskFormat(threshold=500)), m > 0)


def test_unreadable_masks(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    with pytest.raises(ImageReadError, match="cannot read the mask"):
        M.read_mask(tmp_path / "junk.png")
    with pytest.raises(ImageReadError, match="mask file not found"):
        M.read_mask(tmp_path / "none.png")
    assert M.load_mask(tmp_path / "junk.png", M.EVALUATION, (H, W)).issue.startswith("cannot read mask")
    assert M.load_mask(tmp_path / "none.png", M.EVALUATION, (H, W)).issue.startswith("mask file not found")


# ------------------------------------------------------------------------------------ fitting
@pytest.mark.parametrize("how", ["rotated 90 degrees counter-clockwise", "rotated 90 degrees clockwise",
                                 "transposed", "anti-transposed"])
def test_transposed_mask_is_put_back_on_the_image(tmp_path, how):
    m = region()
    Image.fromarray(scene(m)).save(tmp_path / "img.png")
    # store the mask so that the named re-orientation is the one that puts it back
    inverse = {"rotated 90 degrees counter-clockwise": lambda a: np.rot90(a, -1),
               "rotated 90 degrees clockwise": lambda a: np.rot90(a, 1),
               "transposed": lambda a: a.T,
               "anti-transposed": lambda a: np.rot90(a.T, 2)}[how]
    stored = np.ascontiguousarray(inverse(m))
    assert stored.shape == (W, H)
    Image.fromarray(stored).save(tmp_path / "mask.png")
    for image in (tmp_path / "img.png", scene(m)):  # a path or the pixels
        r = M.load_mask(tmp_path / "mask.png", M.EVALUATION, (H, W), image=image)
        assert r.issue is None and np.array_equal(r.mask, m > 0)
        assert how in r.warnings[0]
    # without the image: rotated counter-clockwise, and said so
    r = M.load_mask(tmp_path / "mask.png", M.EVALUATION, (H, W))
    assert r.mask.shape == (H, W) and "counter-clockwise" in r.warnings[0]
    # training refuses any size difference
    assert M.load_mask(tmp_path / "mask.png", M.EVALUATION, (H, W), mismatch="skip").mask is None


def test_mask_of_another_size(tmp_path):
    m = region()
    Image.fromarray(m[::2, ::2]).save(tmp_path / "half.png")  # same aspect ratio
    Image.fromarray(m[:, :48]).save(tmp_path / "other.png")  # another aspect ratio
    r = M.load_mask(tmp_path / "half.png", M.EVALUATION, (H, W))
    assert r.mask.shape == (H, W) and "resized (nearest neighbour)" in r.warnings[0]
    assert (r.mask ^ (m > 0)).sum() <= 2 * (H + W)  # nearest neighbour: off by at most a pixel at edges
    assert np.array_equal(r.mask, M.resize_nearest(m[::2, ::2] > 0, (H, W)))
    r = M.load_mask(tmp_path / "other.png", M.EVALUATION, (H, W))
    assert r.mask is None and "different aspect ratio" in r.issue
    r = M.load_mask(tmp_path / "other.png", M.EVALUATION, (H, W), mismatch="resize")
    assert r.mask.shape == (H, W)
    r = M.load_mask(tmp_path / "half.png", M.EVALUATION, (H, W), mismatch="skip")
    assert r.mask is None and r.issue == f"mask is {W // 2}x{H // 2} but image is {W}x{H}"
    with pytest.raises(ValueError, match="mismatch"):
        M.load_mask(tmp_path / "half.png", M.EVALUATION, (H, W), mismatch="stretch")


def test_empty_and_full_masks_are_flagged(tmp_path):
    Image.fromarray(np.zeros((H, W), np.uint8)).save(tmp_path / "empty.png")
    Image.fromarray(np.full((H, W), 255, np.uint8)).save(tmp_path / "full.png")
    assert "no forged pixel" in M.load_mask(tmp_path / "empty.png", M.EVALUATION, (H, W)).warnings[-1]
    assert "forged everywhere" in M.load_mask(tmp_path / "full.png", M.EVALUATION, (H, W)).warnings[-1]


# -------------------------------------------------------------------------------- orientation
@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_mask_follows_an_image_read_with_exif_transpose(tmp_path, orientation):
    from trufor.imageio import read_image

    m = region()
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(scene(m)).save(tmp_path / "img.jpg", quality=95, exif=exif)
    Image.fromarray(m).save(tmp_path / "mask.png")  # drawn on the stored pixel grid
    turned = read_image(tmp_path / "img.jpg", exif_transpose=True).pixels
    with Image.open(tmp_path / "img.jpg") as im:
        tag = im.getexif().get(0x0112)
    r = M.load_mask(tmp_path / "mask.png", M.EVALUATION, turned.shape[:2], orientation=tag,
                    image=tmp_path / "img.jpg")
    assert r.issue is None and not r.warnings
    assert np.array_equal(r.mask, turned[..., 0] > 128)  # the mask lies on the bright region
    assert np.array_equal(M.read_mask(tmp_path / "mask.png", orientation=tag), r.mask)


@pytest.mark.parametrize("orientation,compression", [(3, None), (4, None), (6, "tiff_lzw"), (8, "tiff_lzw")])
def test_tiff_mask_stays_on_the_stored_grid(tmp_path, orientation, compression):
    """Recent Pillow applies a TIFF orientation tag while loading; masks, like images, keep the stored grid.

    (Uncompressed TIFFs of orientation 5-8 are decoded scrambled by Pillow 13 itself, for images and
    masks alike: not tested here.)"""
    from trufor.imageio import read_image

    m = region()
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(m).save(tmp_path / "mask.tif", exif=exif, compression=compression)
    assert np.array_equal(M.read_mask(tmp_path / "mask.tif"), m > 0)
    assert np.array_equal(read_image(tmp_path / "mask.tif").pixels[..., 0] > 0, m > 0)


# ------------------------------------------------------------------------------------ callers
def test_evaluation_training_and_figures_read_masks_through_trufor_masks(tmp_path):
    from trufor.evaluation import datasets
    from trufor.training.config import ConfigError
    from trufor.training.data import read_mask as training_mask
    from trufor.visualize import _as_mask

    assert datasets.load_mask is M.load_mask and datasets.MaskFormat is M.MaskFormat
    assert datasets.binarize_mask is M.binarize and datasets.MISMATCH_POLICIES == M.MISMATCH_POLICIES
    m = region()
    Image.fromarray(np.dstack([m] * 3)).save(tmp_path / "m.png")
    Image.fromarray((m > 0).astype(np.uint8)).save(tmp_path / "m01.png")
    Image.fromarray(m[:, :48]).save(tmp_path / "other.png")
    target = training_mask(tmp_path / "m.png", (H, W))
    assert target.dtype == np.int64 and np.array_equal(target, (m > 0).astype(np.int64))
    assert np.array_equal(training_mask(tmp_path / "m01.png", (H, W)), target)  # 0/1 masks are not empty
    with pytest.raises(ConfigError, match="other.png: mask is 48x40 but image is 64x40"):
        training_mask(tmp_path / "other.png", (H, W))
    with pytest.raises(ConfigError, match="none.png: mask file not found"):
        training_mask(tmp_path / "none.png", (H, W))
    panel = _as_mask(tmp_path / "m.png")
    assert panel.dtype == np.float32 and np.array_equal(panel, (m > 0).astype(np.float32))
    assert np.array_equal(_as_mask(m), panel) and np.array_equal(_as_mask(m > 0), panel)
    assert np.array_equal(_as_mask((m > 0) * 0.9), panel) and _as_mask(None) is None


# ------------------------------------------------------------------------------------ properties
masks_2d = hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12))
masks_any = hnp.arrays(np.uint8, st.one_of(
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
    st.tuples(st.integers(1, 12), st.integers(1, 12), st.sampled_from([3, 4]))))
formats = st.builds(M.MaskFormat, threshold=st.integers(0, 254), invert=st.booleans(),
                    channel=st.one_of(st.none(), st.integers(0, 2)), zero_one=st.booleans())


@settings(max_examples=200, deadline=None)
@given(masks_any, formats)
def test_binarize_is_boolean_of_the_image_shape_and_idempotent(arr, fmt):
    if arr.ndim == 2 and fmt.channel is not None:
        fmt = M.MaskFormat(fmt.threshold, fmt.invert, None, fmt.zero_one)
    b = M.binarize(arr, fmt)
    assert b.dtype == bool and b.shape == arr.shape[:2]
    # a binarised mask, written back as 0/255 (or as bool), reads as itself with any non-inverting rule
    for again in (M.EVALUATION, M.HALF_RANGE, M.MaskFormat(threshold=fmt.threshold)):
        assert np.array_equal(M.binarize(b.astype(np.uint8) * 255, again), b)
        assert np.array_equal(M.binarize(b, M.EVALUATION), b)
    # inverting flips every pixel
    assert np.array_equal(M.binarize(arr, M.MaskFormat(fmt.threshold, not fmt.invert, fmt.channel, fmt.zero_one)), ~b)


@settings(max_examples=100, deadline=None)
@given(masks_2d, st.sampled_from([None, 1, 2, 3, 4, 5, 6, 7, 8]))
def test_orientation_is_undone_by_its_inverse(arr, orientation):
    from trufor.imageio import _INVERSE_ORIENTATION

    turned = M.orient(arr > 127, orientation)
    assert turned.dtype == bool
    back = M.orient(turned, _INVERSE_ORIENTATION.get(orientation))
    assert np.array_equal(back, arr > 127)


@settings(max_examples=60, deadline=None)
@given(masks_2d, st.sampled_from(["fix", "resize", "skip"]))
def test_a_mask_of_the_right_size_is_never_changed(arr, mismatch):
    b = arr > 127
    r = M.fit_to_image(b, b.shape, mismatch=mismatch)
    assert r.mask is b and r.issue is None and not r.warnings


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(bool, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=24)),
       st.sampled_from(["png", "tif", "bmp"]), st.booleans())
def test_lossless_files_read_back_exactly(mask, ext, zero_one):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"m.{ext}"
        Image.fromarray(mask.astype(np.uint8) * (1 if zero_one else 255)).save(path)
        for fmt in (M.EVALUATION, M.HALF_RANGE):
            assert np.array_equal(M.read_mask(path, fmt), mask)
