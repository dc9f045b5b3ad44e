"""Ground-truth masks: the one reader for evaluation, training and figures.

A mask is a boolean (H, W) array, True where the image is forged. Three steps, each a function:

1. **Reading** (:func:`read_mask`): any file Pillow decodes (PNG, JPEG, TIFF, BMP, GIF, ...; grey,
   RGB, RGBA, palette, 1-bit or 16-bit), in its stored pixel grid as :func:`trufor.imageio.read_image`
   reads images (a TIFF orientation tag is not applied, although recent Pillow applies it while
   loading). ``orientation``, the EXIF orientation (2-8) applied to the image it belongs to (an
   image read with ``exif_transpose=True``), turns the mask the same way (:func:`orient`).
2. **Binarising** (:func:`binarize`) by a :class:`MaskFormat`: ``value > threshold`` is forged,
   where value is the grey level (Pillow's "L" conversion, ITU-R 601 luma; alpha ignored) or, when
   ``channel`` is set, one RGB channel; images of more than 8 bits per sample (modes I;16, I, F)
   compare their raw values. ``invert`` flips the result (masks where black marks the forgery).
   Thresholds in use:

   * :data:`EVALUATION` (grey > 0): the evaluation protocol, as the authors' tool: every pixel that
     is not black is forged, so 0/1 and 0/255 masks read alike. Benchmark layouts may set their own
     (Columbia: green channel > 127; DSO-1 and NIST16: inverted) in :mod:`trufor.evaluation.datasets`;
   * :data:`HALF_RANGE` (grey > 127, half the 8-bit range): training targets and figures, robust to
     the ringing of JPEG-compressed masks; with ``zero_one``, a mask whose values are all 0 or 1
     is a 0/1 mask and 1 is forged (rather than an empty mask).
3. **Fitting to the image** (:func:`fit_to_image`), when the sizes differ, by a policy of
   :data:`MISMATCH_POLICIES`: a mask whose shape is the image's transposed (W, H) is put back in the
   orientation that best fits the image's edges (rotated, transposed or anti-transposed); a mask of
   the image's aspect ratio (within 2 %) is resized to the image size with nearest neighbour;
   otherwise the mask is refused. With ``"resize"`` every other size is resized; with ``"skip"``
   (training) any size difference refuses the mask.

:func:`load_mask` does the three for one image and reports what it fixed (``MaskLoad``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import ImageReadError
from .imageio import _INVERSE_ORIENTATION, apply_orientation

#: How a mask whose size differs from the image is handled (see :func:`fit_to_image`).
MISMATCH_POLICIES = ("fix", "resize", "skip")

#: Pillow modes of more than 8 bits per sample: their raw values are compared with the threshold.
_HIGH_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "F")

#: Largest relative difference of aspect ratio that the "fix" policy resizes (2 %).
ASPECT_TOLERANCE = 0.02


@dataclass(frozen=True)
class MaskFormat:
    """How to turn a mask into a boolean "forged" array (see the module docstring).

    ``value > threshold`` is forged, where value is the grey level or, when ``channel`` is set, that
    RGB channel (0 red, 1 green, 2 blue); ``invert`` flips the result (masks where black marks the
    forgery: DSO-1, NIST16); ``zero_one``: a mask whose values are all 0 or 1 (with some 1) is a 0/1
    mask, forged where 1, whatever the threshold.
    """

    threshold: float = 0
    invert: bool = False
    channel: int | None = None
    zero_one: bool = False

    def describe(self) -> str:
        what = "grey level" if self.channel is None else f"{'RGB'[self.channel]} channel"
        rule = f"{what} <= {self.threshold}" if self.invert else f"{what} > {self.threshold}"
        return f"forged where {rule}" + (" (0/1 masks: where 1)" if self.zero_one else "")


#: The evaluation protocol's rule (the authors' tool): every non-black pixel is forged.
EVALUATION = MaskFormat()
#: Training targets and figures: grey level above half the 8-bit range; 0/1 masks recognised.
HALF_RANGE = MaskFormat(threshold=127, zero_one=True)


# ------------------------------------------------------------------------------------- binarising
def _values(mask: Image.Image | np.ndarray, fmt: MaskFormat) -> np.ndarray:
    """The 2-D array of values that ``fmt`` compares with its threshold."""
    if isinstance(mask, Image.Image):
        if fmt.channel is not None:
            return np.asarray(mask.convert("RGB"))[..., fmt.channel]
        if mask.mode in _HIGH_DEPTH_MODES:
            return np.asarray(mask)  # high bit depth: the raw values
        return np.asarray(mask.convert("L"))
    arr = np.asarray(mask)
    if arr.ndim == 3:
        if fmt.channel is not None:
            return arr[..., fmt.channel]
        # the same weights as Pillow's "L" conversion, alpha ignored
        rgb = arr[..., :3].astype(np.float64)
        if rgb.shape[-1] < 3:  # grey + alpha
            return rgb[..., 0]
        return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return arr


def binarize(mask: Image.Image | np.ndarray, fmt: MaskFormat = EVALUATION) -> np.ndarray:
    """Boolean (H, W) forged mask of a Pillow image or an array (grey, RGB or RGBA; any bit depth)."""
    arr = _values(mask, fmt)
    if arr.ndim != 2:
        raise ValueError(f"a mask must be 2-D (or RGB), got shape {arr.shape}")
    if fmt.zero_one and arr.size and arr.max() == 1 and arr.min() >= 0 and np.isin(arr, (0, 1)).all():
        forged = arr > 0
    else:
        forged = arr > fmt.threshold
    return ~forged if fmt.invert else np.asarray(forged, dtype=bool)


# ------------------------------------------------------------------------------------ orientation
def orient(mask: np.ndarray, orientation: int | None) -> np.ndarray:
    """``mask`` (H, W) turned as an image of EXIF ``orientation`` is by ``exif_transpose`` (2-8;
    None, 1 or any other value: unchanged), so that it stays on an image read with ``exif_transpose=True``."""
    if orientation not in _INVERSE_ORIENTATION:
        return mask
    return apply_orientation(np.asarray(mask), orientation)


# ---------------------------------------------------------------------------------------- reading
def _decode(path: str | os.PathLike, fmt: MaskFormat) -> np.ndarray:
    """Binarised mask of the file at ``path`` in its stored pixel grid; Pillow's exceptions pass."""
    with Image.open(path) as im:
        tiff_orientation = None
        if hasattr(im, "tag_v2"):  # TIFF: recent Pillow applies (then drops) the tag while loading
            tiff_orientation = im.tag_v2.get(0x0112)
        im.load()
        mask = binarize(im, fmt)
        if tiff_orientation in _INVERSE_ORIENTATION and 0x0112 not in im.tag_v2:
            mask = orient(mask, _INVERSE_ORIENTATION[tiff_orientation])
    return mask


