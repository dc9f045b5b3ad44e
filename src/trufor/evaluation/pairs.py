"""Manipulated photos and the originals they were made from: finding the pairs, and a mask from their difference.

A real-life forgery set often holds, beside its manipulated photos, the very originals some of them were made
from (the IMD2020 subset in ``../shared`` does: 55 of its 100 manipulated photos have their original among its
100 originals, though its SOURCE.txt says otherwise). Two things follow for whoever trains or evaluates on it:

* A split by file name puts a fake and its original in different parts, so the content of a held-out photo may
  have been trained on. :func:`find_pairs` finds the pairs by content (a thumbnail distance for fakes of the
  original's geometry, keypoint matching for resized or cropped ones), so a split can keep each pair together,
  or an evaluation can leave out the held-out images whose partner was trained on.
* The difference between a fake and its aligned original is where the fake was changed: :func:`difference_mask`
  derives a manipulation mask for fakes that have no hand-made one. It marks every changed pixel (a global colour
  change marks the whole image), where a hand-made mask marks the edited object only; compare the two where both
  exist before training or scoring with derived masks (``scripts/imd2020_pairs.py`` does, and records it).

    >>> from trufor.evaluation.pairs import find_pairs, difference_mask, align
    >>> pairs = find_pairs({"f.jpg": fake_rgb}, {"o.jpg": original_rgb})
    >>> mask = difference_mask(fake_rgb, *align(fake_rgb, original_rgb))
    >>> compare(fake_rgb, original_rgb).changed     # the same in one call, with what it found

`trufor compare SUSPECT ORIGINAL` is :func:`compare` on two files (a suspect image and the photo it may come from).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

#: side of the thumbnails compared by :func:`content_distance` (pixels)
THUMBNAIL = 64
#: largest mean absolute thumbnail difference (0-255) of a pair found by content
MAX_DISTANCE = 20.0
#: least RANSAC inliers of a similarity transform for a pair found by keypoints
MIN_INLIERS = 40
#: longest side at which keypoints are matched (pixels)
WORK_SIDE = 768
#: a derived mask covering more of the fake than this is not a region's mask: the fake's background is new, or the
#: "original" was the donor of the pasted object (the mask would be inverted); such masks are not used
REGION_MAX_FRACTION = 0.5


@dataclass(frozen=True)
class Pair:
    """A manipulated image and the original it was made from.

    ``distance``: mean absolute difference (0-255) of the two 64-px thumbnails (NaN when matched by keypoints);
    ``geometry``, from the two sizes: ``"same"`` (same size), ``"scaled"`` (same aspect ratio, another size) or
    ``"warped"`` (another aspect ratio: cropped, padded or resized unevenly); ``inliers``: keypoint matches that
    agree with the transform (0 when matched by thumbnails)."""

    fake: str
    original: str
    distance: float
    geometry: str
    inliers: int = 0


def _rgb(pixels: np.ndarray, what: str) -> np.ndarray:
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"{what}: expected an RGB uint8 array (H, W, 3), got {pixels.dtype} {pixels.shape}")
    if min(pixels.shape[:2]) < 8:
        raise ValueError(f"{what}: image of {pixels.shape[1]}x{pixels.shape[0]} px is too small to compare")
    return pixels


def thumbnail(pixels: np.ndarray) -> np.ndarray:
    """The 64x64 float32 RGB thumbnail (area average) that :func:`content_distance` compares."""
    return cv2.resize(_rgb(pixels, "image"), (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA).astype(np.float32)


def content_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (0-255) of two thumbnails (:func:`thumbnail`)."""
    return float(np.abs(a - b).mean())


def _geometry(fake: tuple[int, int], original: tuple[int, int]) -> str:
    if fake == original:
        return "same"
    rf, ro = fake[1] / fake[0], original[1] / original[0]
    return "scaled" if abs(rf - ro) <= 0.01 * ro else "warped"


