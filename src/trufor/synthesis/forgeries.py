"""Local manipulations with exact pixel masks: splicing, copy-move, inpainting and retouching.

Each manipulation builds a *layer* (the new content, in the host's frame) and blending weights
``alpha`` in [0, 1], then composites them into the host with :func:`composite`: pixels where
``alpha == 0`` are copied from the host bit for bit, the others become
``round(alpha * layer + (1 - alpha) * host)``.

The mask rule (see docs/SYNTHESIS.md): **a pixel is forged iff its value differs from the host's in
at least one channel**, computed on the composite, before any whole-image processing. So the mask is
exact by construction: every pixel outside it is unchanged, every pixel inside it changed. Feathered
edges are in the mask wherever the blend changed the 8-bit value, and parts of the region where the
new content happens to equal the old (e.g. clipped white in both) are not.

All randomness comes from the :class:`numpy.random.Generator` passed in; OpenCV calls used here are
deterministic, so a manipulation is a pure function of (generator state, host, donor).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from .regions import SHAPES, random_region, soft_alpha

KINDS: tuple[str, ...] = ("splice", "copymove", "inpaint", "retouch")

# default region size per kind, as a fraction of the host's area (drawn log-uniformly)
DEFAULT_AREA: dict[str, tuple[float, float]] = {
    "splice": (0.01, 0.20),
    "copymove": (0.01, 0.12),
    "inpaint": (0.005, 0.06),
    "retouch": (0.01, 0.25),
}

# gradient-domain pastes (cv2.seamlessClone): "normal" keeps the pasted content's gradients, "mixed" the stronger of
# the pasted and the host's at each pixel
GRADIENT_MODES: tuple[str, ...] = ("normal", "mixed")

RETOUCH_OPS: tuple[str, ...] = (
    "blur",
    "median",
    "sharpen",
    "noise",
    "brightness_contrast",
    "gamma",
    "saturation_hue",
    "resample",
    "jpeg",
)


class ManipulationFailed(RuntimeError):
    """No visible change could be made (e.g. a flat saturated image) after several attempts."""


@dataclass
class Forgery:
    """A manipulated image (uint8 H, W, 3), its exact mask (bool: value changed) and its recipe.

    ``region`` is where the manipulation was allowed to act (``alpha > 0``); ``mask`` is a subset.
    """

    image: np.ndarray
    mask: np.ndarray
    region: np.ndarray
    kind: str
    params: dict = field(default_factory=dict)


def changed_mask(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Boolean (H, W): True where any channel differs."""
    diff = before != after
    return diff.any(axis=-1) if diff.ndim == 3 else diff