def read_mask(path: str | os.PathLike, fmt: MaskFormat = EVALUATION, *, orientation: int | None = None) -> np.ndarray:
    """Boolean (H, W) forged mask of the file at ``path`` (see the module docstring).

    Raises :class:`~trufor.errors.ImageReadError` (naming the file) when it cannot be read.
    """
    try:
        return orient(_decode(path, fmt), orientation)
    except FileNotFoundError:
        raise ImageReadError(path, "mask file not found") from None
    except Exception as exc:  # Pillow raises many types
        raise ImageReadError(path, f"cannot read the mask ({type(exc).__name__}: {_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""


# ---------------------------------------------------------------------------------------- fitting
def _edge_strength(gray: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    g = gray.astype(np.float32)
    return np.hypot(ndimage.sobel(g, 0), ndimage.sobel(g, 1))


#: The four ways to put an (W, H) mask on an (H, W) image.
_SWAPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "rotated 90 degrees counter-clockwise": lambda m: np.rot90(m, 1),
    "rotated 90 degrees clockwise": lambda m: np.rot90(m, -1),
    "transposed": lambda m: m.T,
    "anti-transposed": lambda m: np.rot90(m, 2).T,
}


def orient_swapped_mask(mask: np.ndarray, image_gray: np.ndarray) -> tuple[np.ndarray, str]:
    """Put a mask whose height and width are swapped onto the image: of the four orientations,
    keep the one whose region boundary lies on the strongest image edges (mean Sobel magnitude)."""
    from scipy import ndimage

    edges = _edge_strength(image_gray)
    best, best_name, best_score = None, "", -1.0
    for name, f in _SWAPS.items():
        m = np.ascontiguousarray(f(mask))
        boundary = m ^ ndimage.binary_erosion(m, border_value=1)
        score = float(edges[boundary].mean()) if boundary.any() else 0.0
        if score > best_score:
            best, best_name, best_score = m, name, score
    return best, best_name


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}x{shape[0]}"


