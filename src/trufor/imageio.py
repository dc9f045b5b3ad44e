"""Reading images into the pixel grid the model analyses.

Parity rule: the official tool reads images with ``PIL.Image.open(path).convert("RGB")``. For every
image that conversion handles without loss of range (8-bit modes: 1, L, LA, P, PA, RGB, RGBA,
CMYK, YCbCr, ... and the 16-bit-per-channel colour images Pillow itself reduces to 8 bits), the
pixels returned here are identical to ``np.asarray(Image.open(path).convert("RGB"))``.

Where ``convert("RGB")`` gives garbage (16-bit greyscale and 32-bit integer images are clipped at
255, float images are truncated and clipped), the values are scaled to 8 bits instead and a warning
is added to :attr:`LoadedImage.warnings`. Other departures from the official tool are explicit
choices documented in ``docs/ROBUSTNESS.md``: truncated files are refused unless
``allow_truncated=True``, a pixel cap guards against decompression bombs, only the first frame of a
multi-frame file is read (with a warning), and EXIF orientation is *not* applied by default because
forensic traces live in the stored pixel grid.

Every failure is an :class:`~trufor.errors.ImageReadError` naming the file, the problem and what to
do about it; no other exception escapes :func:`read_image` for a bad file.

Thread-safety: while decoding, :func:`read_image` sets Pillow's process-wide
``Image.MAX_IMAGE_PIXELS`` and ``ImageFile.LOAD_TRUNCATED_IMAGES`` and records Python warnings, so
reads are serialised by a module lock. Decode in several processes (not threads) for parallelism.
Pillow code running in *other* threads during a read sees those temporary settings.
"""

from __future__ import annotations

import os
import re
import stat
import threading
import warnings
from dataclasses import dataclass, field
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile

from .errors import ImageReadError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "LoadedImage",
    "ReadOptions",
    "apply_orientation",
    "exif_orientation",
    "is_probably_image",
    "read_image",
    "scan_images",
    "to_rgb_array",
]

#: Default pixel cap of :func:`read_image` (width x height of the first frame): 200 megapixels,
#: i.e. 600 MB of RGB data before the model allocates anything.
DEFAULT_MAX_PIXELS = 200_000_000

#: Lower-case file suffixes that folder scans treat as images. Files with other suffixes are still
#: read when named explicitly (the format is detected from the content, not the name).
IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif",
        ".png",
        ".tif", ".tiff",
        ".bmp", ".dib",
        ".gif",
        ".webp",
        ".heic", ".heif", ".hif",
        ".avif",
        ".jp2", ".j2k",
        ".ppm", ".pgm", ".pbm", ".pnm",
    }
)  # fmt: skip

# Formats never opened even though Pillow has a plugin: EPS is vector data whose "decoding" runs
# Ghostscript as a subprocess, which has no place in reading untrusted inputs.
_EXCLUDED_FORMATS = frozenset({"EPS"})

# Pillow's formats with different names for what a file extension promises.
_FORMAT_FAMILY = {"MPO": "JPEG"}

_HINT_REEXPORT = "re-export or re-download the image, or convert it to PNG with another tool"
_HINT_TRUNCATED = (
    "re-download or re-export it; to analyse the part that decodes anyway, "
    "pass allow_truncated=True (CLI: --allow-truncated)"
)

_ORIENTATION_TEXT = {
    2: "mirrored left-right",
    3: "rotated 180 degrees",
    4: "mirrored top-bottom",
    5: "transposed",
    6: "rotated 90 degrees clockwise",
    7: "transversed",
    8: "rotated 90 degrees counter-clockwise",
}

# The transposition that undoes each orientation's: the two quarter turns swap, others are involutions.
_INVERSE_ORIENTATION = {2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}

_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"mif2",
     b"msf1"}
)  # fmt: skip
_AVIF_BRANDS = frozenset({b"avif", b"avis"})

# Serialises reads: Pillow's limits are module globals (see the module docstring).
_LOCK = threading.RLock()
# None: pillow-heif not tried yet; True: registered; str: why it is unavailable.
_heif_state: bool | str | None = None


@dataclass
class LoadedImage:
    """An RGB uint8 image (H, W, 3) with where it came from and any warnings met while reading."""

    pixels: np.ndarray
    path: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: how the file was read (None for in-memory images)
    options: ReadOptions | None = None
    #: the EXIF orientation that was applied to the stored pixel grid (None: the grid as stored)
    orientation: int | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])

    def orient_like(self, array: np.ndarray) -> np.ndarray:
        """``array`` (H, W) or (H, W, C), aligned with the stored pixel grid of this image (e.g. a
        ground-truth mask), turned the way these pixels were turned (EXIF orientation, when applied)."""
        return apply_orientation(array, self.orientation)


