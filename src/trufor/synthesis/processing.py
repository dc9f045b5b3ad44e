"""The whole-image processing chain applied after a manipulation (and to pristine samples alike).

Order: optional **resize** (factor drawn uniformly in ``scale_range``), then a **crop** to at most
``size`` x ``size`` (chosen to contain a forged pixel when there is one), then optional **JPEG
compression** (quality drawn uniformly in ``quality_range``, integers, both ends included). The
JPEG is the last step, so the bytes it produced are exactly the image that is returned (decoded with
Pillow, like :func:`trufor.imageio.read_image`) and can be written to disk as they are.

The mask follows the geometry only: JPEG changes every pixel of the image, the mask still marks the
pixels manipulated before the chain. On resize, the mask is resampled to the fraction of forged
input pixels under each output pixel (area averaging when shrinking, bilinear weights when
enlarging) and re-thresholded at 0.5, so it stays binary and aligned to the output pixel grid.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

INTERPOLATIONS: dict[str, int] = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}

# Pillow's subsampling codes: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0
SUBSAMPLING_NAMES: dict[int, str] = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


@dataclass(frozen=True)
class ChainConfig:
    """Probabilities and ranges of the whole-image chain (defaults: the official training ranges)."""

    resize_prob: float = 0.5
    scale_range: tuple[float, float] = (0.5, 1.5)
    interpolations: tuple[str, ...] = ("linear", "cubic", "area", "lanczos")
    jpeg_prob: float = 0.8
    quality_range: tuple[int, int] = (30, 100)
    subsampling_weights: tuple[float, float, float] = (0.25, 0.15, 0.6)  # 4:4:4, 4:2:2, 4:2:0


@dataclass
class Processed:
    """Output of the chain: uint8 (H, W, 3) image, bool (H, W) mask, the JPEG bytes (or None).

    ``region`` is the optional second mask (the manipulation's support) carried along, or None.
    """

    image: np.ndarray
    mask: np.ndarray
    jpeg_bytes: bytes | None
    params: dict = field(default_factory=dict)
    region: np.ndarray | None = None


def resize_pair(
    image: np.ndarray, mask: np.ndarray, scale: float, interpolation: str = "linear"
) -> tuple[np.ndarray, np.ndarray]:
    """Resize ``image`` by ``scale`` with ``interpolation`` and ``mask`` (bool) to the same grid.

    The output size is ``round(h * scale)`` x ``round(w * scale)`` (at least 1). The mask becomes the
    fraction of forged input under each output pixel, thresholded at 0.5.
    """
    h, w = image.shape[:2]
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    out = cv2.resize(image, (nw, nh), interpolation=INTERPOLATIONS[interpolation])
    return out, resize_mask(mask, (nh, nw))


def resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a bool mask to ``shape`` = (h, w): fraction of True input under each output pixel >= 0.5.

    The fraction is an area average when shrinking and bilinear weights when enlarging.
    """
    h, w = mask.shape[:2]
    nh, nw = int(shape[0]), int(shape[1])
    m_interp = cv2.INTER_AREA if (nh < h or nw < w) else cv2.INTER_LINEAR
    frac = cv2.resize(mask.astype(np.float32), (nw, nh), interpolation=m_interp)
    return frac >= 0.5


def crop_window(
    rng: np.random.Generator, shape: tuple[int, int], size: int | None, focus: np.ndarray | None = None
) -> tuple[int, int, int, int]:
    """A random ``(top, left, height, width)`` window of at most ``size`` x ``size`` inside ``shape``.

    When ``focus`` (bool mask) has a True pixel, one of them is drawn and the window contains it.
    """
    h, w = int(shape[0]), int(shape[1])
    if size is None:
        return 0, 0, h, w
    ch, cw = min(h, size), min(w, size)
    if focus is not None and focus.any():
        ys, xs = np.nonzero(focus)
        k = int(rng.integers(len(ys)))
        py, px = int(ys[k]), int(xs[k])
        top = int(rng.integers(max(0, py - ch + 1), min(py, h - ch) + 1))
        left = int(rng.integers(max(0, px - cw + 1), min(px, w - cw) + 1))
    else:
        top = int(rng.integers(0, h - ch + 1))
        left = int(rng.integers(0, w - cw + 1))
    return top, left, ch, cw


def jpeg_encode(image: np.ndarray, quality: int, subsampling: int = 2) -> bytes:
    """JPEG bytes of ``image`` (uint8 RGB) by Pillow at ``quality`` with ``subsampling`` (0, 1, 2)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality), subsampling=int(subsampling))
    return buf.getvalue()


def jpeg_decode(data: bytes) -> np.ndarray:
    """Decode JPEG ``data`` to uint8 RGB, as :func:`trufor.imageio.read_image` reads files."""
    with Image.open(io.BytesIO(data)) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


#: longer sides a web copy is drawn from (:func:`web_copy`), and its JPEG quality range
WEB_SIDES: tuple[int, ...] = (384, 512, 640, 800, 1024)
WEB_QUALITY: tuple[int, int] = (60, 95)


def web_copy(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    sides: tuple[int, ...] = WEB_SIDES,
    quality_range: tuple[int, int] = WEB_QUALITY,
    twice: float = 0.3,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None, bytes, str]:
    """``image`` (uint8 RGB) as it reaches a reader online: downscaled so that its longer side is drawn from
    ``sides`` (Lanczos; never enlarged), saved as JPEG at a quality drawn from ``quality_range`` (4:2:0), a
    second time with probability ``twice`` (another quality). Returns the decoded image, ``mask`` (any integer
    or bool mask, resized by nearest neighbour) or None, the final JPEG bytes and what was done ("WxH q80+q71").
    Used by ``scripts/make_web_jpeg_set.py`` and by the ``web_copies`` option of training sources."""
    h, w = image.shape[:2]
    side = int(rng.choice(np.asarray(sides)))
    scale = min(1.0, side / max(h, w))
    pil = Image.fromarray(image)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        pil = pil.resize(size, Image.Resampling.LANCZOS)
        if mask is not None:
            dtype = mask.dtype
            mask = cv2.resize(mask.astype(np.int32), size, interpolation=cv2.INTER_NEAREST).astype(dtype)
    rounds = 2 if rng.random() < twice else 1
    steps, data = [], b""
    for _ in range(rounds):
        q = int(rng.integers(quality_range[0], quality_range[1] + 1))
        data = jpeg_encode(np.asarray(pil), q, subsampling=2)
        pil = Image.open(io.BytesIO(data)).convert("RGB")
        steps.append(f"q{q}")
    return (np.ascontiguousarray(np.asarray(pil, dtype=np.uint8)), mask, data,
            f"{pil.width}x{pil.height} {'+'.join(steps)}")


def apply_chain(
    rng: np.random.Generator,
    image: np.ndarray,
    mask: np.ndarray,
    config: ChainConfig = ChainConfig(),
    size: int | None = None,
    region: np.ndarray | None = None,
) -> Processed:
    """Resize (maybe), crop to at most ``size`` around a forged pixel (if any), JPEG (maybe).

    ``region`` (bool, optional) is resized and cropped exactly like ``mask``.

    Every random draw is made whether or not the step is applied, so that changing one
    probability does not shift the draws of the others.
    """
    params: dict = {}
    do_resize = rng.random() < config.resize_prob
    scale = float(rng.uniform(*config.scale_range))
    interp = config.interpolations[int(rng.integers(len(config.interpolations)))]
    do_jpeg = rng.random() < config.jpeg_prob
    quality = int(rng.integers(config.quality_range[0], config.quality_range[1] + 1))
    sw = np.asarray(config.subsampling_weights, float)
    subsampling = int(rng.choice(3, p=sw / sw.sum()))

    had_forgery = bool(mask.any())
    if do_resize:
        new_image, new_mask = resize_pair(image, mask, scale, interp)
        if had_forgery and not new_mask.any():  # the region vanished (tiny region, strong shrink)
            params["resize_skipped"] = "forged region vanished"
        else:
            image, mask = new_image, new_mask
            if region is not None:
                region = resize_mask(region, mask.shape)
            params["resize"] = round(scale, 5)
            params["interpolation"] = interp
    top, left, ch, cw = crop_window(rng, image.shape[:2], size, mask if had_forgery else None)
    if (top, left, ch, cw) != (0, 0) + image.shape[:2]:
        params["crop"] = [top, left, ch, cw]
    image = np.ascontiguousarray(image[top : top + ch, left : left + cw])
    mask = np.ascontiguousarray(mask[top : top + ch, left : left + cw])
    if region is not None:
        region = np.ascontiguousarray(region[top : top + ch, left : left + cw])
    data = None
    if do_jpeg:
        data = jpeg_encode(image, quality, subsampling)
        image = jpeg_decode(data)
        params["jpeg_quality"] = quality
        params["subsampling"] = SUBSAMPLING_NAMES[subsampling]
    return Processed(image, mask, data, params, region)
