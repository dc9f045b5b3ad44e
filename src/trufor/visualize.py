"""Pictures of results: the image beside its localization and confidence maps, and a heat-map overlay.

Colour choices: the localization map uses a diverging red/blue scale fixed to [0, 1] (red = likely
forged), the confidence map a grey scale fixed to [0, 1] (white = trusted), so figures of different
images can be compared at a glance. The score in the title is the ``score`` key of the result.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .outputs import atomic_write

if TYPE_CHECKING:
    from .inference import AnalysisResult


def _matplotlib():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        try:
            matplotlib.use("Agg", force=False)
        except Exception:
            pass
    import matplotlib.pyplot as plt

    return plt


def _as_rgb(image: Any) -> np.ndarray | None:
    if image is None:
        return None
    from .imageio import LoadedImage, read_image, to_rgb_array

    if isinstance(image, LoadedImage):
        return image.pixels
    if isinstance(image, (str, os.PathLike)):
        return read_image(image).pixels
    return to_rgb_array(image)


def _as_mask(mask: Any) -> np.ndarray | None:
    """The ground-truth panel (0/1 float32) of a mask file or array, binarised by :mod:`trufor.masks`:
    a file or a uint8 array by :data:`~trufor.masks.HALF_RANGE`, other arrays (bool, 0..1) above 0.5."""
    if mask is None:
        return None
    from .masks import HALF_RANGE, MaskFormat, binarize, read_mask

    if isinstance(mask, (str, os.PathLike)):
        return read_mask(mask, HALF_RANGE).astype(np.float32)
    arr = np.asarray(mask)
    return binarize(arr, HALF_RANGE if arr.dtype == np.uint8 else MaskFormat(threshold=0.5)).astype(np.float32)


def result_figure(result: "AnalysisResult | dict", image: Any = None, mask: Any = None,
                  title: str | None = None, model_name: str | None = None, dpi: int = 100):
    """Image | localization map | confidence map (| ground-truth mask), with the score as title.

    ``result`` is an :class:`~trufor.inference.AnalysisResult` or a mapping with the keys of the
    official ``.npz`` (``map``, ``conf``, ``score``).
    """
    plt = _matplotlib()
    if isinstance(result, dict) or hasattr(result, "files"):
        heat, conf = np.asarray(result["map"]), np.asarray(result["conf"]) if "conf" in result else None
        score = float(result["score"]) if "score" in result else None
        name = model_name
    else:
        heat, conf, score = result.map, result.conf, result.score
        name = model_name or result.model_name
    rgb = _as_rgb(image)
    gt = _as_mask(mask)
    panels: list[tuple[str, np.ndarray, dict]] = []
    if rgb is not None:
        panels.append(("Image", rgb, {}))
    panels.append(("Localization map", heat, {"cmap": "RdBu_r", "vmin": 0.0, "vmax": 1.0}))
    if conf is not None:
        panels.append(("Confidence map", conf, {"cmap": "gray", "vmin": 0.0, "vmax": 1.0}))
    if gt is not None:
        panels.append(("Ground truth", gt, {"cmap": "gray", "vmin": 0.0, "vmax": 1.0}))
    h, w = heat.shape[:2]
    panel_w = 4.0
    panel_h = max(1.5, panel_w * h / max(w, 1))
    fig, axes = plt.subplots(1, len(panels), figsize=(panel_w * len(panels), panel_h + 0.9), dpi=dpi, squeeze=False)
    for ax, (label, data, kw) in zip(axes[0], panels):
        im = ax.imshow(data, interpolation="nearest", **kw)
        ax.set_title(label)
        ax.set_axis_off()
        if kw:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    heading = title or ""
    if score is not None:
        heading = (heading + "  " if heading else "") + f"integrity score: {score:.3f}"
    if name:
        heading += f"\nmodel: {name}"
    fig.suptitle(heading, fontsize=11)
    fig.tight_layout()
    return fig


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    plt = _matplotlib()
    path = Path(path)
    try:
        with atomic_write(path) as f:
            fig.savefig(f, format="png")
    finally:
        plt.close(fig)
    return path


def overlay_image(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The image with the localization map blended on top (jet colour map, opacity ``alpha * map``)."""
    import matplotlib

    colours = matplotlib.colormaps["jet"](np.clip(heat, 0.0, 1.0))[..., :3]
    weight = (alpha * np.clip(heat, 0.0, 1.0))[..., None]
    base = image.astype(np.float32) / 255.0
    return np.clip(255.0 * ((1 - weight) * base + weight * colours) + 0.5, 0, 255).astype(np.uint8)


def save_overlay(image: Any, heat: np.ndarray, path: str | os.PathLike, alpha: float = 0.5) -> Path:
    """Write :func:`overlay_image` as a PNG of the image's own size, atomically."""
    from PIL import Image

    rgb = _as_rgb(image)
    path = Path(path)
    with atomic_write(path) as f:
        Image.fromarray(overlay_image(rgb, heat, alpha)).save(f, format="PNG")
    return path