@dataclass(frozen=True)
class ReadOptions:
    """How image files are read, as one object that travels with a job (detect, eval, a service, a cluster).

    The fields are :func:`read_image`'s keyword arguments; :meth:`read` reads a file with them.
    """

    max_pixels: int | None = DEFAULT_MAX_PIXELS
    exif_transpose: bool = False
    allow_truncated: bool = False

    def read(self, path: str | os.PathLike) -> LoadedImage:
        """``read_image(path)`` with these options."""
        return read_image(path, max_pixels=self.max_pixels, exif_transpose=self.exif_transpose,
                          allow_truncated=self.allow_truncated)

    def to_dict(self) -> dict[str, Any]:
        return {"max_pixels": self.max_pixels, "exif_transpose": self.exif_transpose,
                "allow_truncated": self.allow_truncated}


# --------------------------------------------------------------------------------------------
# Public API


def read_image(
    path: str | os.PathLike,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    exif_transpose: bool = False,
    allow_truncated: bool = False,
) -> LoadedImage:
    """Read the first frame of the image file ``path`` as RGB uint8 (H, W, 3).

    Args:
        path: the image file. Its format is detected from the content; a suffix that does not
            match the content only adds a warning.
        max_pixels: refuse images whose first frame has more pixels than this (decompression-bomb
            guard); ``None`` removes the cap. The CLI exposes it as ``--max-pixels``.
        exif_transpose: apply the EXIF orientation tag (rotate/flip). Off by default: forensic
            traces (JPEG grid, demosaicing, sensor noise) live in the stored pixel grid, so the
            official tool and the model analyse it as stored.
        allow_truncated: accept a truncated or partly damaged file when Pillow can decode part of
            it; the missing area is filled with a constant and a warning says so. By default
            such files are refused, as the official tool (which raises) would.

    Returns:
        A :class:`LoadedImage` whose ``warnings`` lists everything worth telling the user
        (ignored EXIF orientation, dropped frames or transparency, bit-depth scaling, ...).

    Raises:
        ImageReadError: for any file that cannot be read; the message names the file, the
            problem and what to do.
        TypeError, ValueError: for invalid arguments (a programming error, not a bad file).
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"read_image() expects a file path, got {type(path).__name__}")
    name = os.fsdecode(os.fspath(path))
    if max_pixels is not None and (
        isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1
    ):
        raise ValueError(f"max_pixels must be a positive integer or None, got {max_pixels!r}")
    max_pixels = None if max_pixels is None else int(max_pixels)

    head = _read_head(name)
    kind = _sniff(head)
    if kind == "heif":
        _require_heif(name)
    elif kind == "avif":
        _require_avif(name)
    elif kind == "eps":
        raise ImageReadError(
            name,
            "PostScript/EPS files are not read (vector data; rasterising it would run Ghostscript)",
            "export the picture as PNG or TIFF and analyse that",
        )

    pixels, notes, applied = _decode(name, head, max_pixels, exif_transpose, allow_truncated)
    options = ReadOptions(max_pixels=max_pixels, exif_transpose=exif_transpose, allow_truncated=allow_truncated)
    return LoadedImage(pixels=pixels, path=name, warnings=notes, options=options, orientation=applied)


def to_rgb_array(obj: Any) -> np.ndarray:
    """Convert an in-memory image to the RGB uint8 (H, W, 3) array the model analyses.

    Accepted inputs:

    * a ``PIL.Image.Image``: converted exactly as :func:`read_image` converts a decoded file
      (``convert("RGB")`` for 8-bit modes; 16-bit, 32-bit integer and float images are scaled
      to 8 bits, see ``docs/ROBUSTNESS.md``). EXIF orientation is not applied; a multi-frame image
      gives its current frame.
    * a numpy ``uint8`` array, (H, W) greyscale (replicated to 3 channels), (H, W, 1), (H, W, 3)
      in **RGB** order, or (H, W, 4) RGBA (alpha dropped). Arrays from ``cv2.imread`` are BGR:
      convert them with ``cv2.cvtColor(a, cv2.COLOR_BGR2RGB)`` first.
    * a numpy float array with the same shapes and every value in [0, 1]: multiplied by 255
      and rounded to the nearest integer.

      .. warning:: float input is assumed to be on a [0, 1] scale. A float array on a 0-255
         scale is refused (its values exceed 1) rather than guessed at; convert it with
         ``a.round().astype(np.uint8)`` yourself.
    * a :class:`LoadedImage`: its pixels.

    The result is always a new C-contiguous array (the input is never shared or modified).

    Raises:
        TypeError: an unsupported object or dtype (e.g. uint16, int64, bool arrays, torch tensors).
        ValueError: a bad shape (channels-first, empty, wrong channel count), float values outside
            [0, 1] or not finite, or a PIL image mode that cannot be converted to RGB.
    """
    if isinstance(obj, LoadedImage):
        return np.array(obj.pixels, dtype=np.uint8, order="C", copy=True)
    if isinstance(obj, Image.Image):
        try:
            with _LOCK, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pixels, _notes = _pil_to_rgb(obj)
        except _Unsupported as exc:
            raise ValueError(f"cannot convert PIL image: {exc}") from None
        except Exception as exc:  # lazy images decode here; corrupt data shows up now
            raise ValueError(f"cannot convert PIL image (mode {obj.mode}): {exc}") from exc
        return pixels
    if isinstance(obj, np.ndarray):
        return _array_to_rgb(obj)
    module = type(obj).__module__.split(".")[0]
    kind = type(obj).__name__ if module == "builtins" else f"{module}.{type(obj).__name__}"
    hint = ""
    if kind.startswith("torch."):
        hint = " (for a tensor, pass t.permute(1, 2, 0).cpu().numpy(): an H x W x C array)"
    raise TypeError(f"to_rgb_array() expects a numpy array or a PIL image, got {kind}{hint}")


def scan_images(root: str | os.PathLike, *, recursive: bool = True) -> Iterator[tuple[Path, str]]:
    """Every image file under ``root``: ``(path, name)`` with ``name`` relative to ``root`` (``/``-separated).

    The one folder scanner of the package (detect, eval, synth and training all use it): a file is
    an image when its lower-cased suffix is in :data:`IMAGE_EXTENSIONS`; hidden files and folders
    (``.name``) are skipped. Symlinked folders are followed, each real folder once, so a symlink
    loop cannot make the scan recurse forever. Files come in a stable order: a folder's files
    sorted by name, then its subfolders in name order. It is a generator: a folder of a million
    images is never held as one list. A missing ``root`` yields nothing.
    """
    root = Path(root)
    if not root.is_dir():
        return
    seen: set[str] = set()
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        real = os.path.realpath(folder)
        if real in seen:
            continue
        seen.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()  # follows symlinks
                # A dangling symlink with an image suffix is listed, so that reading it reports the problem.
                is_file = not is_dir and (entry.is_file() or entry.is_symlink())
            except OSError:
                continue
            if is_dir:
                if recursive:
                    subfolders.append((Path(entry.path), prefix + entry.name + "/"))
            elif is_file and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
                yield Path(entry.path), prefix + entry.name
        stack.extend(reversed(subfolders))


def is_probably_image(path: str | os.PathLike) -> bool:
    """Cheap test used by folder scans: is ``path`` a regular file that looks like an image?

    True when the lower-cased suffix is in :data:`IMAGE_EXTENSIONS`, or when the first bytes carry
    a known image signature (so extension-less or misnamed images are not skipped). macOS
    AppleDouble companions (``._name.jpg``) are not images. A broken file with an image suffix
    still counts, so that reading it reports the problem instead of skipping it silently.
    Never raises.
    """
    try:
        name = os.fsdecode(os.fspath(path))
        if os.path.basename(name).startswith("._"):
            return False
        if not os.path.isfile(name):
            return False
        if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
            return True
        with open(name, "rb") as fh:
            head = fh.read(32)
    except (OSError, TypeError, ValueError):
        return False
    return _sniff(head) in {"image", "heif", "avif"}


# --------------------------------------------------------------------------------------------
# Files


class _LoadFailed(Exception):
    """Decoding the pixel data failed (as opposed to reading the header)."""

    def __init__(self, exc: BaseException):
        super().__init__(str(exc))
        self.exc = exc


class _Unsupported(Exception):
    """A decoded image whose pixel mode cannot be turned into RGB."""


def _read_head(name: str) -> bytes:
    """Check ``name`` is a readable, non-empty regular file and return its first bytes."""
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise ImageReadError(name, "file not found", "check the path and its spelling") from None
    except PermissionError:
        raise ImageReadError(
            name, "permission denied", "check the permissions of the file and its folders"
        ) from None
    except OSError as exc:
        raise ImageReadError(name, f"cannot access file: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageReadError(
            name,
            "is a directory, not an image file",
            "give an image file; to analyse every image in a folder, pass the folder to a "
            "command that accepts folders",
        )
    if not stat.S_ISREG(st.st_mode):
        # FIFOs and devices could block forever or never end.
        raise ImageReadError(name, "not a regular file", "copy the image to a regular file first")
    if st.st_size == 0:
        raise ImageReadError(
            name, "file is empty (0 bytes)", "the copy or download failed; get the file again"
        )
    try:
        with open(name, "rb") as fh:
            return fh.read(512)
    except PermissionError:
        raise ImageReadError(
            name, "permission denied", "make the file readable (e.g. chmod +r) or copy it"
        ) from None
    except OSError as exc:
        raise ImageReadError(name, f"cannot read file: {exc.strerror or exc}") from None


def _sniff(head: bytes) -> str:
    """Rough class of a file from its first bytes: image, heif, avif, eps, or unknown."""
    if _signature_format(head):
        return "image"
    if head[4:8] == b"ftyp":
        size = int.from_bytes(head[0:4], "big")
        brands = {head[8:12]}
        end = min(max(size, 16), len(head))
        brands.update(head[i : i + 4] for i in range(16, end - 3, 4))
        if head[8:12] in _AVIF_BRANDS:
            return "avif"
        if brands & _HEIF_BRANDS:
            return "heif"
        if brands & _AVIF_BRANDS:
            return "avif"
        return "unknown"
    if head.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):
        return "eps"
    return "unknown"


_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "BigTIFF"),
    (b"MM\x00+", "BigTIFF"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
)


def _signature_format(head: bytes) -> str | None:
    """Name of the image format whose signature ``head`` starts with, if any (HEIF/AVIF aside)."""
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WebP"
    if head.startswith(b"BM") and len(head) >= 26 and head[14] in (12, 40, 52, 56, 64, 108, 124):
        return "BMP"
    if len(head) >= 3 and head[0:1] == b"P" and head[1:2] in b"1234567" and head[2:3].isspace():
        return "PNM"
    return None


def _describe_non_image(head: bytes) -> str:
    """Say what an unidentifiable file looks like, for the error message."""
    known = _signature_format(head)
    if known:
        return (
            f"{known} file that Pillow cannot identify: damaged header, or an unsupported variant "
            "(e.g. multi-channel float or 32-bit samples)"
        )
    low = head.lstrip().lower()
    if low.startswith((b"<!doctype html", b"<html")) or b"<html" in low[:256]:
        return "not an image: the file is an HTML page (a failed or blocked download?)"
    if head.startswith(b"%PDF"):
        return "not an image: the file is a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "not an image: the file is a ZIP archive (or an office document)"
    if head[4:8] == b"ftyp":
        return "not a supported image: an ISO media file (MP4/MOV video?)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\r\n\t" for c in text):
        return "not an image: the file contains text"
    return f"not a recognised image format (starts with {head[:8].hex(' ')})"


def _require_heif(name: str) -> None:
    global _heif_state
    with _LOCK:
        if _heif_state is None:
            try:
                from pillow_heif import register_heif_opener

                register_heif_opener()
                _heif_state = True
            except Exception as exc:  # ImportError, or a broken binary wheel
                _heif_state = f"{type(exc).__name__}: {exc}"
        state = _heif_state
    if state is not True:
        raise ImageReadError(
            name,
            f"HEIC/HEIF image, but the pillow-heif decoder is unavailable ({state})",
            "pip install pillow-heif, or convert the image to JPEG/PNG",
        )


def _require_avif(name: str) -> None:
    from PIL import features

    if not features.check("avif"):
        raise ImageReadError(
            name,
            "AVIF image, but this Pillow build has no AVIF decoder",
            "upgrade Pillow (pip install -U pillow; wheels >= 11.3 include AVIF) or convert the image",
        )


def _decode(
    name: str, head: bytes, max_pixels: int | None, exif_transpose: bool, allow_truncated: bool
) -> tuple[np.ndarray, list[str], int | None]:
    """Decode under the lock with Pillow's globals set for this read, then restore them."""
    with _LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Our cap replaces Pillow's: with MAX_IMAGE_PIXELS = cap, Pillow warns above the cap
        # (turned into an exception here, wherever it happens: open, GIF frames, ...) and raises
        # above twice the cap. None disables both.
        warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        try:
            Image.MAX_IMAGE_PIXELS = max_pixels
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            Image.init()
            formats = [f for f in Image.ID if f not in _EXCLUDED_FORMATS]
            try:
                pixels, notes, applied = _decode_once(name, head, formats, max_pixels, exif_transpose)
            except _LoadFailed as first:
                pixels, notes, applied = _decode_truncated(
                    name, head, formats, max_pixels, exif_transpose, allow_truncated, first.exc
                )
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved
    others = []
    for w in caught:
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, ResourceWarning)):
            others.append(w)
            continue
        message = f"Pillow warned: {w.message}"
        if message not in notes:
            notes.append(message)
    for w in others:  # not about this image: pass them on
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return pixels, notes, applied


