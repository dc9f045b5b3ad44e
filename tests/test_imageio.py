"""Image input: every kind of good and bad file gives a correct image or one clear ImageReadError.

Test images are generated with Pillow in tmp dirs and kept tiny. "official" below is how the
official TruFor tool reads an image: ``np.asarray(Image.open(p).convert("RGB"))``.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import threading
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps, features

from trufor import imageio
from trufor.errors import ImageReadError
from trufor.imageio import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    LoadedImage,
    is_probably_image,
    read_image,
    to_rgb_array,
)

RNG = np.random.default_rng(1234)


def rand_rgb(h: int = 12, w: int = 16) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def official(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def save(im: Image.Image, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)
    return path


def check_valid(res: LoadedImage, shape: tuple[int, int] | None = None) -> None:
    px = res.pixels
    assert isinstance(px, np.ndarray)
    assert px.dtype == np.uint8 and px.ndim == 3 and px.shape[2] == 3
    assert px.flags.c_contiguous
    assert res.size == px.shape[:2]
    if shape is not None:
        assert res.size == shape
    assert all(isinstance(w, str) for w in res.warnings)


def read_error(path, **kw) -> ImageReadError:
    with pytest.raises(ImageReadError) as info:
        read_image(path, **kw)
    err = info.value
    msg = str(err)
    assert "\n" not in msg, "error must be one line"
    assert err.path == os.fsdecode(os.fspath(path)) and msg.startswith(err.path)
    assert err.hint, "every image error says what to do"
    return err


def has_warning(res: LoadedImage, *words: str) -> bool:
    return any(all(w.lower() in text.lower() for w in words) for text in res.warnings)


# --------------------------------------------------------------------------------------------
# Ordinary images: identical to the official reader


@pytest.mark.parametrize(
    "ext,kw",
    [
        (".png", {}),
        (".jpg", {"quality": 90}),
        (".jpg", {"quality": 75, "progressive": True}),
        (".bmp", {}),
        (".tif", {}),
        (".tif", {"compression": "tiff_lzw"}),
        (".webp", {"lossless": True}),
        (".webp", {"quality": 80}),
        (".ppm", {}),
        (".jp2", {}),
    ],
)
def test_rgb_formats_match_official(tmp_path, ext, kw):
    if ext == ".jp2" and not features.check("jpg_2000"):
        pytest.skip("Pillow built without OpenJPEG")
    p = save(Image.fromarray(rand_rgb(13, 17)), tmp_path / f"img{ext}", **kw)
    res = read_image(p)
    check_valid(res, (13, 17))
    np.testing.assert_array_equal(res.pixels, official(p))
    assert res.path == str(p)
    assert res.warnings == []


def test_pixels_are_writable_copy(tmp_path):
    p = save(Image.fromarray(rand_rgb()), tmp_path / "a.png")
    res = read_image(p)
    res.pixels[0, 0] = 7  # must not raise (read-only buffers surprise callers)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "CMYK", "YCbCr"])
def test_8bit_modes_match_official(tmp_path, mode):
    base = Image.fromarray(rand_rgb(9, 11))
    im = base.convert(mode) if mode != "P" else base.quantize(colors=16)
    ext = ".jpg" if mode in ("CMYK", "YCbCr") else ".png" if mode != "CMYK" else ".tif"
    p = save(im, tmp_path / f"m_{mode}{ext}")
    with Image.open(p) as check:
        assert check.mode == (mode if mode != "YCbCr" else "RGB")
    res = read_image(p)
    check_valid(res, (9, 11))
    np.testing.assert_array_equal(res.pixels, official(p))


def test_cmyk_tiff_matches_official(tmp_path):
    p = save(Image.fromarray(rand_rgb()).convert("CMYK"), tmp_path / "cmyk.tif")
    res = read_image(p)
    np.testing.assert_array_equal(res.pixels, official(p))


def test_greyscale_is_replicated(tmp_path):
    g = RNG.integers(0, 256, (5, 6), dtype=np.uint8)
    p = save(Image.fromarray(g), tmp_path / "g.png")
    res = read_image(p)
    np.testing.assert_array_equal(res.pixels, np.repeat(g[:, :, None], 3, axis=2))


@pytest.mark.parametrize("transparent", [False, True])
@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA"])
def test_alpha_dropped_like_official(tmp_path, mode, transparent):
    rgba = np.dstack([rand_rgb(6, 7), np.full((6, 7), 255, np.uint8)])
    if transparent:
        rgba[0, 0, 3] = 0
        rgba[1, 1, 3] = 128
    im = Image.fromarray(rgba)
    if mode == "LA":
        im = im.convert("LA")
    elif mode == "PA":
        im = im.convert("PA")
    p = save(im, tmp_path / f"{mode}.png" if mode != "PA" else tmp_path / "pa.webp", lossless=True)
    res = read_image(p)
    np.testing.assert_array_equal(res.pixels, official(p))
    assert has_warning(res, "transparent") == transparent


def test_palette_with_transparency_matches_official(tmp_path):
    im = Image.fromarray(rand_rgb(8, 8)).quantize(colors=8)
    p = save(im, tmp_path / "ptrns.png", transparency=3)
    with Image.open(p) as check:
        assert check.mode == "P" and "transparency" in check.info
    res = read_image(p)
    np.testing.assert_array_equal(res.pixels, official(p))
    assert has_warning(res, "transparen")


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 3)])
@pytest.mark.parametrize("ext", [".png", ".jpg", ".gif", ".tif", ".bmp", ".webp"])
def test_tiny_images_are_read(tmp_path, shape, ext):
    p = save(Image.fromarray(rand_rgb(*shape)), tmp_path / f"tiny{ext}")
    res = read_image(p)
    check_valid(res, shape)
    np.testing.assert_array_equal(res.pixels, official(p))


# --------------------------------------------------------------------------------------------
# High bit depth and float: scaled, not clipped


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_grey_scaled_not_clipped(tmp_path, ext):
    a = RNG.integers(0, 65536, (6, 9)).astype(np.uint16)
    a[0, :4] = [0, 255, 256, 65535]
    p = save(Image.fromarray(a), tmp_path / f"g16{ext}")
    with Image.open(p) as check:
        assert check.mode.startswith("I;16")
    res = read_image(p)
    expected = (a >> 8).astype(np.uint8)
    np.testing.assert_array_equal(res.pixels, np.repeat(expected[:, :, None], 3, axis=2))
    assert list(res.pixels[0, :4, 0]) == [0, 0, 1, 255]
    assert has_warning(res, "16-bit")
    assert (official(p) == 255).mean() > 0.9, "the official reader clips: why we differ"


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_colour_matches_official(tmp_path, ext):
    cv2 = pytest.importorskip("cv2")
    bgr = RNG.integers(0, 65536, (5, 7, 3)).astype(np.uint16)
    p = tmp_path / f"c16{ext}"
    assert cv2.imwrite(str(p), bgr)
    res = read_image(p)
    np.testing.assert_array_equal(res.pixels, official(p))
    np.testing.assert_array_equal(res.pixels, (bgr[:, :, ::-1] >> 8).astype(np.uint8))
    assert has_warning(res, "16 bits")


def test_float_tiff_0_1_scaled(tmp_path):
    f = RNG.random((5, 6)).astype(np.float32)
    f[0, :3] = [0.0, 0.5, 1.0]
    p = save(Image.fromarray(f), tmp_path / "f01.tif")
    res = read_image(p)
    np.testing.assert_array_equal(res.pixels[:, :, 0], np.rint(f.astype(np.float64) * 255))
    assert list(res.pixels[0, :3, 1]) == [0, 128, 255]
    assert has_warning(res, "float", "[0, 1]")


def test_float_tiff_0_255_matches_official(tmp_path):
    f = (RNG.random((5, 6)) * 255).astype(np.float32)
    p = save(Image.fromarray(f), tmp_path / "f255.tif")
    res = read_image(p)
    np.testing.assert_array_equal(res.pixels, official(p))
    assert has_warning(res, "float")


def test_float_tiff_other_range_stretched_and_nonfinite(tmp_path):
    f = np.linspace(-10, 1000, 30, dtype=np.float32).reshape(5, 6)
    f[4, 3], f[4, 4], f[4, 5] = np.nan, np.inf, -np.inf
    p = save(Image.fromarray(f), tmp_path / "fwide.tif")
    res = read_image(p)
    assert res.pixels[0, 0, 0] == 0 and res.pixels[4, 2, 0] == 255
    assert res.pixels[4, 3, 0] == 0 and res.pixels[4, 4, 0] == 255 and res.pixels[4, 5, 0] == 0
    assert has_warning(res, "stretched") and has_warning(res, "nan")


@pytest.mark.parametrize(
    "values,expected,word",
    [
        ([0, 17, 255], [0, 17, 255], "0..255"),
        ([0, 256, 65535], [0, 1, 255], "16-bit"),
        ([-100, 0, 100], [0, 128, 255], "stretched"),
    ],
)
def test_int32_tiff(tmp_path, values, expected, word):
    p = save(Image.fromarray(np.array([values], dtype=np.int32)), tmp_path / "i32.tif")
    res = read_image(p)
    assert list(res.pixels[0, :, 0]) == expected
    assert has_warning(res, word)


# --------------------------------------------------------------------------------------------
# Multi-frame files


def test_multipage_tiff_first_page(tmp_path):
    pages = [Image.fromarray(rand_rgb(6, 8)) for _ in range(3)]
    p = save(pages[0], tmp_path / "multi.tif", save_all=True, append_images=pages[1:])
    res = read_image(p)
    np.testing.assert_array_equal(res.pixels, np.asarray(pages[0]))
    np.testing.assert_array_equal(res.pixels, official(p))
    assert has_warning(res, "3 frames", "first")


@pytest.mark.parametrize("ext", [".gif", ".webp"])
def test_animation_first_frame(tmp_path, ext):
    frames = [Image.fromarray(rand_rgb(6, 8)) for _ in range(2)]
    kw = {"lossless": True} if ext == ".webp" else {}
    p = save(frames[0], tmp_path / f"anim{ext}", save_all=True, append_images=frames[1:], **kw)
    res = read_image(p)
    np.testing.assert_array_equal(res.pixels, official(p))
    assert has_warning(res, "2 frames", "first")


def test_single_frame_gif_no_warning(tmp_path):
    p = save(Image.fromarray(rand_rgb()), tmp_path / "one.gif")
    assert read_image(p).warnings == []


# --------------------------------------------------------------------------------------------
# HEIC / AVIF / WebP


def smooth_rgb(h: int, w: int) -> np.ndarray:
    """A gradient: lossy codecs keep it close, unlike noise."""
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) * 4 % 256]).astype(
        np.uint8
    )


def test_heic_read_lazily_registered(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    a = smooth_rgb(16, 24)
    p = tmp_path / "photo.heic"
    pillow_heif.from_pillow(Image.fromarray(a)).save(p, quality=95)
    res = read_image(p)
    check_valid(res, (16, 24))
    assert np.abs(res.pixels.astype(int) - a).mean() < 8  # lossy, but the same picture


def test_heic_with_jpg_extension(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    p = tmp_path / "IMG_0001.jpg"  # phones do this
    pillow_heif.from_pillow(Image.fromarray(rand_rgb(16, 16))).save(p, format="HEIF")
    res = read_image(p)
    check_valid(res, (16, 16))
    assert has_warning(res, ".jpg", "HEIF")


def test_heif_decoder_unavailable_is_clear(tmp_path, monkeypatch):
    pillow_heif = pytest.importorskip("pillow_heif")
    p = tmp_path / "x.heic"
    pillow_heif.from_pillow(Image.fromarray(rand_rgb(16, 16))).save(p)
    monkeypatch.setattr(imageio, "_heif_state", "ImportError: No module named 'pillow_heif'")
    err = read_error(p)
    assert "pillow-heif" in err.hint


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_avif(tmp_path):
    p = save(Image.fromarray(rand_rgb(16, 16)), tmp_path / "a.avif", quality=90)
    res = read_image(p)
    np.testing.assert_array_equal(res.pixels, official(p))


# --------------------------------------------------------------------------------------------
# EXIF orientation


def _with_orientation(tmp_path: Path, orientation, ext: str = ".png") -> tuple[Path, np.ndarray]:
    a = rand_rgb(6, 10)
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = orientation
    kw = {"quality": 95} if ext == ".jpg" else {}
    p = save(im, tmp_path / f"o{orientation}{ext}", exif=exif.tobytes(), **kw)
    return p, a


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_ignored_by_default(tmp_path, orientation):
    p, a = _with_orientation(tmp_path, orientation)
    res = read_image(p)
    np.testing.assert_array_equal(res.pixels, a)  # the stored grid, as the official tool
    assert has_warning(res, "orientation", "not applied") == (orientation != 1)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_transpose_matches_pillow(tmp_path, orientation):
    p, _ = _with_orientation(tmp_path, orientation)
    res = read_image(p, exif_transpose=True)
    with Image.open(p) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    np.testing.assert_array_equal(res.pixels, expected)
    assert res.pixels.flags.c_contiguous
    assert has_warning(res, "applied") == (orientation != 1)


@pytest.mark.parametrize("ext", [".jpg", ".webp"])
def test_exif_orientation_other_formats(tmp_path, ext):
    p, _ = _with_orientation(tmp_path, 6, ext)
    res = read_image(p)
    np.testing.assert_array_equal(res.pixels, official(p))
    assert has_warning(res, "orientation 6")
    rotated = read_image(p, exif_transpose=True)
    assert rotated.size == (10, 6)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("compression", [None, "tiff_lzw"])
def test_tiff_orientation_stored_grid(tmp_path, orientation, compression):
    """Recent Pillow rotates TIFFs itself on load; the stored grid is still what we return."""
    a = rand_rgb(6, 10)
    p = save(Image.fromarray(a), tmp_path / "o.tif", tiffinfo={0x0112: orientation},
             compression=compression)
    res = read_image(p)
    np.testing.assert_array_equal(res.pixels, a)
    assert has_warning(res, "not applied") == (orientation != 1)
    turned = read_image(p, exif_transpose=True)
    np.testing.assert_array_equal(turned.pixels, imageio._apply_orientation(a, orientation))


def test_invalid_orientation_value(tmp_path):
    p, a = _with_orientation(tmp_path, 9)
    res = read_image(p, exif_transpose=True)
    np.testing.assert_array_equal(res.pixels, a)
    assert has_warning(res, "invalid")


# --------------------------------------------------------------------------------------------
# Broken files


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    assert "empty" in read_error(p).problem


def _encoded(fmt: str, a: np.ndarray | None = None, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rand_rgb(48, 40) if a is None else a).save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    "fmt,ext,kw",
    [("JPEG", ".jpg", {}), ("JPEG", ".jpg", {"progressive": True}), ("PNG", ".png", {})],
)
def test_truncated_refused_by_default_accepted_on_request(tmp_path, fmt, ext, kw):
    data = _encoded(fmt, **kw)
    p = tmp_path / f"cut{ext}"
    p.write_bytes(data[: len(data) * 2 // 3])
    err = read_error(p)
    assert "truncated" in err.problem and "allow_truncated=True" in err.hint
    res = read_image(p, allow_truncated=True)
    check_valid(res, (48, 40))
    assert has_warning(res, "truncated", "allow_truncated")


def test_jpeg_missing_only_eoi_counts_as_truncated(tmp_path):
    data = _encoded("JPEG")
    assert data.endswith(b"\xff\xd9")
    p = tmp_path / "noeoi.jpg"
    p.write_bytes(data[:-2])
    assert "truncated" in read_error(p).problem  # the official reader raises too
    whole = tmp_path / "whole.jpg"
    whole.write_bytes(data)
    np.testing.assert_array_equal(read_image(p, allow_truncated=True).pixels, official(whole))


def test_png_missing_only_iend_is_fine(tmp_path):
    data = _encoded("PNG")
    p = tmp_path / "noiend.png"
    p.write_bytes(data[:-12])
    res = read_image(p)
    check_valid(res, (48, 40))
    np.testing.assert_array_equal(res.pixels, official(p))


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_truncated_inside_header(tmp_path, ext):
    data = _encoded("JPEG" if ext == ".jpg" else "PNG")
    p = tmp_path / f"head{ext}"
    p.write_bytes(data[:30])
    for allow in (False, True):
        read_error(p, allow_truncated=allow)


def test_corrupt_data_not_decodable(tmp_path):
    data = bytearray(_encoded("PNG"))
    idat = data.find(b"IDAT")
    data[idat + 4 : idat + 40] = b"\x00" * 36  # zlib stream destroyed
    p = tmp_path / "broken.png"
    p.write_bytes(bytes(data))
    err = read_error(p)
    assert "damaged" in err.problem or "truncated" in err.problem


def test_global_truncation_flag_does_not_change_default(tmp_path, monkeypatch):
    data = _encoded("JPEG")
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 2])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    read_error(p)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


@pytest.mark.parametrize(
    "content,word",
    [
        (b"hello, this is not an image\n", "text"),
        (b"<!DOCTYPE html><html><body>403 Forbidden</body></html>", "HTML"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (bytes(range(256)) * 4, "not a recognised image"),
        (b"PK\x03\x04" + b"\x00" * 40, "ZIP"),
    ],
)
def test_non_image_with_image_extension(tmp_path, content, word):
    p = tmp_path / "photo.jpg"
    p.write_bytes(content)
    assert word.lower() in read_error(p).problem.lower()


def test_damaged_known_signature_is_described(tmp_path):
    p = tmp_path / "bad.tif"
    p.write_bytes(b"II*\x00" + b"\xff" * 60)
    err = read_error(p)
    assert "TIFF" in err.problem and "convert" in err.hint


def test_eps_refused(tmp_path):
    p = tmp_path / "x.eps"
    p.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    assert "EPS" in read_error(p).problem


def test_wrong_extension_works_with_warning(tmp_path):
    p = tmp_path / "really_a_jpeg.png"
    Image.fromarray(rand_rgb()).save(p, format="JPEG")
    res = read_image(p)
    np.testing.assert_array_equal(res.pixels, official(p))
    assert has_warning(res, ".png", "JPEG")


@pytest.mark.parametrize("name", ["noextension", "image.dat", "image.JPG", "image.jpeg"])
def test_unknown_or_matching_extension_no_warning(tmp_path, name):
    p = tmp_path / name
    Image.fromarray(rand_rgb()).save(p, format="JPEG")
    assert read_image(p).warnings == []


# --------------------------------------------------------------------------------------------
# Decompression bombs


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_bomb_refused_before_decoding(tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_header_only(50_000, 50_000))  # 2.5 gigapixels in 100 bytes
    err = read_error(p)
    assert "--max-pixels" in err.hint
    assert "2500 megapixels" in err.problem and "200 megapixels" in err.problem
    assert DEFAULT_MAX_PIXELS == 200_000_000


@pytest.mark.parametrize("cap", [10, 959, 960, 1919])  # Pillow's error (> 2 cap), its warning
def test_max_pixels_cap(tmp_path, cap):
    p = tmp_path / "a.png"
    p.write_bytes(_encoded("PNG"))  # 48 x 40 = 1920 pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither Pillow's bomb warning nor anything else leaks
        err = read_error(p, max_pixels=cap)
    assert "--max-pixels" in err.hint and "1920" in err.problem


def test_gif_frame_larger_than_screen_is_capped(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(rand_rgb(6, 8)).save(buf, "GIF")
    data = bytearray(buf.getvalue())
    at = data.index(b",\x00\x00\x00\x00")  # image descriptor at (0, 0)
    data[at + 5 : at + 9] = struct.pack("<HH", 100, 100)  # frame 100x100 on an 8x6 screen
    p = tmp_path / "bigframe.gif"
    p.write_bytes(bytes(data))
    err = read_error(p, max_pixels=5000)
    assert "10000 pixels" in err.problem and "--max-pixels" in err.hint


def test_max_pixels_exact_and_none(tmp_path):
    p = tmp_path / "a.png"
    p.write_bytes(_encoded("PNG"))
    check_valid(read_image(p, max_pixels=48 * 40))
    check_valid(read_image(p, max_pixels=None))


def test_pillow_bomb_limit_replaced_by_ours(tmp_path, monkeypatch):
    p = tmp_path / "a.png"
    p.write_bytes(_encoded("PNG"))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow alone would raise
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_valid(read_image(p))
    assert Image.MAX_IMAGE_PIXELS == 100, "Pillow's setting restored"


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "100"])
def test_max_pixels_validated(tmp_path, bad):
    p = save(Image.fromarray(rand_rgb()), tmp_path / "a.png")
    with pytest.raises(ValueError, match="max_pixels"):
        read_image(p, max_pixels=bad)


def test_pillow_globals_restored_after_errors(tmp_path):
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    data = _encoded("JPEG")
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) * 2 // 3])
    read_error(p)
    read_image(p, allow_truncated=True, max_pixels=None)
    read_error(p, max_pixels=5)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == saved


# --------------------------------------------------------------------------------------------
# Paths and file-system trouble


@pytest.mark.parametrize(
    "name", ["with space/my photo.png", "ünïcödé/фото 写真.png", "émoji 📷.jpg", "a'b\"c.png"]
)
def test_awkward_paths(tmp_path, name):
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rand_rgb()).save(p)
    for arg in (p, str(p), os.fsencode(p)):
        res = read_image(arg)
        np.testing.assert_array_equal(res.pixels, official(p))
        assert res.path == str(p)


def test_missing_file(tmp_path):
    assert "not found" in read_error(tmp_path / "nope.png").problem


def test_directory(tmp_path):
    d = tmp_path / "folder.jpg"
    d.mkdir()
    assert "directory" in read_error(d).problem


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_not_read(tmp_path):
    f = tmp_path / "pipe.png"
    os.mkfifo(f)
    assert "regular file" in read_error(f).problem  # and does not block


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root: chmod 000 does not stop root from reading",
)
def test_unreadable_file(tmp_path):
    p = save(Image.fromarray(rand_rgb()), tmp_path / "secret.png")
    p.chmod(0)
    try:
        assert "permission" in read_error(p).problem
    finally:
        p.chmod(0o644)


def test_permission_denied_message(tmp_path, monkeypatch):
    """Same branch as above, simulated so that it also runs as root."""
    p = save(Image.fromarray(rand_rgb()), tmp_path / "secret.png")

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(imageio, "open", deny, raising=False)
    err = read_error(p)
    assert "permission" in err.problem and "readable" in err.hint


def test_not_a_path():
    with pytest.raises(TypeError, match="file path"):
        read_image(np.zeros((2, 2, 3), np.uint8))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# No leaks: warnings, threads


def test_no_python_warnings_escape(tmp_path):
    bad_exif = Image.fromarray(rand_rgb())
    p1 = save(bad_exif, tmp_path / "badexif.jpg", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff")
    p2 = save(Image.fromarray(rand_rgb()).quantize(8), tmp_path / "t.png", transparency=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for p in (p1, p2):
            check_valid(read_image(p))


def test_concurrent_reads(tmp_path):
    arrays = [rand_rgb(10 + i, 12) for i in range(6)]
    paths = [save(Image.fromarray(a), tmp_path / f"{i}.png") for i, a in enumerate(arrays)]
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(5):
                results[i] = read_image(paths[i]).pixels
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, a in enumerate(arrays):
        np.testing.assert_array_equal(results[i], a)


# --------------------------------------------------------------------------------------------
# Folder-scan helpers


def test_image_extensions_constant():
    assert isinstance(IMAGE_EXTENSIONS, frozenset)
    assert all(e.startswith(".") and e == e.lower() for e in IMAGE_EXTENSIONS)
    for e in (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".heic", ".avif", ".gif"):
        assert e in IMAGE_EXTENSIONS


def test_is_probably_image(tmp_path):
    jpg = save(Image.fromarray(rand_rgb()), tmp_path / "a.JPG", format="JPEG")
    noext = save(Image.fromarray(rand_rgb()), tmp_path / "download", format="PNG")
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"")
    apple = tmp_path / "._a.jpg"
    apple.write_bytes(b"\x00\x05\x16\x07" + b"\x00" * 30)
    folder = tmp_path / "dir.png"
    folder.mkdir()
    assert is_probably_image(jpg)
    assert is_probably_image(str(noext))
    assert is_probably_image(broken)  # reading it will report the problem
    assert not is_probably_image(txt)
    assert not is_probably_image(apple)
    assert not is_probably_image(folder)
    assert not is_probably_image(tmp_path / "missing.png")


# --------------------------------------------------------------------------------------------
# In-memory inputs


def test_to_rgb_array_uint8_shapes():
    a = rand_rgb(4, 5)
    out = to_rgb_array(a)
    np.testing.assert_array_equal(out, a)
    assert out is not a and not np.shares_memory(out, a)
    g = a[:, :, 0].copy()
    np.testing.assert_array_equal(to_rgb_array(g), np.repeat(g[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(to_rgb_array(g[:, :, None]), to_rgb_array(g))
    rgba = np.dstack([a, np.zeros((4, 5), np.uint8)])
    np.testing.assert_array_equal(to_rgb_array(rgba), a)
    fortran = np.asfortranarray(a)
    assert to_rgb_array(fortran).flags.c_contiguous
    np.testing.assert_array_equal(to_rgb_array(a[::-1, ::2]), a[::-1, ::2])


def test_to_rgb_array_float():
    f = RNG.random((3, 4, 3))
    f[0, 0] = [0.0, 0.5, 1.0]
    out = to_rgb_array(f.astype(np.float32))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.rint(f.astype(np.float32).astype(np.float64) * 255))
    assert list(out[0, 0]) == [0, 128, 255]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_rgb_array(f * 255)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_rgb_array(f - 0.5)
    bad = f.copy()
    bad[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        to_rgb_array(bad)


@pytest.mark.parametrize(
    "arr,exc,match",
    [
        (np.zeros((4, 4, 3), np.uint16), TypeError, ">> 8"),
        (np.zeros((4, 4, 3), np.int64), TypeError, "astype"),
        (np.zeros((4, 4), bool), TypeError, "mask"),
        (np.zeros((3, 8, 9), np.uint8), ValueError, "channels-first"),
        (np.zeros((4, 4, 2), np.uint8), ValueError, "shape"),
        (np.zeros((2, 4, 4, 3), np.uint8), ValueError, "shape"),
        (np.zeros((8,), np.uint8), ValueError, "shape"),
        (np.zeros((0, 4, 3), np.uint8), ValueError, "empty"),
        (np.zeros((4, 4, 3), complex), TypeError, "dtype"),
    ],
)
def test_to_rgb_array_rejects(arr, exc, match):
    with pytest.raises(exc, match=match):
        to_rgb_array(arr)


@pytest.mark.parametrize("obj", [[[0, 1], [2, 3]], "image.png", None, 3.0])
def test_to_rgb_array_rejects_other_objects(obj):
    with pytest.raises(TypeError, match="numpy array or a PIL image"):
        to_rgb_array(obj)


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA", "CMYK", "1", "LA", "La"])
def test_to_rgb_array_pil_modes(mode):
    base = Image.fromarray(rand_rgb(5, 6))
    im = base.quantize(8) if mode == "P" else base.convert(mode)
    out = to_rgb_array(im)
    assert out.shape == (5, 6, 3) and out.dtype == np.uint8
    if mode != "La":
        np.testing.assert_array_equal(out, np.asarray(im.convert("RGB")))


def test_to_rgb_array_pil_16bit_and_float():
    a = np.array([[0, 256, 65535]], dtype=np.uint16)
    assert list(to_rgb_array(Image.fromarray(a))[0, :, 0]) == [0, 1, 255]
    f = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    assert list(to_rgb_array(Image.fromarray(f))[0, :, 2]) == [0, 128, 255]


def test_to_rgb_array_pil_broken_lazy_image(tmp_path):
    data = _encoded("JPEG")
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) * 2 // 3])
    with Image.open(p) as im, pytest.raises(ValueError, match="truncated"):
        to_rgb_array(im)


def test_to_rgb_array_loaded_image(tmp_path):
    p = save(Image.fromarray(rand_rgb()), tmp_path / "a.png")
    res = read_image(p)
    out = to_rgb_array(res)
    np.testing.assert_array_equal(out, res.pixels)
    assert not np.shares_memory(out, res.pixels)