def composite(host: np.ndarray, layer: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Blend ``layer`` over ``host`` (both uint8 or float H, W, 3) with weights ``alpha`` (H, W).

    Pixels with ``alpha == 0`` are the host's exactly; others are rounded and clipped to uint8.
    """
    a = alpha.astype(np.float32)[..., None]
    blend = a * layer.astype(np.float32) + (1.0 - a) * host.astype(np.float32)
    blend = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
    return np.where(a > 0, blend, host).astype(np.uint8)


def _area(rng: np.random.Generator, h: int, w: int, frac: tuple[float, float]) -> float:
    lo, hi = frac
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))) * h * w)


def _feather_sigma(rng: np.random.Generator, p_hard: float, hi: float) -> float:
    return 0.0 if rng.random() < p_hard else float(rng.uniform(0.5, hi))


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def _transform_into(
    rng: np.random.Generator,
    src: np.ndarray,
    src_region: np.ndarray,
    host_shape: tuple[int, int],
    *,
    scale: float,
    angle: float,
    flip: bool,
    sigma: float,
    avoid: tuple[float, float] | None = None,
    interp: int = cv2.INTER_LINEAR,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Rotate/scale/flip ``src_region`` of ``src`` and drop it at a random place of the host frame.

    Returns ``(layer, region, info)``: the warped content and the warped (hard) region, both in the
    host frame. ``avoid`` = a (y, x) point the new centre should be far from (copy-move source).
    """
    h, w = host_shape
    y0, y1, x0, x1 = _bbox(src_region)
    # context margin around the region, so that feathering and interpolation see real content
    margin = int(math.ceil((3 * sigma + 3) / max(scale, 0.1))) + 1
    sy0, sy1 = max(0, y0 - margin), min(src.shape[0], y1 + margin)
    sx0, sx1 = max(0, x0 - margin), min(src.shape[1], x1 + margin)
    patch = np.ascontiguousarray(src[sy0:sy1, sx0:sx1])
    preg = src_region[sy0:sy1, sx0:sx1].astype(np.float32)
    ys, xs = np.nonzero(preg)
    cy, cx = float(ys.mean()), float(xs.mean())
    corners = np.array([[x0 - sx0, y0 - sy0], [x1 - sx0, y0 - sy0], [x0 - sx0, y1 - sy0], [x1 - sx0, y1 - sy0]], float)

    def matrix(sc: float) -> np.ndarray:
        mat = cv2.getRotationMatrix2D((cx, cy), angle, sc)
        if flip:  # mirror about the vertical axis through the centroid, before rotating
            mat = mat @ np.array([[-1.0, 0.0, 2 * cx], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        return mat

    for _ in range(4):  # shrink until the transformed bounding box fits in the host
        m = matrix(scale)
        ext = np.ptp(corners @ m[:, :2].T, axis=0)
        if ext[0] <= w - 2 and ext[1] <= h - 2:
            break
        scale *= 0.95 * min((w - 2) / ext[0], (h - 2) / ext[1])
    m = matrix(scale)
    # corner offsets from the mapped centroid
    rel = (corners - np.array([cx, cy])) @ m[:, :2].T
    lo_x, hi_x = -rel[:, 0].min(), w - 1 - rel[:, 0].max()
    lo_y, hi_y = -rel[:, 1].min(), h - 1 - rel[:, 1].max()
    best, best_d = None, -1.0
    for _ in range(12):
        tx = rng.uniform(lo_x, max(lo_x, hi_x))
        ty = rng.uniform(lo_y, max(lo_y, hi_y))
        if avoid is None:
            best = (tx, ty)
            break
        d = math.hypot(tx - avoid[1], ty - avoid[0])
        if d > best_d:
            best, best_d = (tx, ty), d
        if d >= 0.6 * math.sqrt(ys.size) * max(scale, 1.0):
            break
    tx, ty = best
    m[:, 2] += np.array([tx, ty]) - (m[:, :2] @ np.array([cx, cy]) + m[:, 2])
    if interp == cv2.INTER_NEAREST:  # keep a pure shift on the integer grid
        m[:, 2] = np.rint(m[:, 2])
        tx, ty = m[:, :2] @ np.array([cx, cy]) + m[:, 2]
    layer = cv2.warpAffine(patch, m, (w, h), flags=interp, borderMode=cv2.BORDER_REFLECT101)
    region = cv2.warpAffine(preg, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) > 0.5
    info = {
        "scale": round(float(scale), 4),
        "angle": round(float(angle), 3),
        "flip": bool(flip),
        "source_center": [round(cy + sy0, 1), round(cx + sx0, 1)],
        "target_center": [round(float(ty), 1), round(float(tx), 1)],
    }
    return layer, region, info


def gradient_fits(region: np.ndarray) -> bool:
    """Whether a gradient-domain paste can be solved over ``region``: its bounding box must be at least 3 px on each
    side (OpenCV's solver drops a one-pixel frame of the box). Smaller regions are alpha-blended instead."""
    if not region.any():
        return False
    y0, y1, x0, x1 = _bbox(region)
    return y1 - y0 >= 3 and x1 - x0 >= 3


def gradient_blend(host: np.ndarray, layer: np.ndarray, region: np.ndarray, mode: str = "normal") -> np.ndarray:
    """Poisson (gradient-domain) paste of ``layer`` into ``host`` over the hard ``region``, as a seamless paste or a
    healing brush does: inside the region the result has the layer's gradients ("mixed": the stronger of the layer's
    and the host's), on its border the host's values, so colour and brightness flow into the surroundings and no
    seam is left. Returns the blended layer in the host frame (uint8): equal to ``layer`` outside the region's
    bounding box; composite it with the hard region as alpha. The region must pass :func:`gradient_fits`.
    """
    if mode not in GRADIENT_MODES:
        raise ValueError(f"unknown gradient blend {mode!r}; choose from {', '.join(GRADIENT_MODES)}")
    layer = np.clip(np.rint(layer), 0, 255).astype(np.uint8) if layer.dtype != np.uint8 else layer
    if not gradient_fits(region):
        raise ValueError(f"a gradient-domain paste needs a region at least 3 x 3 px across; got {int(region.sum())} px")
    h, w = region.shape
    y0, y1, x0, x1 = _bbox(region)
    pad = 4
    cy0, cy1, cx0, cx1 = max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad)
    # a frame of reflected pixels keeps the region off the image border (seamlessClone needs a border around it)
    frame = (pad, pad, pad, pad)
    dst = cv2.copyMakeBorder(np.ascontiguousarray(host[cy0:cy1, cx0:cx1]), *frame, cv2.BORDER_REFLECT101)
    src = cv2.copyMakeBorder(np.ascontiguousarray(layer[cy0:cy1, cx0:cx1]), *frame, cv2.BORDER_REFLECT101)
    mask = cv2.copyMakeBorder(region[cy0:cy1, cx0:cx1].astype(np.uint8) * 255, *frame, cv2.BORDER_CONSTANT, value=0)
    by0, by1, bx0, bx1 = _bbox(mask > 0)
    # seamlessClone puts the mask's bounding box with its top-left corner at centre - size // 2: this keeps it in place
    centre = (bx0 + (bx1 - bx0) // 2, by0 + (by1 - by0) // 2)
    flag = cv2.NORMAL_CLONE if mode == "normal" else cv2.MIXED_CLONE
    blended = cv2.seamlessClone(src, dst, mask, centre, flag)
    out = layer.copy()
    out[cy0:cy1, cx0:cx1] = blended[pad:pad + (cy1 - cy0), pad:pad + (cx1 - cx0)]
    return out


def _pick_shape(rng: np.random.Generator, shapes: tuple[str, ...], prefer: dict[str, float] | None) -> tuple[str, ...]:
    """Restrict ``shapes`` to one drawn with the weights ``prefer`` (a 1-tuple for random_region)."""
    if not prefer:
        return (shapes[int(rng.integers(len(shapes)))],)
    weights = np.array([prefer.get(s, 1.0) for s in shapes], float)
    return (shapes[int(rng.choice(len(shapes), p=weights / weights.sum()))],)


def _paste(host: np.ndarray, layer: np.ndarray, region: np.ndarray, sigma: float,
           gradient: str | None) -> tuple[np.ndarray, np.ndarray, dict]:
    """A pasted layer into ``host``: the composite, its alpha and the blend's params. Feathered by ``sigma``, or
    (``gradient``) the gradient-blended layer over the hard region."""
    if gradient is None or not gradient_fits(region):
        alpha, params = soft_alpha(region, sigma), {"feather_sigma": round(sigma, 3)}
    else:
        layer = gradient_blend(host, layer, region, gradient)
        alpha, params = region.astype(np.float32), {"gradient": gradient}
    return composite(host, layer, alpha), alpha, params


def splice(
    rng: np.random.Generator,
    host: np.ndarray,
    donor: np.ndarray,
    *,
    area: tuple[float, float] = DEFAULT_AREA["splice"],
    shapes: tuple[str, ...] = SHAPES,
    gradient: str | None = None,
) -> Forgery:
    """Paste a region of ``donor`` (another photo) into ``host``, possibly rescaled/rotated/feathered.

    ``gradient`` ("normal" or "mixed"): a gradient-domain paste (:func:`gradient_blend`) over the hard region instead
    of feathering; the region and its transform are drawn exactly as without it.
    """
    h, w = host.shape[:2]
    shape = _pick_shape(rng, shapes, {"segment": 2.0})
    scale = 1.0 if rng.random() < 0.4 else float(math.exp(rng.uniform(math.log(0.6), math.log(1.6))))
    angle = 0.0 if rng.random() < 0.7 else float(rng.uniform(-25, 25))
    flip = bool(rng.random() < 0.2)
    sigma = _feather_sigma(rng, 0.5, 2.5)
    target = _area(rng, h, w, area)
    dh, dw = donor.shape[:2]
    region_d, shape_name = random_region(rng, donor, min(target / scale**2, 0.4 * dh * dw), shape, inner=True)
    interp = (cv2.INTER_LINEAR, cv2.INTER_CUBIC)[int(rng.integers(2))]
    layer, region, info = _transform_into(
        rng, donor, region_d, (h, w), scale=scale, angle=angle, flip=flip, sigma=sigma, interp=interp
    )
    harmonise = bool(rng.random() < 0.3)
    if harmonise and region.any():  # move the pasted colours part of the way to the host's
        m_host = host[region].reshape(-1, 3).mean(axis=0)
        m_layer = layer[region].reshape(-1, 3).mean(axis=0)
        t = rng.uniform(0.3, 0.8)
        layer = np.clip(layer.astype(np.float32) + t * (m_host - m_layer), 0, 255)
    out, alpha, blend = _paste(host, layer, region, sigma, gradient)
    params = {"shape": shape_name, **blend, "harmonise": harmonise, **info}
    return Forgery(out, changed_mask(host, out), alpha > 0, "splice", params)


def copy_move(
    rng: np.random.Generator,
    host: np.ndarray,
    *,
    area: tuple[float, float] = DEFAULT_AREA["copymove"],
    shapes: tuple[str, ...] = SHAPES,
    gradient: str | None = None,
) -> Forgery:
    """Copy a region of ``host`` elsewhere in the same image: shifted, possibly rotated/scaled/flipped.

    ``gradient``: a gradient-domain paste, as a healing brush (see :func:`splice`).
    """
    h, w = host.shape[:2]
    shape = _pick_shape(rng, shapes, None)
    plain = rng.random() < 0.35  # a pure translation: an exact duplicate of the pixels
    scale = 1.0 if plain or rng.random() < 0.3 else float(math.exp(rng.uniform(math.log(0.7), math.log(1.4))))
    angle = 0.0 if plain or rng.random() < 0.4 else float(rng.uniform(-45, 45))
    flip = bool(not plain and rng.random() < 0.1)
    sigma = 0.0 if plain else _feather_sigma(rng, 0.5, 2.0)
    src_region, shape_name = random_region(rng, host, _area(rng, h, w, area), shape, inner=True)
    ys, xs = np.nonzero(src_region)
    if plain:  # integer shift, nearest: the copied pixels are bit-exact
        interp = cv2.INTER_NEAREST
    else:
        interp = (cv2.INTER_LINEAR, cv2.INTER_CUBIC)[int(rng.integers(2))]
    layer, region, info = _transform_into(
        rng, host, src_region, (h, w), scale=scale, angle=angle, flip=flip, sigma=sigma,
        avoid=(float(ys.mean()), float(xs.mean())), interp=interp,
    )
    out, alpha, blend = _paste(host, layer, region, sigma, gradient)
    params = {"shape": shape_name, **blend, "plain_shift": bool(plain), **info}
    return Forgery(out, changed_mask(host, out), alpha > 0, "copymove", params)


def inpaint(
    rng: np.random.Generator,
    host: np.ndarray,
    *,
    area: tuple[float, float] = DEFAULT_AREA["inpaint"],
    shapes: tuple[str, ...] = SHAPES,
) -> Forgery:
    """Remove a region by OpenCV inpainting (Telea or Navier-Stokes) of a slightly dilated mask."""
    h, w = host.shape[:2]
    shape = _pick_shape(rng, shapes, {"segment": 3.0})
    region, shape_name = random_region(rng, host, _area(rng, h, w, area), shape)
    dilate = int(rng.integers(0, 4))
    if dilate:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        region = cv2.dilate(region.astype(np.uint8), k).astype(bool)
    method = "telea" if rng.random() < 0.5 else "ns"
    radius = int(rng.integers(3, 10))
    y0, y1, x0, x1 = _bbox(region)
    pad = radius + 8
    y0, y1, x0, x1 = max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad)
    crop = np.ascontiguousarray(host[y0:y1, x0:x1])
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    filled = cv2.inpaint(crop, region[y0:y1, x0:x1].astype(np.uint8) * 255, radius, flag)
    layer = host.copy()
    layer[y0:y1, x0:x1] = filled
    out = composite(host, layer, region.astype(np.float32))
    params = {"shape": shape_name, "method": method, "radius": radius, "dilate": dilate}
    return Forgery(out, changed_mask(host, out), region, "inpaint", params)


def _retouch_op(rng: np.random.Generator, crop: np.ndarray, op: str) -> tuple[np.ndarray, dict]:
    """Apply retouching ``op`` to the whole ``crop`` (uint8); returns (float or uint8 result, params)."""
    f = crop.astype(np.float32)
    if op == "blur":
        s = float(rng.uniform(0.8, 3.0))
        return cv2.GaussianBlur(crop, (0, 0), s), {"sigma": round(s, 3)}
    if op == "median":
        k = int(rng.choice([3, 5, 7]))
        return cv2.medianBlur(crop, k), {"ksize": k}
    if op == "sharpen":
        s, amount = float(rng.uniform(0.8, 2.5)), float(rng.uniform(0.6, 2.0))
        return f + amount * (f - cv2.GaussianBlur(f, (0, 0), s)), {"sigma": round(s, 3), "amount": round(amount, 3)}
    if op == "noise":
        std = float(rng.uniform(2.0, 10.0))
        mono = bool(rng.random() < 0.3)
        shape = crop.shape[:2] + ((1,) if mono else (3,))
        return f + std * rng.standard_normal(shape).astype(np.float32), {"std": round(std, 3), "mono": mono}
    if op == "brightness_contrast":
        off = float(rng.uniform(8, 40)) * (1 if rng.random() < 0.5 else -1)
        gain = float(rng.uniform(0.75, 1.3))
        mean = f.mean(axis=(0, 1), keepdims=True)
        return (f - mean) * gain + mean + off, {"offset": round(off, 3), "contrast": round(gain, 3)}
    if op == "gamma":
        g = float(math.exp(rng.uniform(0.15, 0.5) * (1 if rng.random() < 0.5 else -1)))
        return 255.0 * (f / 255.0) ** g, {"gamma": round(g, 4)}
    if op == "saturation_hue":
        hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
        sat = float(math.exp(rng.uniform(-0.6, 0.5)))
        hue = float(rng.uniform(4, 20)) * (1 if rng.random() < 0.5 else -1)
        hsv[..., 0] = np.mod(hsv[..., 0] + hue * 256 / 360, 256)
        hsv[..., 1] = np.clip(hsv[..., 1] * sat, 0, 255)
        rgb = cv2.cvtColor(np.clip(np.rint(hsv), 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB_FULL)
        return rgb, {"saturation": round(sat, 4), "hue_degrees": round(hue, 3)}
    if op == "resample":
        fac = float(rng.uniform(0.35, 0.8))
        ch, cw = crop.shape[:2]
        sh, sw = max(1, round(ch * fac)), max(1, round(cw * fac))
        down = (cv2.INTER_AREA, cv2.INTER_LINEAR)[int(rng.integers(2))]
        up = (cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST)[int(rng.integers(3))]
        small = cv2.resize(crop, (sw, sh), interpolation=down)
        params = {"factor": round(fac, 4), "down": int(down), "up": int(up)}
        return cv2.resize(small, (cw, ch), interpolation=up), params
    if op == "jpeg":
        q = int(rng.integers(40, 91))
        buf = io.BytesIO()
        Image.fromarray(crop).save(buf, format="JPEG", quality=q)
        with Image.open(io.BytesIO(buf.getvalue())) as im:
            return np.asarray(im.convert("RGB")), {"quality": q}
    raise ValueError(f"unknown retouching op {op!r}")


def retouch(
    rng: np.random.Generator,
    host: np.ndarray,
    *,
    area: tuple[float, float] = DEFAULT_AREA["retouch"],
    shapes: tuple[str, ...] = SHAPES,
    ops: tuple[str, ...] = RETOUCH_OPS,
) -> Forgery:
    """Locally retouch a region: blur, sharpen, noise, colour/brightness, resampling or local JPEG."""
    h, w = host.shape[:2]
    shape = _pick_shape(rng, shapes, None)
    op = ops[int(rng.integers(len(ops)))]
    sigma = _feather_sigma(rng, 0.3, 4.0)
    region, shape_name = random_region(rng, host, _area(rng, h, w, area), shape)
    alpha = soft_alpha(region, sigma)
    y0, y1, x0, x1 = _bbox(alpha > 0)
    pad = 8
    y0, y1, x0, x1 = max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad)
    result, op_params = _retouch_op(rng, np.ascontiguousarray(host[y0:y1, x0:x1]), op)
    layer = host.astype(np.float32)
    layer[y0:y1, x0:x1] = result
    out = composite(host, layer, alpha)
    params = {"shape": shape_name, "op": op, "feather_sigma": round(sigma, 3), **op_params}
    return Forgery(out, changed_mask(host, out), alpha > 0, "retouch", params)


def make_forgery(
    kind: str,
    rng: np.random.Generator,
    host: np.ndarray,
    donor: np.ndarray | None = None,
    *,
    area: tuple[float, float] | None = None,
    shapes: tuple[str, ...] = SHAPES,
    min_changed: float = 0.25,
    attempts: int = 6,
    gradient: str | None = None,
) -> Forgery:
    """One forgery of ``kind``; redrawn (from the same ``rng``) until it changed enough pixels.

    A draw is accepted when at least 16 pixels and ``min_changed`` of its region changed. After
    ``attempts`` draws the best one with any change is returned; if none changed anything,
    :class:`ManipulationFailed` is raised. ``donor`` is required for ``splice``. ``gradient`` ("normal" or
    "mixed") makes a splice or a copy-move a gradient-domain paste (:func:`gradient_blend`); other kinds ignore it.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown forgery kind {kind!r}; choose from {', '.join(KINDS)}")
    if kind == "splice" and donor is None:
        raise ValueError("splice needs a donor image")
    area = area or DEFAULT_AREA[kind]
    best: Forgery | None = None
    for attempt in range(attempts):
        if kind == "splice":
            f = splice(rng, host, donor, area=area, shapes=shapes, gradient=gradient)
        elif kind == "copymove":
            f = copy_move(rng, host, area=area, shapes=shapes, gradient=gradient)
        elif kind == "inpaint":
            f = inpaint(rng, host, area=area, shapes=shapes)
        else:
            f = retouch(rng, host, area=area, shapes=shapes)
        f.params["attempt"] = attempt
        n = int(f.mask.sum())
        if n >= 16 and n >= min_changed * max(1, int(f.region.sum())):
            return f
        if n and (best is None or n > int(best.mask.sum())):
            best = f
    if best is None:
        raise ManipulationFailed(f"{kind}: no pixel changed in {attempts} attempts")
    return best