def _decode_truncated(
    name: str,
    head: bytes,
    formats: list[str],
    max_pixels: int | None,
    exif_transpose: bool,
    allow_truncated: bool,
    first: BaseException,
) -> tuple[np.ndarray, list[str]]:
    """Pixel decoding failed: see whether Pillow can decode part of it, then accept or refuse."""
    problem = _exc_text(first)
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        pixels, notes, applied = _decode_once(name, head, formats, max_pixels, exif_transpose)
    except _LoadFailed:
        raise ImageReadError(
            name, f"image data is damaged and cannot be decoded; Pillow: {problem}", _HINT_REEXPORT
        ) from first
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    what = "truncated" if "truncat" in problem.lower() else "truncated or damaged"
    if not allow_truncated:
        raise ImageReadError(name, f"file is {what}; Pillow: {problem}", _HINT_TRUNCATED) from first
    notes.insert(
        0,
        f"file is {what} (Pillow: {problem}); accepted because allow_truncated=True: the part that "
        "could not be decoded is filled with a constant and its results are meaningless",
    )
    return pixels, notes, applied


def _decode_once(
    name: str, head: bytes, formats: list[str], max_pixels: int | None, exif_transpose: bool
) -> tuple[np.ndarray, list[str]]:
    notes: list[str] = []
    # --- header
    try:
        im = Image.open(name, formats=formats)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _pixel_cap_error(name, None, max_pixels, exc) from None
    except Image.UnidentifiedImageError:
        if _signature_format(head):
            hint = "convert it to PNG or 8-bit TIFF with another tool (e.g. ImageMagick, GIMP)"
        else:
            hint = "check that this file really is an image"
        raise ImageReadError(name, _describe_non_image(head), hint) from None
    except MemoryError:
        raise ImageReadError(name, "out of memory while reading the header", _HINT_REEXPORT) from None
    except PermissionError:
        raise ImageReadError(name, "permission denied", "make the file readable") from None
    except Exception as exc:
        raise ImageReadError(
            name, f"cannot read the image header; Pillow: {_exc_text(exc)}", _HINT_REEXPORT
        ) from exc

    with im:
        width, height = im.size
        if width < 1 or height < 1:
            raise ImageReadError(name, f"image has no pixels ({width}x{height})", _HINT_REEXPORT)
        if max_pixels is not None and width * height > max_pixels:
            raise _pixel_cap_error(name, (width, height), max_pixels)
        fmt = im.format or "unknown"
        # TIFF keeps its tags in the header; its getexif() re-reads the file, unusable after load.
        orientation: Any = None
        is_tiff = hasattr(im, "tag_v2")
        if is_tiff:
            try:
                orientation = im.tag_v2.get(0x0112)
            except Exception:
                notes.append("EXIF/TIFF metadata is unreadable; orientation unknown")

        # --- pixels
        try:
            im.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _pixel_cap_error(name, None, max_pixels, exc) from None
        except MemoryError:
            raise ImageReadError(
                name,
                f"out of memory decoding a {width}x{height} image",
                "free memory, or lower --max-pixels to refuse such images",
            ) from None
        except Exception as exc:
            raise _LoadFailed(exc) from exc
        # Recent Pillow (13 here) transposes TIFFs by their orientation tag while loading, then
        # deletes the tag; older Pillow, as used by the official tool, did not. Undo it below so
        # that TIFF, like every other format, gives the stored pixel grid.
        pillow_transposed = (
            is_tiff and orientation in _ORIENTATION_TEXT and 0x0112 not in im.tag_v2
        )

        try:
            pixels, mode_notes = _pil_to_rgb(im, head)
        except _Unsupported as exc:
            raise ImageReadError(name, str(exc), _HINT_REEXPORT) from None
        except MemoryError:
            raise ImageReadError(
                name, f"out of memory converting a {width}x{height} image", "free memory"
            ) from None
        except Exception as exc:  # e.g. a decoder that fails lazily on first access
            raise _LoadFailed(exc) from exc
        notes.extend(mode_notes)

        if pillow_transposed:
            pixels = _apply_orientation(pixels, _INVERSE_ORIENTATION[orientation])
        if not is_tiff:
            try:
                orientation = im.getexif().get(0x0112)
            except Exception:
                notes.append("EXIF metadata is unreadable; orientation unknown (not applied)")
        heif_orientation = im.info.get("original_orientation") if fmt == "HEIF" else None
        frames = _count_frames(im, fmt)

    if frames > 1:
        notes.append(f"{fmt} file holds {frames} frames/pages: only the first is analysed")
    elif frames == 0:
        notes.append(
            f"{fmt} file has damaged data after the first frame: only the first is analysed"
        )
    notes.extend(_extension_notes(name, fmt))
    pixels = _orient(pixels, orientation, exif_transpose, notes)
    applied = orientation if exif_transpose and isinstance(orientation, int) and orientation in _ORIENTATION_TEXT else None
    if isinstance(heif_orientation, int) and heif_orientation in _ORIENTATION_TEXT:
        notes.append(
            f"HEIF orientation {heif_orientation} ({_ORIENTATION_TEXT[heif_orientation]}) was "
            "applied by the HEIF decoder (part of the format; cannot be disabled)"
        )
    return np.ascontiguousarray(pixels), notes, applied


