"""Fuzzing the image-reading path: any bytes in a file give a valid image or an ImageReadError.

``read_image`` must never raise anything else, never crash the interpreter and never hang,
whatever the file holds: random bytes, or valid PNG/JPEG/GIF/TIFF/BMP/WebP/HEIC files with bits
flipped, bytes overwritten with extreme integers, ranges deleted or duplicated, or cut short.

Examples per property: ``TRUFOR_FUZZ_EXAMPLES`` (default 200, a few seconds; CI's dedicated fuzz
step sets a few thousand). Select with ``-m fuzz``. A failing input goes to ``tests/corpus/``
(tiny files only) once fixed; ``test_corpus_regressions`` re-reads every file there on each run.
"""

from __future__ import annotations

import faulthandler
import io
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import mutate, operation_strategy
from PIL import Image, ImageCms, ImageFile, PngImagePlugin

from trufor.errors import ImageReadError
from trufor.imageio import LoadedImage, read_image

FUZZ_EXAMPLES = int(os.environ.get("TRUFOR_FUZZ_EXAMPLES", "200"))
CORPUS = Path(__file__).parent / "corpus"
# Small cap: a mutated size field must not make a test allocate gigabytes.
MAX_PIXELS = 1 << 20
# A read taking this long is a hang: dump every thread's traceback and end the run.
HANG_SECONDS = 120

FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,  # timings on a shared CI machine are noise; hangs are caught by faulthandler
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


# --------------------------------------------------------------------------------------------
# Seeds: small valid files of each format, with the features whose parsing is worth attacking


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _seeds() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(7)
    rgb = Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    exif = rgb.getexif()
    exif[0x0112] = 6
    exif_bytes = exif.tobytes()
    frames = [Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)) for _ in range(2)]
    grey16 = Image.fromarray(rng.integers(0, 65536, (6, 5)).astype(np.uint16))
    flt = Image.fromarray(rng.random((6, 5)).astype(np.float32))
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "fuzz")
    text.add_text("Software", "trufor " * 8, zip=True)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    seeds = [
        (".png", _encode(rgb, "PNG")),
        (".png", _encode(rgb, "PNG", pnginfo=text, icc_profile=icc)),
        (".jpg", _encode(rgb, "JPEG", icc_profile=icc, comment=b"fuzz")),
        (".png", _encode(rgb.quantize(8), "PNG", transparency=2)),
        (".png", _encode(rgb.convert("RGBA"), "PNG", exif=exif_bytes)),
        (".png", _encode(grey16, "PNG")),
        (".png", _encode(frames[0], "PNG", save_all=True, append_images=frames[1:])),  # APNG
        (".jpg", _encode(rgb, "JPEG", quality=80)),
        (".jpg", _encode(rgb, "JPEG", progressive=True, exif=exif_bytes)),
        (".jpg", _encode(rgb.convert("CMYK"), "JPEG")),
        (".jpg", _encode(rgb.convert("L"), "JPEG", subsampling=0)),
        (".gif", _encode(rgb, "GIF")),
        (".gif", _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], loop=0)),
        (".tif", _encode(rgb, "TIFF", exif=exif_bytes)),
        (".tif", _encode(rgb, "TIFF", compression="tiff_lzw")),
        (".tif", _encode(rgb, "TIFF", compression="tiff_adobe_deflate", tiffinfo={0x0112: 8})),
        (".tif", _encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])),
        (".tif", _encode(grey16, "TIFF")),
        (".tif", _encode(flt, "TIFF")),
        (".bmp", _encode(rgb, "BMP")),
        (".webp", _encode(rgb, "WEBP", lossless=True)),
        (".webp", _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:])),
    ]
    try:
        import pillow_heif

        buf = io.BytesIO()
        pillow_heif.from_pillow(Image.fromarray(np.zeros((8, 8, 3), np.uint8))).save(buf, format="HEIF")
        seeds.append((".heic", buf.getvalue()))
    except Exception:  # no encoder in this build: fuzz the others
        pass
    return seeds