def _gray_work(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """Grayscale copy with its longest side at most :data:`WORK_SIDE`, and the factor applied."""
    gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    scale = min(1.0, WORK_SIDE / max(gray.shape))
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return gray, scale


class _Keypoints:
    """ORB keypoints of one image at working size, kept for many comparisons."""

    def __init__(self, pixels: np.ndarray, orb: cv2.ORB):
        self.gray, self.scale = _gray_work(pixels)
        self.points, self.descriptors = orb.detectAndCompute(self.gray, None)


def _similarity(src: _Keypoints, dst: _Keypoints) -> tuple[np.ndarray | None, int]:
    """The similarity transform (2x3, full-resolution pixels) taking ``src`` onto ``dst``, and its inlier count."""
    if src.descriptors is None or dst.descriptors is None or len(src.points) < 4 or len(dst.points) < 4:
        return None, 0
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    good = []
    for m in matcher.knnMatch(src.descriptors, dst.descriptors, k=2):
        if len(m) == 2 and m[0].distance < 0.8 * m[1].distance:
            good.append(m[0])
    if len(good) < 4:
        return None, 0
    p = np.float32([src.points[m.queryIdx].pt for m in good]) / src.scale
    q = np.float32([dst.points[m.trainIdx].pt for m in good]) / dst.scale
    transform, inliers = cv2.estimateAffinePartial2D(p, q, method=cv2.RANSAC, ransacReprojThreshold=3.0 / dst.scale)
    if transform is None or inliers is None:
        return None, 0
    return transform, int(inliers.sum())


def find_pairs(
    fakes: Mapping[str, np.ndarray],
    originals: Mapping[str, np.ndarray],
    *,
    max_distance: float = MAX_DISTANCE,
    min_inliers: int = MIN_INLIERS,
    keypoints: bool = True,
) -> list[Pair]:
    """For each manipulated image, the original it was made from, if one of ``originals`` is.

    Args:
        fakes, originals: name -> RGB uint8 pixels (H, W, 3).
        max_distance: a fake and the original whose thumbnails are nearest form a pair when their mean absolute
            difference is at most this (0-255), and the two have the same aspect ratio (1 %).
        min_inliers: a fake left unpaired is matched by ORB keypoints against every original; the original whose
            similarity transform (RANSAC) has the most inliers forms a pair when they are at least this many.
        keypoints: False skips the keypoint pass (fakes cropped or padded from their original stay unpaired).

    Returns:
        The pairs, sorted by fake name. An original may be the source of several fakes.
    """
    thumbs = {name: thumbnail(px) for name, px in originals.items()}
    sizes = {name: px.shape[:2] for name, px in originals.items()}
    pairs: list[Pair] = []
    unpaired: list[str] = []
    for name in sorted(fakes):
        px = _rgb(fakes[name], name)
        t = thumbnail(px)
        best = min(((content_distance(t, thumbs[o]), o) for o in thumbs), default=None)
        if best is not None and best[0] <= max_distance:
            geometry = _geometry(px.shape[:2], sizes[best[1]])
            if geometry != "warped":
                pairs.append(Pair(name, best[1], best[0], geometry))
                continue
        unpaired.append(name)
    if keypoints and unpaired and originals:
        orb = cv2.ORB_create(nfeatures=1500)
        keyed = {o: _Keypoints(_rgb(px, o), orb) for o, px in originals.items()}
        for name in unpaired:
            k = _Keypoints(fakes[name], orb)
            scored = [(_similarity(keyed[o], k)[1], o) for o in sorted(keyed)]
            inliers, original = max(scored, default=(0, ""))
            if inliers >= min_inliers:
                geometry = _geometry(fakes[name].shape[:2], sizes[original])
                pairs.append(Pair(name, original, float("nan"), geometry, inliers))
    return sorted(pairs, key=lambda p: p.fake)


def _moves_less(transform: np.ndarray, h: int, w: int, pixels: float) -> bool:
    """Whether the 2x3 transform moves every corner of an h x w image by less than ``pixels``."""
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64)
    moved = corners @ transform.T
    return bool(np.abs(moved - corners[:, :2]).max() < pixels)