def _pixel_cap_error(
    name: str,
    size: tuple[int, int] | None,
    max_pixels: int | None,
    pil_exc: BaseException | None = None,
) -> ImageReadError:
    limit = _count_text(max_pixels) if max_pixels else "the pixel limit"
    if size is not None:
        w, h = size
        what = f"image is {w}x{h} = {_count_text(w * h)}"
    else:  # Pillow's own check fired (in the header, or for a later GIF/MPO frame)
        found = re.search(r"\((\d+) pixels\)", str(pil_exc))
        what = f"image (or one of its frames) has {_count_text(int(found[1]))}" if found else (
            "image (or one of its frames) is too large"
        )
    return ImageReadError(
        name,
        f"{what}, over the limit of {limit} (decompression-bomb guard)",
        "if you trust this file, raise the limit with --max-pixels (max_pixels=... in Python)",
    )


def _count_text(pixels: int) -> str:
    if pixels >= 1_000_000:
        return f"{pixels / 1e6:.1f} megapixels".replace(".0 ", " ")
    return f"{pixels} pixels"


def _exc_text(exc: BaseException) -> str:
    """First line of an exception's message (its type name when it has none), for one-line errors."""
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def _count_frames(im: Image.Image, fmt: str) -> int:
    """Number of frames/pages; 0 when the data after the first frame is too damaged to tell.

    MPO's extra frames are previews (camera JPEGs), not counted.
    """
    if fmt == "MPO":
        return 1
    try:
        # Both are properties that parse the file further: a damaged later frame raises here
        # (e.g. IndexError from the GIF plugin; see tests/corpus/).
        if not getattr(im, "is_animated", False):
            return 1
        return max(int(im.n_frames), 1)
    except Exception:
        return 0


