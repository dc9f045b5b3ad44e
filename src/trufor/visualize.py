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
    from .results import AnalysisResult


def _matplotlib():
    import matplotlib

    if not _WINDOW and matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
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


#: Border of the Noiseprint++ where the DnCNN's zero padding shows (one pixel per 3x3 layer).
NOISEPRINT_BORDER = 17
#: Largest side of the Noiseprint++ panel's data before it is downsampled for display.
NOISEPRINT_MAX_SIDE = 1024


def noiseprint_picture(noiseprint: np.ndarray, *, border: int = NOISEPRINT_BORDER,
                       max_side: int = NOISEPRINT_MAX_SIDE, clip: float = 1.0) -> tuple[np.ndarray, int]:
    """A readable grey picture of a Noiseprint++ fingerprint, for any image size: ``(picture in [0, 1],
    border cropped)``.

    The border where the network's zero padding shows is cropped when the fingerprint is large enough
    (each side keeps at least 4x the border); a large fingerprint is reduced by block averaging to at most
    ``max_side`` pixels (its periodic patterns survive as moiré, its regions stay in place); the grey scale
    is robust: clipped at the ``clip`` and ``100 - clip`` percentiles, so a few extreme values at edges or
    saturated pixels do not flatten the rest.
    """
    npp = np.asarray(noiseprint, dtype=np.float32)
    h, w = npp.shape
    crop = border if min(h, w) >= 6 * border else 0
    if crop:
        npp = npp[crop:h - crop, crop:w - crop]
    factor = int(np.ceil(max(npp.shape) / max_side)) if max(npp.shape) > max_side else 1
    if factor > 1:
        hh, ww = (npp.shape[0] // factor) * factor, (npp.shape[1] // factor) * factor
        npp = npp[:hh, :ww].reshape(hh // factor, factor, ww // factor, factor).mean(axis=(1, 3))
    finite = npp[np.isfinite(npp)]
    if finite.size == 0:
        return np.zeros_like(npp), crop
    lo, hi = np.percentile(finite, [clip, 100.0 - clip])
    if not hi > lo:
        return np.full_like(npp, 0.5), crop
    return np.clip((np.nan_to_num(npp, nan=lo) - lo) / (hi - lo), 0.0, 1.0), crop


#: Panel titles, in the order of the authors' visualize.py (each shown when available).
PANEL_ORDER = ("Image", "Ground truth", "Noiseprint++", "Localization map", "Confidence map")


def result_figure(result: "AnalysisResult | dict", image: Any = None, mask: Any = None,
                  title: str | None = None, model_name: str | None = None, dpi: int = 100,
                  noiseprint: bool = True, provenance: str | None = None):
    """The panels of the authors' ``visualize.py``: image | ground truth | Noiseprint++ | localization map |
    confidence map (each when available), with the score in the title.

    ``result`` is an :class:`~trufor.results.AnalysisResult` or a mapping with the keys of the official
    ``.npz`` (``map``, ``conf``, ``score``, ``np++``). The Noiseprint++ panel is drawn when the result holds
    one (``noiseprint=False`` leaves it out), with :func:`noiseprint_picture`. ``provenance``: one line printed
    under the panels (``trufor.provenance.summary_line``).
    """
    plt = _matplotlib()
    if isinstance(result, dict) or hasattr(result, "files"):
        heat, conf = np.asarray(result["map"]), np.asarray(result["conf"]) if "conf" in result else None
        score = float(np.asarray(result["score"]).reshape(-1)[0]) if "score" in result else None
        npp = np.asarray(result["np++"]) if "np++" in result else None
        name = model_name
    else:
        heat, conf, score, npp = result.map, result.conf, result.score, result.noiseprint
        score = None if score is None or score != score else score  # NaN: a result file without a score
        name = model_name or result.model_name
    rgb = _as_rgb(image)
    gt = _as_mask(mask)
    panels: list[tuple[str, np.ndarray, dict]] = []
    if rgb is not None:
        panels.append((PANEL_ORDER[0], rgb, {}))
    if gt is not None:
        panels.append((PANEL_ORDER[1], gt, {"cmap": "gray", "vmin": 0.0, "vmax": 1.0}))
    if npp is not None and noiseprint:
        picture, crop = noiseprint_picture(npp)
        label = PANEL_ORDER[2] + (f" (border {crop} px cropped)" if crop else "")
        panels.append((label, picture, {"cmap": "gray", "vmin": 0.0, "vmax": 1.0, "bar": False}))
    panels.append((PANEL_ORDER[3], heat, {"cmap": "RdBu_r", "vmin": 0.0, "vmax": 1.0}))
    if conf is not None:
        panels.append((PANEL_ORDER[4], conf, {"cmap": "gray", "vmin": 0.0, "vmax": 1.0}))
    h, w = heat.shape[:2]
    panel_w = 4.0
    panel_h = max(1.5, panel_w * h / max(w, 1))
    fig, axes = plt.subplots(1, len(panels), figsize=(panel_w * len(panels), panel_h + 0.9), dpi=dpi, squeeze=False)
    for ax, (label, data, kw) in zip(axes[0], panels):
        kw = dict(kw)
        bar = kw.pop("bar", bool(kw))
        im = ax.imshow(data, interpolation="nearest", **kw)
        ax.set_title(label, fontsize=10 if len(label) > 20 else None)
        ax.set_axis_off()
        if bar:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    heading = title or ""
    if score is not None:
        heading = (heading + "  " if heading else "") + f"integrity score: {score:.3f}"
    if name:
        heading += f"\nmodel: {name}"
    fig.suptitle(heading, fontsize=11)
    if provenance:
        fig.text(0.5, 0.01, provenance if len(provenance) <= 220 else provenance[:217] + "...", ha="center",
                 va="bottom", fontsize=8, wrap=True)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
    else:
        fig.tight_layout()
    return fig


_WINDOW: list[bool] = []  # set once a window backend was chosen by open_windows()


def has_display() -> bool:
    """Whether figures can open a window here (an X11/Wayland display, or macOS / Windows)."""
    import sys

    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_windows() -> bool:
    """Switch matplotlib to a window backend, before any figure is made, when a display exists; returns
    whether figures will be shown in windows (else they are only drawn, for files)."""
    if not has_display():
        return False
    import sys

    import matplotlib

    for backend in (("macosx",) if sys.platform == "darwin" else ()) + ("TkAgg", "QtAgg"):
        try:
            matplotlib.use(backend, force=True)
            import matplotlib.pyplot as plt

            plt.figure().clear()
            plt.close("all")
            _WINDOW.append(True)
            return True
        except Exception:  # that toolkit is not installed or cannot connect to the display
            continue
    return False


def show(fig) -> None:
    """Show a figure in a window (after :func:`open_windows` returned True), until it is closed."""
    import matplotlib.pyplot as plt

    plt.show()


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