SEEDS = _seeds()
MAGICS = [d[:12] for _, d in SEEDS] + [b"P6\n", b"BM", b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"II+\x00"]
EXTENSIONS = [".png", ".jpg", ".gif", ".tif", ".webp", ".heic", ".bmp", ".bin", ""]
EXTREMES = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]

_position = st.one_of(st.integers(0, 96), st.integers(0, 1 << 16))  # headers are worth more
_operation = operation_strategy(_position, EXTREMES)


@st.composite
def mutated_files(draw) -> tuple[str, bytes]:
    ext, data = draw(st.sampled_from(SEEDS))
    operations = draw(st.lists(_operation, min_size=1, max_size=6))
    if draw(st.booleans()):
        ext = draw(st.sampled_from(EXTENSIONS))
    return ext, mutate(data, operations)


random_files = st.tuples(
    st.sampled_from(EXTENSIONS),
    st.one_of(
        st.binary(max_size=2048),
        st.builds(lambda m, tail: m + tail, st.sampled_from(MAGICS), st.binary(max_size=1024)),
    ),
)


# --------------------------------------------------------------------------------------------
# The property


def check_read(path: Path, **options) -> LoadedImage | ImageReadError:
    """Read ``path``: valid image or ImageReadError; anything else fails the test."""
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    try:
        result: LoadedImage | ImageReadError = read_image(path, max_pixels=MAX_PIXELS, **options)
    except ImageReadError as exc:
        result = exc
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == saved
    if isinstance(result, ImageReadError):
        text = str(result)
        assert text.startswith(str(path)) and "\n" not in text and result.problem
        return result
    px = result.pixels
    assert isinstance(px, np.ndarray) and px.dtype == np.uint8
    assert px.ndim == 3 and px.shape[2] == 3 and px.shape[0] >= 1 and px.shape[1] >= 1
    assert px.flags.c_contiguous
    assert px.shape[0] * px.shape[1] <= MAX_PIXELS
    assert all(isinstance(w, str) for w in result.warnings)
    return result


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _write(folder: Path, ext: str, data: bytes) -> Path:
    path = folder / f"case{ext}"
    path.write_bytes(data)
    return path


@pytest.mark.fuzz
@FUZZ_SETTINGS
@given(case=mutated_files(), allow_truncated=st.booleans(), exif_transpose=st.booleans())
def test_fuzz_mutated_images(fuzz_dir, case, allow_truncated, exif_transpose):
    ext, data = case
    check_read(_write(fuzz_dir, ext, data), allow_truncated=allow_truncated,
               exif_transpose=exif_transpose)


@pytest.mark.fuzz
@FUZZ_SETTINGS
@given(case=random_files, allow_truncated=st.booleans())
def test_fuzz_random_bytes(fuzz_dir, case, allow_truncated):
    ext, data = case
    check_read(_write(fuzz_dir, ext, data), allow_truncated=allow_truncated)


# --------------------------------------------------------------------------------------------
# Seeds and the regression corpus (fast, not marked: they run in every test run)


@pytest.mark.parametrize("index", range(len(SEEDS)))
def test_seeds_are_valid_images(fuzz_dir, index):
    ext, data = SEEDS[index]
    result = check_read(_write(fuzz_dir, ext, data))
    assert isinstance(result, LoadedImage), f"seed {index} ({ext}) should decode: {result}"


CORPUS_FILES = sorted(p for p in CORPUS.glob("*") if p.is_file() and p.suffix != ".md")


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.name for p in CORPUS_FILES])
@pytest.mark.parametrize("allow_truncated", [False, True])
def test_corpus_regressions(path, allow_truncated):
    assert path.stat().st_size <= 16 * 1024, "keep corpus files tiny"
    check_read(path, allow_truncated=allow_truncated)
    check_read(path, allow_truncated=allow_truncated, exif_transpose=True)