def _extension_notes(name: str, fmt: str) -> list[str]:
    ext = os.path.splitext(name)[1].lower()
    if not ext:
        return []
    expected = Image.registered_extensions().get(ext)
    if expected is None:
        return []
    family = _FORMAT_FAMILY.get(fmt, fmt)
    if _FORMAT_FAMILY.get(expected, expected) == family:
        return []
    return [f"file extension {ext} suggests {expected} but the content is {fmt}: read as {fmt}"]


def _orient(pixels: np.ndarray, orientation: Any, apply: bool, notes: list[str]) -> np.ndarray:
    if orientation is None or orientation == 1:
        return pixels
    if isinstance(orientation, (tuple, list)) and len(orientation) == 1:
        orientation = orientation[0]
    if not isinstance(orientation, int) or orientation not in _ORIENTATION_TEXT:
        notes.append(f"invalid EXIF orientation value {orientation!r} ignored")
        return pixels
    text = _ORIENTATION_TEXT[orientation]
    if not apply:
        notes.append(
            f"EXIF orientation {orientation} ({text}) not applied: the stored pixel grid is "
            "analysed, as by the official tool; pass exif_transpose=True (CLI: --exif-transpose) "
            "to rotate"
        )
        return pixels
    notes.append(f"EXIF orientation {orientation} ({text}) applied (exif_transpose=True)")
    return _apply_orientation(pixels, orientation)


