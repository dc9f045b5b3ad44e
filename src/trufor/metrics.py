"""Detection and localization metrics, following the TruFor authors' evaluation protocol.

Localization (fake images only; ground truth ``True`` = forged pixel):

* the ground truth is split into three regions: *forged* pixels are those that stay forged after a
  15x15 minimum filter (erosion), *pristine* pixels are those that are not forged after an 11x11
  maximum filter (dilation), and the band between the two is ignored. At the image border the
  filter window is clipped to the image (the border is not treated as pristine nor as forged);
* a pixel is predicted forged when its map value is strictly greater than the threshold;
* every F1 (and IoU) is the maximum of the score of the map and that of the inverted map (the
  inverted prediction is the complement of the prediction, ``value <= threshold``); MCC is taken in
  absolute value, which amounts to the same;
* "best" scores use the best threshold of each image, swept over every distinct map value of the
  pixels that count; "th" scores use the fixed threshold 0.5;
* images are averaged with a NaN-safe mean (:func:`nanmean`): an image whose metric is undefined
  (NaN) is left out of the average.

Degenerate cases, as in the authors' tool:

* no pixel left outside the ignored band: every metric is NaN;
* no forged pixel left after erosion (tiny or empty mask): best F1 is 0; F1 at 0.5 is 0 if some
  counted pixel is predicted forged, NaN if none is (the official code builds a 1x1 confusion matrix
  there and drops the image). Symmetrically, with no pristine pixel and every counted pixel predicted
  forged, F1 at 0.5 is NaN;
* a map containing NaN (in counted pixels) gives NaN metrics; +-inf map values are ordinary extremes.

Detection (real and fake images; label 1 = fake): ROC AUC of the score, balanced accuracy of
``score > 0.5``, and TPR at 1 % and 5 % FPR (the largest TPR of a ROC point whose FPR does not exceed
the target). Scores: NaN is dropped (and counted), +inf ranks above every finite score and is
predicted fake, -inf ranks below every finite score and is predicted real. (The authors' tool drops
non-finite scores; its attempt to keep +inf fails on an assertion, so there is no behaviour to copy.)
Detection metrics need both classes; with one class only they are NaN.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage
from scipy.stats import rankdata
from sklearn.metrics import auc as _trapezoid_area
from sklearn.metrics import balanced_accuracy_score, roc_auc_score, roc_curve

#: Side of the minimum filter that shrinks the forged region.
ERODE_SIZE = 15
#: Side of the maximum filter that grows the forged region; what it adds is ignored.
DILATE_SIZE = 11
#: Fixed threshold on localization maps and detection scores.
THRESHOLD = 0.5
#: False positive rates at which the detection TPR is reported.
TARGET_FPRS = (0.01, 0.05)

_TINY = 1e-32  # denominator floor used by the authors: 0/0 counts as 0


# --------------------------------------------------------------------------------------------- #
# Small helpers
# --------------------------------------------------------------------------------------------- #


def nanmean(values) -> float:
    """Mean of the non-NaN values; NaN (without a warning) when there is none."""
    a = np.asarray(values, dtype=np.float64).ravel()
    a = a[~np.isnan(a)]
    return float(a.mean()) if a.size else math.nan


def f1_from_counts(tp, fp, fn):
    """F1 = 2TP / (2TP + FP + FN), 0 when the denominator is 0 (works on arrays)."""
    tp = np.asarray(tp, dtype=np.float64)
    return 2 * tp / np.maximum(2 * tp + np.asarray(fp, np.float64) + np.asarray(fn, np.float64), _TINY)


def iou_from_counts(tp, fp, fn):
    """IoU (Jaccard) = TP / (TP + FP + FN), 0 when the denominator is 0 (works on arrays)."""
    tp = np.asarray(tp, dtype=np.float64)
    return tp / np.maximum(tp + np.asarray(fp, np.float64) + np.asarray(fn, np.float64), _TINY)


def mcc_from_counts(tp, fp, fn, tn):
    """|MCC| (Matthews correlation, absolute value as in the authors' code), 0 if a margin is empty."""
    tp, fp, fn, tn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn, tn))
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return np.abs(tp * tn - fp * fn) / np.maximum(den, _TINY)


# --------------------------------------------------------------------------------------------- #
# Localization
# --------------------------------------------------------------------------------------------- #


