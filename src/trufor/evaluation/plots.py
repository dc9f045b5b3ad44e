"""Figures of an evaluation report: detection ROC, score and F1 histograms, worst/best galleries.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot state, no GUI backend) and
written as PNG. Colours follow ``trufor visualize``: the localization map on a red/blue scale fixed to
[0, 1] (red = likely forged), the confidence map in grey (white = trusted).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from .. import metrics as M
from .datasets import load_mask
from ..outputs import atomic_write
from ..errors import TruForError
from ..imageio import ReadOptions, apply_orientation
from ..results import AnalysisResult
from .runner import EvalResult, ImageRecord

GALLERY_SIDE = 320  # longest side, in pixels, of the pictures in a gallery


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_write(path) as f:
        fig.savefig(f, format="png")
    return path


def _placeholder(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=11, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def roc_figure(result: EvalResult, path: str | os.PathLike) -> Path:
    """Detection ROC curve with the AUC and the TPR at 1 % and 5 % FPR."""
    fig = Figure(figsize=(5.2, 5.0), dpi=110)
    ax = fig.add_subplot()
    evaluated = [r for r in result.records if r.status != "skipped"]
    fpr, tpr = M.detection_roc([r.score for r in evaluated], [r.label for r in evaluated])
    if fpr.size == 0:
        _placeholder(ax, "ROC needs real and fake images")
    else:
        det = result.detection
        ax.plot(fpr, tpr, color="C3", lw=2, drawstyle="steps-post" if fpr.size > 200 else "default",
                label=f"AUC = {det.auc:.3f}  ({det.n_fake} fake, {det.n_real} real)")
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="chance")
        for target, value in det.tpr_at_fpr.items():
            if not math.isnan(value):
                ax.plot([target], [value], "o", ms=6, label=f"TPR {value:.3f} at FPR {target:.0%}")
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("false positive rate (real images called fake)")
    ax.set_ylabel("true positive rate (fake images found)")
    ax.set_title(f"Detection ROC - {result.dataset.name}")
    fig.tight_layout()
    return _save(fig, path)


def score_histogram_figure(result: EvalResult, path: str | os.PathLike) -> Path:
    """Histogram of the integrity score, real and fake images apart."""
    fig = Figure(figsize=(6.0, 3.8), dpi=110)
    ax = fig.add_subplot()
    bins = np.linspace(0, 1, 41)
    groups = (("real", 0, "C0"), ("fake", 1, "C3"))
    drawn = False
    for label, cls, colour in groups:
        s = np.array([r.score for r in result.records if r.status != "skipped" and r.label == cls], float)
        s = np.clip(s[~np.isnan(s)], 0, 1)
        if s.size:
            ax.hist(s, bins=bins, alpha=0.55, color=colour, label=f"{label} ({s.size})")
            drawn = True
    if drawn:
        ax.axvline(M.THRESHOLD, color="0.3", ls="--", lw=1, label=f"threshold {M.THRESHOLD}")
        ax.legend(fontsize=8)
    else:
        _placeholder(ax, "no scores")
    ax.set_xlabel("integrity score")
    ax.set_ylabel("images")
    ax.set_title(f"Scores - {result.dataset.name}")
    fig.tight_layout()
    return _save(fig, path)


def f1_histogram_figure(result: EvalResult, path: str | os.PathLike) -> Path:
    """Histogram of the per-image F1 (best threshold and 0.5) over the fake images."""
    fig = Figure(figsize=(6.0, 3.8), dpi=110)
    ax = fig.add_subplot()
    bins = np.linspace(0, 1, 21)
    recs = result.localized()
    series, labels, colours = [], [], []
    for key, label, colour in (("f1_best", "best threshold", "C2"), ("f1_th", "threshold 0.5", "C1")):
        v = np.array([r.metric(key) for r in recs], float)
        v = v[~np.isnan(v)]
        if v.size:
            series.append(v)
            labels.append(f"F1 {label}: mean {v.mean():.3f} ({v.size} images)")
            colours.append(colour)
    if series:
        ax.hist(series, bins=bins, color=colours, label=labels)  # side-by-side bars
        ax.legend(fontsize=8, loc="upper left")
    else:
        _placeholder(ax, "no fake image with a usable mask")
    ax.set_xlabel("per-image F1")
    ax.set_ylabel("fake images")
    ax.set_title(f"Localization F1 - {result.dataset.name}")
    fig.tight_layout()
    return _save(fig, path)


def pick_gallery(result: EvalResult, k: int) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """The ``k`` worst and ``k`` best fake images by best-threshold F1 (ties by name), no overlap."""
    recs = [r for r in result.localized() if not math.isnan(r.metric("f1_best"))]
    ordered = sorted(recs, key=lambda r: (r.metric("f1_best"), r.name))
    worst = ordered[:k]
    best = [r for r in reversed(ordered) if r not in worst][:k]
    return worst, best


def _thumb(array: np.ndarray, side: int) -> np.ndarray:
    h, w = array.shape[:2]
    step = max(1, math.ceil(max(h, w) / side))
    return array[::step, ::step]


def _regions_picture(gt: np.ndarray) -> np.ndarray:
    """Ground truth as the protocol sees it: forged white, pristine black, ignored band grey."""
    pristine, forged = M.protocol_regions(gt)
    pic = np.full(gt.shape, 0.5, np.float32)
    pic[pristine] = 0.0
    pic[forged] = 1.0
    return pic


def gallery_figure(result: EvalResult, records: list[ImageRecord], title: str, path: str | os.PathLike,
                   mismatch: str = "fix") -> Path:
    """One row per image: image | ground truth (grey = ignored band) | map | confidence."""
    rows = max(1, len(records))
    fig = Figure(figsize=(12.0, 2.9 * rows + 0.6), dpi=90)
    axes = fig.subplots(rows, 4, squeeze=False)
    headers = ("image", "ground truth (grey: ignored)", "localization map", "confidence map")
    for ax, h in zip(axes[0], headers):
        ax.set_title(h, fontsize=10)
    if not records:
        for ax in axes[0]:
            ax.set_axis_off()
        _placeholder(axes[0][0], "no image")
    options = ReadOptions(**result.settings.get("read_options", {}))
    for row, rec in zip(axes, records):
        try:
            out = AnalysisResult.from_npz(rec.npz) if rec.npz else None
        except TruForError:
            out = None
        try:  # the pixels as they were analysed (same read options: EXIF orientation...)
            loaded = options.read(rec.image)
            rgb, orientation = loaded.pixels, loaded.orientation
        except Exception:
            rgb, orientation = None, None
        heat, conf = (out.map, out.conf) if out else (None, None)
        gt = None
        if heat is not None and rec.mask:
            stored = heat.shape[::-1] if orientation in (5, 6, 7, 8) else heat.shape
            gt = load_mask(rec.mask, result.dataset.mask_format, stored, mismatch=mismatch, image=rec.image).mask
            gt = None if gt is None else apply_orientation(gt, orientation)
        panels = (
            (rgb, {}),
            (None if gt is None else _regions_picture(gt), {"cmap": "gray", "vmin": 0, "vmax": 1}),
            (heat, {"cmap": "RdBu_r", "vmin": 0, "vmax": 1}),
            (conf, {"cmap": "gray", "vmin": 0, "vmax": 1}),
        )
        for ax, (data, kw) in zip(row, panels):
            ax.set_xticks([])
            ax.set_yticks([])
            if data is None:
                _placeholder(ax, "n/a")
            else:
                ax.imshow(_thumb(data, GALLERY_SIDE), interpolation="nearest", **kw)
        name = rec.name if len(rec.name) <= 48 else "..." + rec.name[-45:]
        row[0].set_ylabel(name, fontsize=7)
        row[1].set_xlabel(f"F1 best {rec.metric('f1_best'):.3f}  F1@0.5 {rec.metric('f1_th'):.3f}  "
                          f"({rec.metrics.get('n_forged', 0)} forged px)", fontsize=8)
        row[2].set_xlabel(f"score {rec.score:.3f}", fontsize=8)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return _save(fig, path)