def apply_orientation(array: np.ndarray, orientation: int | None) -> np.ndarray:
    """Turn ``array`` (H, W) or (H, W, C) as EXIF ``orientation`` says (what ``exif_transpose=True`` does to
    pixels); ``None`` or 1 returns it unchanged. For ground truth aligned with the stored pixel grid."""
    if orientation is None or orientation == 1:
        return array
    if orientation not in _ORIENTATION_TEXT:
        raise ValueError(f"not an EXIF orientation: {orientation!r}")
    a = np.asarray(array)
    if a.ndim == 2:
        return _apply_orientation(a[..., None], orientation)[..., 0]
    return _apply_orientation(a, orientation)


def exif_orientation(path: str | os.PathLike) -> int | None:
    """The EXIF orientation tag (2-8) of an image file without decoding its pixels; None when absent,
    1 or unreadable. The same tag :func:`read_image` applies with ``exif_transpose=True``."""
    try:
        with _LOCK, Image.open(path) as im:
            value = im.getexif().get(0x0112)
    except Exception:
        return None
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, int) and value in _ORIENTATION_TEXT else None


def _apply_orientation(a: np.ndarray, orientation: int) -> np.ndarray:
    """The same transposition as PIL.ImageOps.exif_transpose, on an (H, W, C) array."""
    if orientation == 2:
        out = a[:, ::-1]
    elif orientation == 3:
        out = a[::-1, ::-1]
    elif orientation == 4:
        out = a[::-1]
    elif orientation == 5:
        out = a.transpose(1, 0, 2)
    elif orientation == 6:
        out = np.rot90(a, k=-1)
    elif orientation == 7:
        out = a[::-1, ::-1].transpose(1, 0, 2)
    elif orientation == 8:
        out = np.rot90(a, k=1)
    else:
        out = a
    return np.ascontiguousarray(out)