def align(fake: np.ndarray, original: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The original brought onto the fake's pixel grid, and where it covers the fake.

    Same size: as is, unless their keypoints agree on a shift or a resampling of half a pixel or more (a fake
    re-framed at the original's size). Otherwise: warped by the similarity transform (scale, rotation, shift) of
    their ORB keypoints (RANSAC), the original first shrunk by area averaging when the fake is smaller; a fake of
    the same aspect ratio whose keypoints do not agree is taken as a plain resize. Returns (RGB uint8 of the fake's
    size, bool coverage); the coverage is False where no pixel of the original lands (a padded border, say).

    Raises:
        ValueError: not RGB uint8, or the two cannot be aligned (too few keypoint matches).
    """
    warped, cover, _ = _align(fake, original)
    return warped, cover


def _align(fake: np.ndarray, original: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """:func:`align`, and how: ``"same"`` (as is), ``"scaled"`` (resized) or ``"warped"`` (by keypoints)."""
    fake, original = _rgb(fake, "fake"), _rgb(original, "original")
    h, w = fake.shape[:2]
    geometry = _geometry(fake.shape[:2], original.shape[:2])
    orb = cv2.ORB_create(nfeatures=3000)
    transform, inliers = _similarity(_Keypoints(original, orb), _Keypoints(fake, orb))
    if geometry == "same" and (transform is None or inliers < MIN_INLIERS // 2 or _moves_less(transform, h, w, 0.5)):
        return original, np.ones((h, w), bool), "same"
    if transform is None or inliers < MIN_INLIERS // 2:
        if geometry == "scaled":
            interp = cv2.INTER_AREA if original.shape[0] > h else cv2.INTER_LINEAR
            return cv2.resize(original, (w, h), interpolation=interp), np.ones((h, w), bool), "scaled"
        raise ValueError(f"cannot align the original ({original.shape[1]}x{original.shape[0]}) with the fake "
                         f"({w}x{h}): {inliers} consistent keypoint matches")
    scale = float(np.sqrt(abs(np.linalg.det(transform[:, :2]))))
    if scale < 0.9:  # shrink first (area average), so that the warp does not alias
        original = cv2.resize(original, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        transform = np.hstack([transform[:, :2] / scale, transform[:, 2:]])
    warped = cv2.warpAffine(original, transform, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    cover = cv2.warpAffine(np.full(original.shape[:2], 255, np.uint8), transform, (w, h), flags=cv2.INTER_NEAREST)
    # the border row of the warp is interpolated with the outside: count only pixels fully inside
    cover = cv2.erode(cover, np.ones((3, 3), np.uint8)) > 0
    return warped, cover, "warped"


def match_colours(original: np.ndarray, fake: np.ndarray, coverage: np.ndarray | None = None) -> np.ndarray:
    """The original (float32 RGB) under the affine colour transform (3x3 matrix and offset) that best maps it onto the
    fake, fitted by least squares on the pixels they share and refitted twice on the 80 % that fit best.

    Many real manipulations also grade the whole photo (brightness, warmth, saturation); without this the whole
    image would differ. A local edit is the part the refits leave out, so it does not pull the fit."""
    pts = np.flatnonzero(coverage.ravel()) if coverage is not None else np.arange(original.shape[0] * original.shape[1])
    if pts.size > 200_000:
        pts = pts[:: pts.size // 200_000]
    x = original.reshape(-1, 3)[pts].astype(np.float64)
    y = fake.reshape(-1, 3)[pts].astype(np.float64)
    design = np.hstack([x, np.ones((x.shape[0], 1))])
    keep = np.ones(x.shape[0], bool)
    coef = np.vstack([np.eye(3), np.zeros((1, 3))])
    for _ in range(3):
        if keep.sum() < 16:
            break
        coef = np.linalg.lstsq(design[keep], y[keep], rcond=None)[0]
        residual = np.abs(design @ coef - y).max(axis=1)
        keep = residual <= np.quantile(residual, 0.8)
    flat = np.hstack([original.reshape(-1, 3).astype(np.float64), np.ones((original.shape[0] * original.shape[1], 1))])
    return np.clip(flat @ coef, 0, 255).astype(np.float32).reshape(original.shape)


def difference_mask(
    fake: np.ndarray,
    original: np.ndarray,
    coverage: np.ndarray | None = None,
    *,
    threshold: float = 24.0,
    sigma: float = 1.5,
    min_area: float = 0.0005,
) -> np.ndarray:
    """Where ``fake`` differs from ``original`` (aligned: :func:`align`): a bool mask of the fake's size.

    The original's colours are first mapped onto the fake's (:func:`match_colours`: a global grade is not an edit of
    a region); both are smoothed (Gaussian, ``sigma`` px) so that recompression noise stays under ``threshold`` (largest
    absolute difference over the RGB channels, 0-255); the changed pixels are opened (3x3) against speckle,
    closed (a disc of 1 % of the shorter side) to join an edit's pieces, holes filled, and regions smaller than
    ``min_area`` of the image dropped. Pixels the original does not cover (``coverage`` False) count as changed.
    """
    fake, original = _rgb(fake, "fake"), _rgb(original, "original")
    if fake.shape != original.shape:
        raise ValueError(f"fake {fake.shape} and original {original.shape} differ in size: align() them first")
    if threshold <= 0 or sigma < 0 or not 0 <= min_area < 1:
        raise ValueError(f"threshold must be > 0, sigma >= 0 and min_area in [0, 1): got {threshold}, {sigma}, "
                         f"{min_area}")
    a, b = fake.astype(np.float32), original.astype(np.float32)
    b = match_colours(b, a, coverage)
    if sigma > 0:
        a, b = cv2.GaussianBlur(a, (0, 0), sigma), cv2.GaussianBlur(b, (0, 0), sigma)
    changed = (np.abs(a - b).max(axis=2) > threshold).astype(np.uint8)
    if coverage is not None:
        if coverage.shape != fake.shape[:2]:
            raise ValueError(f"coverage {coverage.shape} does not match the fake {fake.shape[:2]}")
        changed[~coverage] = 1
    changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    r = max(1, round(0.01 * min(fake.shape[:2])))
    changed = cv2.morphologyEx(changed, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
    # fill holes: background is what the outside reaches
    padded = np.pad(changed, 1)
    outside = padded.copy()
    cv2.floodFill(outside, np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8), (0, 0), 1)
    filled = (padded | (outside == 0))[1:-1, 1:-1].astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(filled, connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area * filled.size
    return keep[labels]


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` found: ``geometry`` how the original was aligned (``"same"``: as is; ``"scaled"``:
    resized; ``"warped"``: by keypoints); ``mask`` (bool, the fake's size) the changed
    pixels; ``coverage`` the share of the fake's pixels the original covers; ``changed`` the share marked;
    ``regions`` the number of separate changed regions."""

    geometry: str
    mask: np.ndarray
    coverage: float
    changed: float
    regions: int

    @property
    def is_region(self) -> bool:
        """Whether the change is a region's (at most :data:`REGION_MAX_FRACTION` of the image) rather than a new
        background, a global edit the colour match could not undo, or an "original" that was the donor."""
        return self.changed <= REGION_MAX_FRACTION


def compare(fake: np.ndarray, original: np.ndarray, **mask_options: float) -> Comparison:
    """Align ``original`` onto ``fake`` (:func:`align`) and mark where they differ (:func:`difference_mask`, whose
    keyword options ``threshold``, ``sigma``, ``min_area`` pass through).

    Raises:
        ValueError: not RGB uint8 images, or they cannot be aligned.
    """
    warped, cover, how = _align(fake, original)
    mask = difference_mask(fake, warped, cover, **mask_options)
    regions = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1
    return Comparison(how, mask, float(cover.mean()), float(mask.mean()), int(regions))
