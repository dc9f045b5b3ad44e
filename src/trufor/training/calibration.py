"""Calibration of the integrity score: make 0.5 mean something, on held-out training-side data.

The detection head ends in one linear unit, so a Platt scaling of its logit,
``logit' = a * logit + b``, folds exactly into that unit's weight and bias: the calibrated model is a
weights file like any other, with no extra step at inference. ``a`` and ``b`` are fitted by logistic
regression of the labels on the whole-image logits of a calibration set (each class weighted by the
inverse of its count, so that 0.5 sits where both kinds of error balance), then ``b`` is moved if
needed so that at most ``max_fpr`` of the calibration set's authentic images score 0.5 or more.

The calibration set must never be a benchmark: the bundled model is calibrated on the ``calib``
parts of its training-side data (``scripts/make_heldout_lists.py``), never on CASIA or on the
held-out parts it is reported on.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TrainingError, TruForError

#: The state-dict keys of the detection head's last linear unit (``DetectionHead`` = Linear, ReLU, Dropout, Linear).
DETECTION_WEIGHT, DETECTION_BIAS = "detection.3.weight", "detection.3.bias"


@dataclass(frozen=True)
class Calibration:
    """A fitted Platt scaling and what it did on the calibration set."""

    a: float
    b: float
    n_fake: int
    n_real: int
    fpr_before: float  # authentic images at >= 0.5, before and after
    fpr_after: float
    tpr_before: float  # manipulated images at >= 0.5, before and after
    tpr_after: float

    def describe(self) -> str:
        return (f"Platt scaling logit' = {self.a:.4f} * logit + {self.b:+.4f}, fitted on {self.n_fake} manipulated "
                f"+ {self.n_real} authentic images; at 0.5: false-positive rate {self.fpr_before:.3f} -> "
                f"{self.fpr_after:.3f}, true-positive rate {self.tpr_before:.3f} -> {self.tpr_after:.3f}")


def _rates(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    pred = logits >= 0.0
    fpr = float(pred[~labels].mean()) if (~labels).any() else float("nan")
    tpr = float(pred[labels].mean()) if labels.any() else float("nan")
    return fpr, tpr


def fit_platt(logits: Iterable[float], labels: Iterable[bool], *, max_fpr: float | None = 0.1) -> Calibration:
    """Fit ``a``, ``b`` (see the module docstring) from detection logits and labels (True = manipulated)."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(list(logits), dtype=np.float64)
    y = np.asarray(list(labels), dtype=bool)
    if x.shape != y.shape or x.ndim != 1:
        raise TrainingError("calibration: logits and labels must be two lists of the same length")
    if not np.isfinite(x).all():
        raise TrainingError("calibration: some detection logits are not finite")
    if y.all() or (~y).all() or min(int(y.sum()), int((~y).sum())) < 2:
        raise TrainingError(f"calibration needs at least 2 manipulated and 2 authentic images "
                            f"(got {int(y.sum())} and {int((~y).sum())})")
    reg = LogisticRegression(C=1e4, class_weight="balanced")
    reg.fit(x[:, None], y.astype(int))
    a, b = float(reg.coef_[0, 0]), float(reg.intercept_[0])
    if a <= 0:
        # The score ranks the calibration set the wrong way round: do not flip the model, only shift it.
        a, b = 1.0, float(-np.median(x))
    if max_fpr is not None:
        real = np.sort(a * x[~y] + b)
        allowed = int(math.floor(max_fpr * len(real)))  # this many authentic images may stay at >= 0.5
        if allowed < len(real):
            limit = real[len(real) - 1 - allowed]  # the (allowed + 1)-th highest must go below 0
            if limit >= 0:
                b -= limit + 1e-6 * max(1.0, abs(limit))
    fpr0, tpr0 = _rates(x, y)
    fpr1, tpr1 = _rates(a * x + b, y)
    return Calibration(a, b, int(y.sum()), int((~y).sum()), fpr0, fpr1, tpr0, tpr1)


def detection_logits(model, samples, *, log=None) -> tuple[list[float], list[bool], list[str]]:
    """Whole-image detection logits of ``samples`` (:class:`trufor.datasets.Sample`), their labels and paths.

    An unreadable image is reported through ``log`` and left out.
    """
    logits, labels, paths = [], [], []
    for sample in samples:
        if sample.skip:
            continue
        try:
            result = model.analyze(sample.image)
        except TruForError as exc:
            if log:
                log(f"skipped: {exc}")
            continue
        s = min(max(float(result.score), 1e-7), 1 - 1e-7)
        logits.append(math.log(s / (1 - s)))
        labels.append(bool(sample.is_fake))
        paths.append(str(sample.image))
    return logits, labels, paths


def write_calibrated(weights: str | os.PathLike, out: str | os.PathLike, calibration: Calibration, *,
                     data_note: str, half: bool = True) -> Path:
    """A copy of our weights file with the calibration folded into the detection head."""
    import torch

    from ..weights import config_of, read_weights, save_safetensors

    loaded = read_weights(weights)
    if loaded.format != "safetensors":
        raise TrainingError(f"{weights}: calibration writes our .safetensors format; convert the file first")
    sd = {k: v.float() if v.is_floating_point() else v for k, v in loaded.state_dict.items()}
    if DETECTION_WEIGHT not in sd or DETECTION_BIAS not in sd:
        raise TrainingError(f"{weights}: no detection head ({DETECTION_WEIGHT}) to calibrate")
    with torch.no_grad():
        sd[DETECTION_WEIGHT] = sd[DETECTION_WEIGHT] * calibration.a
        sd[DETECTION_BIAS] = sd[DETECTION_BIAS] * calibration.a + calibration.b
    meta = loaded.metadata
    provenance = str(meta.get("provenance", "")) + f"\ncalibrated with `trufor train calibrate` on {data_note}: " \
        + calibration.describe()
    extra = {k: str(v) for k, v in meta.items()
             if k in ("training_phase", "training_steps")}
    extra["calibration"] = f"{calibration.a:.6g} {calibration.b:.6g}"
    return save_safetensors(sd, out, config_of(loaded), provenance=provenance, licence=str(meta.get("licence", "")),
                            half=half, extra=extra)