# --------------------------------------------------------------------------------------------
# Pixel modes


def _pil_to_rgb(im: Image.Image, head: bytes = b"") -> tuple[np.ndarray, list[str]]:
    """RGB uint8 pixels of a decoded PIL image, and notes on anything lossy or unusual."""
    mode = im.mode
    notes: list[str] = []
    if mode.startswith("I;16"):
        grey = np.asarray(im).astype(np.uint16)
        notes.append(
            "16-bit greyscale image: reduced to 8 bits by keeping the high byte (as Pillow does "
            "for 16-bit colour); Pillow's convert('RGB'), used by the official tool, clips it"
        )
        return _grey3(grey >> 8), notes
    if mode == "I":
        grey = np.asarray(im).astype(np.int64)
        lo, hi = int(grey.min()), int(grey.max())
        if lo >= 0 and hi <= 255:
            notes.append("32-bit integer image with values 0..255: read as 8-bit values")
            return _grey3(grey), notes
        if lo >= 0 and hi <= 65535:
            notes.append(
                "32-bit integer image with values in the 16-bit range: reduced to 8 bits by "
                "keeping the high byte; Pillow's convert('RGB') would clip it"
            )
            return _grey3(grey >> 8), notes
        notes.append(
            f"32-bit integer image with values {lo}..{hi}: stretched linearly to 0..255; "
            "Pillow's convert('RGB') would clip it"
        )
        return _grey3(_stretch(grey.astype(np.float64), lo, hi)), notes
    if mode == "F":
        return _float_image_to_rgb(im, notes), notes

    if mode in ("LA", "PA", "RGBA", "RGBa", "La"):
        alpha = np.asarray(im.getchannel(im.getbands()[-1]))
        if alpha.size and int(alpha.min()) < 255:
            notes.append(
                "image has transparent pixels: the alpha channel is dropped and the stored "
                "colour values are analysed"
            )
    elif mode == "P" and "transparency" in im.info:
        notes.append(
            "palette image with a transparent colour: transparency is ignored and the stored "
            "colours are analysed"
        )
    if mode == "La":
        im = im.convert("LA")
    try:
        rgb = im.convert("RGB")
    except ValueError as exc:
        raise _Unsupported(f"unsupported pixel mode {mode} ({exc})") from None
    pixels = np.array(rgb, dtype=np.uint8, order="C", copy=True)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise _Unsupported(f"unsupported pixel mode {mode}: conversion gave shape {pixels.shape}")
    notes.extend(_reduced_depth_notes(im, head, mode))
    return pixels, notes