def protocol_regions(
    gt, erode_size: int = ERODE_SIZE, dilate_size: int = DILATE_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Split a boolean ground truth into ``(pristine, forged)`` pixel masks.

    ``forged`` = minimum filter of ``gt`` (size ``erode_size``), ``pristine`` = not maximum filter
    (size ``dilate_size``); the pixels in neither are ignored. The two never overlap.
    """
    gt = np.asarray(gt)
    if gt.ndim != 2:
        raise ValueError(f"ground truth must be 2-D, got shape {gt.shape}")
    gt = gt.astype(bool, copy=False)
    # "reflect" (scipy's default, as in the authors' code) makes the window at the border behave
    # as if clipped to the image: reflected pixels are pixels of the window already.
    forged = ndimage.minimum_filter(gt, size=erode_size, mode="reflect")
    pristine = ~ndimage.maximum_filter(gt, size=dilate_size, mode="reflect")
    return pristine, forged


@dataclass(frozen=True)
class ThresholdSweep:
    """Confusion counts of ``value > t`` for every distinct value ``t`` (ascending).

    The last threshold (the largest value) predicts nothing forged; the inverted prediction
    ``value <= t`` is read off the same counts by swapping TP<->FN and FP<->TN, so the sweep plus
    its inverse covers every split of the sorted values.
    """

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray
    n_forged: int
    n_pristine: int


def threshold_sweep(values, pristine, forged) -> ThresholdSweep:
    """Sort-based sweep over all distinct values of the pixels in ``pristine | forged``.

    Values are compared as float32, as in the authors' code. O(n log n), no loop over thresholds.
    """
    values = np.asarray(values).astype(np.float32, copy=False).ravel()
    pristine = np.asarray(pristine, dtype=bool).ravel()
    forged = np.asarray(forged, dtype=bool).ravel()
    if not (values.size == pristine.size == forged.size):
        raise ValueError("values, pristine and forged must have the same number of pixels")
    counted = pristine | forged
    v = values[counted]
    positive = forged[counted]
    order = np.argsort(v, kind="stable")
    v = v[order]
    positive = positive[order]
    n_forged = int(np.count_nonzero(positive))
    n_pristine = int(positive.size - n_forged)
    # Pixels with value <= v[k] are predicted pristine at threshold v[k].
    fn = np.cumsum(positive, dtype=np.int64)
    tn = np.arange(1, v.size + 1, dtype=np.int64) - fn
    # Keep the last index of each run of equal values: that is where "<= t" is complete.
    run_end = np.ones(v.size, dtype=bool)
    run_end[:-1] = v[1:] != v[:-1]
    fn = fn[run_end]
    tn = tn[run_end]
    return ThresholdSweep(
        thresholds=v[run_end],
        tp=n_forged - fn,
        fp=n_pristine - tn,
        fn=fn,
        tn=tn,
        n_forged=n_forged,
        n_pristine=n_pristine,
    )


def sweep_pixel_auc(sweep: ThresholdSweep) -> float:
    """Area under the pixel ROC curve of a sweep (same value as sklearn's roc_auc_score)."""
    if sweep.n_forged == 0 or sweep.n_pristine == 0:
        return math.nan
    # Ascending thresholds give decreasing (FPR, TPR); prepend the "everything forged" corner.
    fpr = np.concatenate(([1.0], sweep.fp / sweep.n_pristine))
    tpr = np.concatenate(([1.0], sweep.tp / sweep.n_forged))
    return float(np.clip(_trapezoid_area(fpr, tpr), 0.0, 1.0))  # clip rounding (1 + 2e-16)


@dataclass(frozen=True)
class LocalizationResult:
    """Per-image localization metrics (NaN where undefined, see the module docstring)."""

    f1_best: float
    f1_th: float
    iou_best: float
    iou_th: float
    mcc_best: float
    mcc_th: float
    pixel_auc: float
    best_threshold: float  # threshold t of the best F1 (prediction value > t, or <= t if inverted)
    best_inverted: bool  # whether the best F1 came from the inverted map
    n_forged: int  # counted forged pixels (after erosion)
    n_pristine: int  # counted pristine pixels (outside the dilation)
    n_ignored: int  # pixels in the band between

    def as_dict(self) -> dict:
        return asdict(self)


def _nan_result(n_forged: int, n_pristine: int, n_ignored: int) -> LocalizationResult:
    nan = math.nan
    return LocalizationResult(nan, nan, nan, nan, nan, nan, nan, nan, False, n_forged, n_pristine, n_ignored)


def localization_metrics_regions(
    map_, pristine, forged, threshold: float = THRESHOLD
) -> LocalizationResult:
    """Localization metrics of ``map_`` given the protocol regions (see :func:`protocol_regions`)."""
    m = np.asarray(map_)
    pristine = np.asarray(pristine, dtype=bool)
    forged = np.asarray(forged, dtype=bool)
    if m.ndim != 2 or m.shape != pristine.shape or m.shape != forged.shape:
        raise ValueError(f"map {m.shape} and ground truth {forged.shape} must be 2-D of the same shape")
    n_forged = int(np.count_nonzero(forged))
    n_pristine = int(np.count_nonzero(pristine))
    n_ignored = int(m.size - n_forged - n_pristine)
    counted = pristine | forged
    if n_forged + n_pristine == 0 or np.isnan(m[counted]).any():
        return _nan_result(n_forged, n_pristine, n_ignored)

    # Best threshold: every split, map and inverted map.
    s = threshold_sweep(m, pristine, forged)
    f1 = f1_from_counts(s.tp, s.fp, s.fn)
    f1_inv = f1_from_counts(s.fn, s.tn, s.tp)
    k, k_inv = int(np.argmax(f1)), int(np.argmax(f1_inv))
    inverted = bool(f1_inv[k_inv] > f1[k])
    f1_best = float(f1_inv[k_inv] if inverted else f1[k])
    best_t = float(s.thresholds[k_inv if inverted else k])
    iou_best = float(max(iou_from_counts(s.tp, s.fp, s.fn).max(), iou_from_counts(s.fn, s.tn, s.tp).max()))
    mcc_best = float(mcc_from_counts(s.tp, s.fp, s.fn, s.tn).max())

    # Fixed threshold.
    predicted = m > threshold
    tp = int(np.count_nonzero(predicted & forged))
    fp = int(np.count_nonzero(predicted & pristine))
    fn, tn = n_forged - tp, n_pristine - fp
    one_class = (n_forged == 0 and tp + fp == 0) or (n_pristine == 0 and fn + tn == 0)
    if one_class:  # the authors' confusion matrix collapses to 1x1 and the image is dropped
        f1_th = iou_th = mcc_th = math.nan
    else:
        f1_th = float(max(f1_from_counts(tp, fp, fn), f1_from_counts(fn, tn, tp)))
        iou_th = float(max(iou_from_counts(tp, fp, fn), iou_from_counts(fn, tn, tp)))
        mcc_th = float(mcc_from_counts(tp, fp, fn, tn))

    return LocalizationResult(
        f1_best=f1_best,
        f1_th=f1_th,
        iou_best=iou_best,
        iou_th=iou_th,
        mcc_best=mcc_best,
        mcc_th=mcc_th,
        pixel_auc=sweep_pixel_auc(s),
        best_threshold=best_t,
        best_inverted=inverted,
        n_forged=n_forged,
        n_pristine=n_pristine,
        n_ignored=n_ignored,
    )


def localization_metrics(
    map_,
    gt,
    threshold: float = THRESHOLD,
    erode_size: int = ERODE_SIZE,
    dilate_size: int = DILATE_SIZE,
) -> LocalizationResult:
    """Localization metrics of one fake image: ``map_`` (H, W) against boolean ``gt`` (H, W)."""
    m = np.asarray(map_)
    gt = np.asarray(gt)
    if m.shape != gt.shape:
        raise ValueError(f"map shape {m.shape} differs from ground-truth shape {gt.shape}")
    pristine, forged = protocol_regions(gt, erode_size, dilate_size)
    return localization_metrics_regions(m, pristine, forged, threshold)


class PooledPixelAUC:
    """Pixel ROC AUC over the counted pixels of many images, in constant memory.

    Map values are clipped to [0, 1] and rounded to ``bins - 1`` steps (1/65535 by default) before
    being counted, so the value is exact for maps stored on that grid (16-bit PNGs) and within about
    1e-5 of the exact pooled AUC otherwise. NaN pixels are not counted.
    """

    def __init__(self, bins: int = 65536):
        if bins < 2:
            raise ValueError("bins must be >= 2")
        self.bins = int(bins)
        self._forged = np.zeros(self.bins, dtype=np.int64)
        self._pristine = np.zeros(self.bins, dtype=np.int64)

    def _quantize(self, values: np.ndarray) -> np.ndarray:
        v = np.clip(values.astype(np.float64, copy=False), 0.0, 1.0)
        return np.rint(v * (self.bins - 1)).astype(np.int64)

    def update(self, map_, pristine, forged) -> None:
        m = np.asarray(map_).ravel()
        pristine = np.asarray(pristine, dtype=bool).ravel()
        forged = np.asarray(forged, dtype=bool).ravel()
        ok = ~np.isnan(m)
        self._forged += np.bincount(self._quantize(m[forged & ok]), minlength=self.bins)
        self._pristine += np.bincount(self._quantize(m[pristine & ok]), minlength=self.bins)

    @property
    def n_forged(self) -> int:
        return int(self._forged.sum())

    @property
    def n_pristine(self) -> int:
        return int(self._pristine.sum())

    @property
    def value(self) -> float:
        """P(forged pixel value > pristine pixel value) + half the ties; NaN with one class."""
        n_pos, n_neg = self.n_forged, self.n_pristine
        if n_pos == 0 or n_neg == 0:
            return math.nan
        pos = self._forged.astype(np.float64)
        neg = self._pristine.astype(np.float64)
        neg_below = np.cumsum(neg) - neg
        return float((pos * neg_below).sum() + 0.5 * (pos * neg).sum()) / (float(n_pos) * float(n_neg))


# --------------------------------------------------------------------------------------------- #
# Detection
# --------------------------------------------------------------------------------------------- #


@dataclass(frozen=True)
class DetectionResult:
    """Image-level detection metrics over real (label 0) and fake (label 1) images."""

    auc: float
    balanced_accuracy: float
    tpr_at_fpr: dict = field(default_factory=dict)  # {target FPR: TPR}
    n_real: int = 0
    n_fake: int = 0
    n_nan: int = 0  # scores dropped because NaN
    n_pos_inf: int = 0
    n_neg_inf: int = 0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["tpr_at_fpr"] = {f"{k:g}": v for k, v in self.tpr_at_fpr.items()}
        return d


def _clean_scores(scores, labels) -> tuple[np.ndarray, np.ndarray, int]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    keep = ~np.isnan(s)
    return s[keep], y[keep].astype(np.int64), int(np.count_nonzero(~keep))


def detection_roc(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """ROC curve ``(fpr, tpr)`` with every point kept; NaN scores dropped, +-inf as extremes.

    Empty arrays when only one class is present.
    """
    s, y, _ = _clean_scores(scores, labels)
    if np.unique(y).size < 2:
        return np.zeros(0), np.zeros(0)
    # Ranks order the scores exactly like the scores (ties kept) and are finite even for +-inf.
    fpr, tpr, _ = roc_curve(y, rankdata(s), drop_intermediate=False)
    return fpr, tpr


def tpr_at_fpr(fpr, tpr, target: float) -> float:
    """Largest TPR among ROC points whose FPR is at most ``target`` (no interpolation)."""
    fpr = np.asarray(fpr, dtype=np.float64)
    tpr = np.asarray(tpr, dtype=np.float64)
    ok = fpr <= target + 1e-12
    return float(tpr[ok].max()) if ok.any() else math.nan


def detection_metrics(
    scores, labels, threshold: float = THRESHOLD, target_fprs=TARGET_FPRS
) -> DetectionResult:
    """AUC, balanced accuracy of ``score > threshold`` and TPR at the target FPRs."""
    raw = np.asarray(scores, dtype=np.float64).ravel()
    s, y, n_nan = _clean_scores(scores, labels)
    n_fake = int(np.count_nonzero(y == 1))
    n_real = int(y.size - n_fake)
    counts = dict(
        n_real=n_real,
        n_fake=n_fake,
        n_nan=n_nan,
        n_pos_inf=int(np.count_nonzero(raw == np.inf)),
        n_neg_inf=int(np.count_nonzero(raw == -np.inf)),
    )
    if n_fake == 0 or n_real == 0:
        return DetectionResult(math.nan, math.nan, {t: math.nan for t in target_fprs}, **counts)
    ranks = rankdata(s)
    auc = float(roc_auc_score(y, ranks))
    bacc = float(balanced_accuracy_score(y, s > threshold))
    fpr, tpr, _ = roc_curve(y, ranks, drop_intermediate=False)
    return DetectionResult(auc, bacc, {t: tpr_at_fpr(fpr, tpr, t) for t in target_fprs}, **counts)