def resize_nearest(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean ``mask`` resized to ``shape`` (H, W) with nearest neighbour (Pillow's)."""
    h, w = int(shape[0]), int(shape[1])
    resized = Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255).resize((w, h), Image.Resampling.NEAREST)
    return np.asarray(resized) > 127


def _image_gray(image: Any, orientation: int | None) -> np.ndarray | None:
    """The grey levels of the image (a path or RGB/grey pixels), turned by ``orientation``; None if unreadable."""
    if image is None:
        return None
    if isinstance(image, (str, os.PathLike)):
        try:
            with Image.open(image) as im:
                return orient(np.asarray(im.convert("L")), orientation)
        except Exception:
            return None
    arr = np.asarray(image)
    if arr.ndim == 3:
        rgb = arr[..., :3].astype(np.float64)
        return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114 if rgb.shape[-1] == 3 else rgb[..., 0]
    return arr if arr.ndim == 2 else None


@dataclass
class MaskLoad:
    """A mask read for one image: the boolean array, or the issue that left none, and what was fixed."""

    mask: np.ndarray | None
    issue: str | None = None
    warnings: list[str] = field(default_factory=list)


def fit_to_image(mask: np.ndarray, shape: tuple[int, int], *, mismatch: str = "fix", image: Any = None,
                 orientation: int | None = None) -> MaskLoad:
    """``mask`` fitted to an image of ``shape`` (H, W) by the policy ``mismatch``:

    * ``"fix"`` (default): a mask of swapped size (W, H) is re-oriented to fit the image (see
      :func:`orient_swapped_mask`; needs ``image``, a path or its pixels, else it is rotated
      counter-clockwise); a mask of the same aspect ratio (within 2 %) is resized (nearest
      neighbour); any other is refused;
    * ``"resize"``: any other size, swapped included, is resized (nearest neighbour);
    * ``"skip"``: any size difference refuses the mask.

    ``orientation``: the EXIF orientation applied to ``image`` (when it is a path read with
    ``exif_transpose=True``). Every fix is a warning; a refusal is the ``issue``.
    """
    if mismatch not in MISMATCH_POLICIES:
        raise ValueError(f"mismatch must be one of {MISMATCH_POLICIES}")
    h, w = int(shape[0]), int(shape[1])
    if mask.shape == (h, w):
        return MaskLoad(mask)
    got, want = _size(mask.shape), _size((h, w))
    if mismatch == "skip":
        return MaskLoad(None, f"mask is {got} but image is {want}")
    if mask.shape == (w, h) and mismatch == "fix":
        gray = _image_gray(image, orientation)
        if gray is not None and gray.shape == (h, w):
            fitted, how = orient_swapped_mask(mask, gray)
            return MaskLoad(fitted, None, [f"mask is {got} but image is {want}: {how} (best fit to the image edges)"])
        return MaskLoad(np.ascontiguousarray(np.rot90(mask, 1)), None,
                        [f"mask is {got} but image is {want}: rotated 90 degrees counter-clockwise"])
    ratio = (mask.shape[1] / mask.shape[0]) / (w / h)
    if mismatch == "fix" and abs(ratio - 1) > ASPECT_TOLERANCE:
        return MaskLoad(None, f"mask is {got} but image is {want} (different aspect ratio)")
    return MaskLoad(resize_nearest(mask, (h, w)), None,
                    [f"mask is {got} but image is {want}: resized (nearest neighbour)"])


def load_mask(
    path: str | os.PathLike,
    fmt: MaskFormat,
    shape: tuple[int, int],
    *,
    mismatch: str = "fix",
    image: Any = None,
    orientation: int | None = None,
) -> MaskLoad:
    """Read, binarise and fit the mask at ``path`` for an image of ``shape`` (H, W).

    ``mismatch`` and ``image``: see :func:`fit_to_image`; ``orientation``: the EXIF orientation
    applied to the image (read with ``exif_transpose=True``), applied to the mask too. An unreadable
    mask is an ``issue``, never an exception. Every fix is reported in ``warnings``; a mask with no
    forged pixel, or forged everywhere, gets a warning too.
    """
    if mismatch not in MISMATCH_POLICIES:
        raise ValueError(f"mismatch must be one of {MISMATCH_POLICIES}")
    path = Path(path)
    try:
        mask = orient(_decode(path, fmt), orientation)
    except FileNotFoundError:
        return MaskLoad(None, f"mask file not found: {path}")
    except Exception as exc:  # Pillow raises many types
        return MaskLoad(None, f"cannot read mask {path}: {exc}")
    loaded = fit_to_image(mask, shape, mismatch=mismatch, image=image, orientation=orientation)
    if loaded.mask is not None:
        if not loaded.mask.any():
            loaded.warnings.append("mask has no forged pixel")
        elif loaded.mask.all():
            loaded.warnings.append("mask is forged everywhere")
    return loaded