def _reduced_depth_notes(im: Image.Image, head: bytes, mode: str) -> list[str]:
    """Note 16-bit colour files, which Pillow's decoder itself reduces to 8 bits per sample."""
    deep = False
    if head[12:16] == b"IHDR" and len(head) > 25 and head[24] == 16:
        deep = True
    elif hasattr(im, "tag_v2"):
        try:
            bits = im.tag_v2.get(258)
            bits = bits if isinstance(bits, (tuple, list)) else (bits,)
            deep = any(isinstance(b, int) and b > 8 for b in bits)
        except Exception:
            deep = False
    if not deep:
        return []
    return [
        f"16 bits per sample ({mode}): Pillow's decoder keeps the high byte of each sample, "
        "exactly as in the official tool"
    ]


def _float_image_to_rgb(im: Image.Image, notes: list[str]) -> np.ndarray:
    values = np.asarray(im).astype(np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        notes.append("float image has NaN/infinite values: NaN and -inf read as 0, +inf as 255")
    if not finite.any():
        grey = np.zeros(values.shape, dtype=np.uint8)
        grey[values == np.inf] = 255
        return _grey3(grey)
    lo, hi = float(values[finite].min()), float(values[finite].max())
    if lo >= 0.0 and hi <= 1.0:
        notes.append(
            "float image with values in [0, 1]: multiplied by 255 and rounded; Pillow's "
            "convert('RGB'), used by the official tool, would make it almost black"
        )
        grey = np.rint(np.where(finite, values, 0.0) * 255.0)
    elif lo >= 0.0 and hi <= 255.0:
        notes.append(
            "float image with values in [0, 255]: truncated to integers as Pillow's "
            "convert('RGB') does (same result as the official tool)"
        )
        return np.array(im.convert("RGB"), dtype=np.uint8, order="C", copy=True)
    else:
        notes.append(
            f"float image with values {lo:g}..{hi:g}: stretched linearly to 0..255; Pillow's "
            "convert('RGB') would clip it"
        )
        grey = _stretch(np.where(finite, values, lo), lo, hi)
    grey = np.asarray(grey, dtype=np.float64)
    grey[np.isnan(values)] = 0
    grey[values == np.inf] = 255
    grey[values == -np.inf] = 0
    return _grey3(grey)


def _stretch(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if hi <= lo:
        return np.zeros(values.shape, dtype=np.float64)
    return np.rint((values - lo) * 255.0 / (hi - lo))


def _grey3(grey: np.ndarray) -> np.ndarray:
    g = np.clip(grey, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(g[:, :, None], 3, axis=2))


def _array_to_rgb(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        pass
    elif a.dtype.kind == "f":
        pass
    else:
        hint = ""
        if a.dtype == np.uint16:
            hint = "; for 16-bit data use (a >> 8).astype(np.uint8)"
        elif a.dtype.kind in "iu":
            hint = "; if the values are 0..255 use a.astype(np.uint8)"
        elif a.dtype.kind == "b":
            hint = "; for a mask use a.astype(np.uint8) * 255"
        raise TypeError(f"unsupported array dtype {a.dtype}: expected uint8, or float in [0, 1]{hint}")
    if a.ndim == 3 and a.shape[2] not in (1, 3, 4) and a.shape[0] in (1, 3, 4):
        raise ValueError(
            f"array of shape {a.shape} looks channels-first; pass H x W x C, e.g. a.transpose(1, 2, 0)"
        )
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise ValueError(f"expected an H x W or H x W x {{1,3,4}} array, got shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"empty image array of shape {a.shape}")
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ValueError("float image array contains NaN or infinite values")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"float image array must have values in [0, 1], found {lo:g}..{hi:g}; "
                "for 0..255 data use a.round().astype(np.uint8)"
            )
        a = np.rint(a.astype(np.float64) * 255.0).astype(np.uint8)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        a = a[:, :, :3]
    return np.array(a, dtype=np.uint8, order="C", copy=True)
