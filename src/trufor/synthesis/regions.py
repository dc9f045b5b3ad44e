"""Random region shapes for synthetic forgeries: polygons, blobs and object-like segments.

Every generator takes a :class:`numpy.random.Generator` and returns a boolean mask the size of the
image, so a region is fully determined by the generator state. Areas are given in pixels; the
generators aim at that area (polygons and blobs closely, segments approximately, since they follow
the image content) and always return a non-empty region that lies inside the image.

* ``polygon``: a random simple (star-shaped) polygon with 3-12 vertices, stretched and rotated.
* ``blob``: a smoothed Gaussian random field under a soft radial window, thresholded at the quantile
  that gives the target area; the largest connected component(s), holes filled.
* ``segment``: an object-like segment that follows the image edges: watershed superpixels
  (``cv2.watershed`` seeded on a jittered grid moved to gradient minima, i.e. SLIC-like seeds;
  ``cv2.ximgproc`` is not part of opencv-python-headless) merged greedily, from a seed superpixel,
  with the neighbour of most similar mean Lab colour until the target area is reached.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import ndimage

SHAPES: tuple[str, ...] = ("polygon", "blob", "segment")


def _clip_area(area: float, h: int, w: int) -> float:
    """Keep a target area between 16 pixels and half the image."""
    return float(min(max(area, 16.0), 0.5 * h * w))


def _place(local: np.ndarray, h: int, w: int, rng: np.random.Generator, center=None) -> np.ndarray:
    """Paste the boolean ``local`` mask into an (h, w) canvas so that it lies fully inside it.

    ``local`` is cropped to its bounding box (and, if still larger than the canvas, cut). The centre is
    random (or ``center`` = (y, x), moved as little as needed to fit).
    """
    ys, xs = np.nonzero(local)
    local = local[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    lh, lw = min(local.shape[0], h), min(local.shape[1], w)
    local = local[:lh, :lw]
    if center is None:
        top = int(rng.integers(0, h - lh + 1))
        left = int(rng.integers(0, w - lw + 1))
    else:
        top = int(np.clip(round(center[0] - lh / 2), 0, h - lh))
        left = int(np.clip(round(center[1] - lw / 2), 0, w - lw))
    out = np.zeros((h, w), dtype=bool)
    out[top : top + lh, left : left + lw] = local
    if not out.any():  # cut away entirely (cannot happen for a non-empty bbox crop, but be safe)
        out[top + lh // 2, left + lw // 2] = True
    return out


def polygon_region(
    rng: np.random.Generator, shape: tuple[int, int], area: float, center=None
) -> np.ndarray:
    """A random star-shaped polygon of about ``area`` pixels inside an image of ``shape`` = (h, w)."""
    h, w = int(shape[0]), int(shape[1])
    area = _clip_area(area, h, w)
    n = int(rng.integers(3, 13))
    angles = np.sort(rng.uniform(0.0, 2 * math.pi, n))
    radii = rng.uniform(0.45, 1.0, n)
    pts = np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)
    aspect = math.exp(rng.uniform(-0.6, 0.6))
    pts *= np.array([aspect, 1.0 / aspect])
    rot = rng.uniform(0.0, 2 * math.pi)
    c, s = math.cos(rot), math.sin(rot)
    pts = pts @ np.array([[c, -s], [s, c]])
    x, y = pts[:, 0], pts[:, 1]
    poly_area = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
    pts *= math.sqrt(area / max(poly_area, 1e-6))
    # keep the polygon no larger than the image
    span = pts.max(axis=0) - pts.min(axis=0)
    shrink = min(1.0, (w - 2) / max(span[0], 1e-6), (h - 2) / max(span[1], 1e-6))
    pts *= shrink
    pts -= pts.min(axis=0)
    bw, bh = int(math.ceil(pts[:, 0].max())) + 1, int(math.ceil(pts[:, 1].max())) + 1
    local = np.zeros((bh, bw), dtype=np.uint8)
    cv2.fillPoly(local, [np.round(pts).astype(np.int32).reshape(-1, 1, 2)], 1)
    if not local.any():
        local[bh // 2, bw // 2] = 1
    return _place(local.astype(bool), h, w, rng, center)


def blob_region(
    rng: np.random.Generator, shape: tuple[int, int], area: float, center=None
) -> np.ndarray:
    """A smooth random blob of about ``area`` pixels (thresholded Gaussian random field)."""
    h, w = int(shape[0]), int(shape[1])
    area = _clip_area(area, h, w)
    aspect = math.exp(rng.uniform(-0.5, 0.5))
    side = math.sqrt(area) * rng.uniform(1.6, 2.2)
    bh = int(min(h, max(4, round(side / aspect))))
    bw = int(min(w, max(4, round(side * aspect))))
    area = min(area, 0.8 * bh * bw)
    gh, gw = max(4, bh // 4), max(4, bw // 4)
    sigma = rng.uniform(1.0, 2.5) * max(gh, gw) / 12.0 + 0.5
    field = ndimage.gaussian_filter(rng.standard_normal((gh, gw)), sigma, mode="wrap")
    field = (field - field.mean()) / (field.std() + 1e-9)
    field = cv2.resize(field.astype(np.float32), (bw, bh), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:bh, 0:bw].astype(np.float32)
    r2 = ((yy + 0.5) / bh - 0.5) ** 2 + ((xx + 0.5) / bw - 0.5) ** 2
    window = np.exp(-r2 / (2 * 0.22**2))
    score = field * rng.uniform(0.4, 1.0) + 3.0 * window
    thr = np.quantile(score, 1.0 - area / (bh * bw))
    local = score > thr
    n, lab, stats, _ = cv2.connectedComponentsWithStats(local.astype(np.uint8), connectivity=8)
    if n > 1:
        sizes = stats[1:, cv2.CC_STAT_AREA]
        keep_frac = 1.0 if rng.random() < 0.8 else 0.15  # usually a single blob, sometimes a few
        keep = 1 + np.nonzero(sizes >= keep_frac * sizes.max())[0]
        local = np.isin(lab, keep)
    local = ndimage.binary_fill_holes(local)
    if not local.any():
        local[bh // 2, bw // 2] = True
    return _place(local, h, w, rng, center)


def _superpixels(image: np.ndarray, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """Watershed superpixels of about ``spacing`` px, labels 0..n-1 covering every pixel."""
    h, w = image.shape[:2]
    smooth = cv2.GaussianBlur(image, (0, 0), 1.0)
    grey = cv2.cvtColor(smooth, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grad = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    markers = np.zeros((h, w), dtype=np.int32)
    step = max(2.0, spacing)
    oy, ox = rng.uniform(0, step, 2)
    rad = max(1, int(step / 4))
    # jittered grid seeds, each moved to the lowest gradient nearby (ties broken at random, so
    # flat areas get irregular cells rather than a square grid)
    grad = grad + rng.uniform(0.0, 1.0, grad.shape).astype(np.float32)
    label = 0
    for cy in np.arange(oy * 0.5, h, step):
        for cx in np.arange(ox * 0.5, w, step):
            jy, jx = rng.uniform(-0.3, 0.3, 2) * step
            y0 = int(np.clip(cy + jy, 0, h - 1))
            x0 = int(np.clip(cx + jx, 0, w - 1))
            ya, yb = max(0, y0 - rad), min(h, y0 + rad + 1)
            xa, xb = max(0, x0 - rad), min(w, x0 + rad + 1)
            k = int(np.argmin(grad[ya:yb, xa:xb]))
            y, x = ya + k // (xb - xa), xa + k % (xb - xa)
            if markers[y, x] == 0:
                label += 1
                markers[y, x] = label
    cv2.watershed(np.ascontiguousarray(smooth[..., ::-1]), markers)
    # boundary pixels (-1) take the label of a neighbour; the image border (also -1) likewise
    for _ in range(4):
        holes = markers <= 0
        if not holes.any():
            break
        grown = ndimage.grey_dilation(markers, size=(3, 3))
        markers[holes] = grown[holes]
    markers[markers <= 0] = 1
    return markers - 1


def segment_region(
    rng: np.random.Generator, image: np.ndarray, area: float, center=None, inner: bool = False
) -> np.ndarray:
    """An object-like region of about ``area`` px following the edges of ``image`` (H, W, 3 uint8).

    ``inner``: do not let the segment reach the image border (for content that is moved elsewhere,
    where a border cut would become a straight edge), unless every superpixel touches it.
    """
    h, w = image.shape[:2]
    area = _clip_area(area, h, w)
    # work in a window around the seed point: about 5x the region side, for speed
    side = int(min(max(h, w), max(32, 5.0 * math.sqrt(area))))
    wh, ww = min(h, side), min(w, side)
    if center is None:
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    else:
        cy, cx = center
    top = int(np.clip(round(cy - wh / 2), 0, h - wh))
    left = int(np.clip(round(cx - ww / 2), 0, w - ww))
    crop = np.ascontiguousarray(image[top : top + wh, left : left + ww])
    spacing = math.sqrt(area) / rng.uniform(2.5, 4.0)
    labels = _superpixels(crop, spacing, rng)
    n = int(labels.max()) + 1
    counts = np.bincount(labels.ravel(), minlength=n).astype(np.float64)
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
    means = np.stack([np.bincount(labels.ravel(), lab[:, c], n) for c in range(3)], axis=1)
    means /= np.maximum(counts, 1)[:, None]
    # adjacency from horizontally / vertically neighbouring pixels with different labels
    pairs = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        diff = a != b
        pairs.append(np.stack([a[diff], b[diff]], axis=1))
    pairs = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int32)
    pairs = np.unique(np.sort(pairs, axis=1), axis=0)
    neighbours: list[set[int]] = [set() for _ in range(n)]
    for a, b in pairs:
        neighbours[int(a)].add(int(b))
        neighbours[int(b)].add(int(a))
    # superpixels cut by a window side that is not an image side are never added: the segment
    # would get a straight edge there
    cut = np.zeros(n, dtype=bool)
    if top > 0 or inner:
        cut[labels[0]] = True
    if top + wh < h or inner:
        cut[labels[-1]] = True
    if left > 0 or inner:
        cut[labels[:, 0]] = True
    if left + ww < w or inner:
        cut[labels[:, -1]] = True
    py, px = int(np.clip(cy - top, 0, wh - 1)), int(np.clip(cx - left, 0, ww - 1))
    seed = int(labels[py, px])
    if cut[seed] and not cut.all():  # start from the nearest superpixel off the window border
        yy, xx = np.indices(labels.shape)
        cy_l = np.bincount(labels.ravel(), yy.ravel(), n) / np.maximum(counts, 1)
        cx_l = np.bincount(labels.ravel(), xx.ravel(), n) / np.maximum(counts, 1)
        d = np.where(cut | (counts == 0), np.inf, (cy_l - py) ** 2 + (cx_l - px) ** 2)
        seed = int(np.argmin(d))
    chosen = {seed}
    total = counts[seed]
    mean = means[seed].copy()
    frontier = {k for k in neighbours[seed] if not cut[k]}
    goal = area * rng.uniform(0.85, 1.1)
    jitter = rng.uniform(2.0, 12.0)
    while total < goal and frontier:
        cand = np.array(sorted(frontier))
        dist = np.linalg.norm(means[cand] - mean, axis=1) + jitter * rng.random(len(cand))
        pick = int(cand[int(np.argmin(dist))])
        frontier.discard(pick)
        chosen.add(pick)
        mean = (mean * total + means[pick] * counts[pick]) / (total + counts[pick])
        total += counts[pick]
        frontier |= {k for k in neighbours[pick] - chosen if not cut[k]}
    local = np.isin(labels, np.fromiter(chosen, dtype=labels.dtype))
    local = ndimage.binary_fill_holes(local)
    out = np.zeros((h, w), dtype=bool)
    out[top : top + wh, left : left + ww] = local
    return out


def random_region(
    rng: np.random.Generator,
    image: np.ndarray,
    area: float,
    shapes: tuple[str, ...] = SHAPES,
    center=None,
    inner: bool = False,
) -> tuple[np.ndarray, str]:
    """A region of one of ``shapes`` (chosen by ``rng``), of about ``area`` px, in ``image``'s frame.

    Returns ``(mask, shape_name)``. ``image`` is used by ``segment`` only (to follow its edges);
    ``inner`` keeps segments off the image border (see :func:`segment_region`).
    """
    name = shapes[int(rng.integers(len(shapes)))]
    h, w = image.shape[:2]
    if name == "polygon":
        return polygon_region(rng, (h, w), area, center), name
    if name == "blob":
        return blob_region(rng, (h, w), area, center), name
    if name == "segment":
        return segment_region(rng, image, area, center, inner), name
    raise ValueError(f"unknown region shape {name!r}; choose from {', '.join(SHAPES)}")


def soft_alpha(region: np.ndarray, sigma: float) -> np.ndarray:
    """Blending weights in [0, 1] for ``region``: 1 inside, a Gaussian ramp of ``sigma`` px at the edge.

    ``sigma <= 0`` gives the hard (0/1) region. The ramp is centred on the region edge, so the
    returned weights may be > 0 up to about 3 sigma outside the region.
    """
    alpha = region.astype(np.float32)
    if sigma > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), float(sigma), borderType=cv2.BORDER_CONSTANT)
        alpha[alpha < 1e-3] = 0.0
        alpha = np.minimum(alpha, 1.0)
    return alpha
