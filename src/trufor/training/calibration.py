"""Calibration of the integrity score: make 0.5 mean something, on held-out training-side data.

The detection head ends in one linear unit (every head: ``TruForConfig.detection_pool``), so a Platt
scaling of its logit, ``logit' = a * logit + b``, folds exactly into that unit's weight and bias: the
calibrated model is a weights file like any other, with no extra step at inference. ``a`` and ``b`` are
fitted by logistic regression of the labels on the whole-image logits of a calibration set (each class
weighted by the inverse of its count, so that 0.5 sits where both kinds of error balance), then ``b`` is
moved if needed so that at most ``max_fpr`` of the calibration set's authentic images score 0.5 or more.

Authentic photos are not all alike: chart photos of a camera test corpus score far lower than
real-life photos that went through editing software and social networks. With ``groups`` (one name
per image, e.g. the data folder it comes from; ``trufor train calibrate`` uses the first two folders
of each path), every group of authentic images weighs the same in the fit, whatever its size, and the
false-positive bound holds in *each* group, so a large easy group cannot set the threshold for a small
hard one.

The calibration set must never be a benchmark: the bundled model is calibrated on the ``calib``
parts of its training-side data (``scripts/make_heldout_lists.py``), never on CASIA or on the
held-out parts it is reported on.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import TrainingError, TruForError

#: The state-dict prefixes of the detection head's last linear unit: ``DetectionHead`` (Linear, ReLU, Dropout,
#: Linear), ``TopFractionHead`` (``out``: Linear 1->1) and ``MixedHead`` (``out``: Linear 2->1).
DETECTION_UNITS = ("detection.3.", "detection.out.")


def detection_unit(sd, what: str = "weights") -> tuple[str, str]:
    """The (weight, bias) keys of the detection head's last linear unit in state dict ``sd``.

    Raises:
        TrainingError: ``sd`` (of ``what``, for the message) has no detection head.
    """
    for prefix in DETECTION_UNITS:
        if prefix + "weight" in sd and prefix + "bias" in sd:
            return prefix + "weight", prefix + "bias"
    raise TrainingError(f"{what}: no detection head ({' or '.join(p + 'weight' for p in DETECTION_UNITS)}) to "
                        "calibrate")


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
    #: false-positive rate after calibration in each group of authentic images (name -> (count, rate))
    group_fpr: dict[str, tuple[int, float]] = field(default_factory=dict)

    def describe(self) -> str:
        text = (f"Platt scaling logit' = {self.a:.4f} * logit + {self.b:+.4f}, fitted on {self.n_fake} manipulated "
                f"+ {self.n_real} authentic images; at 0.5: false-positive rate {self.fpr_before:.3f} -> "
                f"{self.fpr_after:.3f}, true-positive rate {self.tpr_before:.3f} -> {self.tpr_after:.3f}")
        # what the calibration set can promise on new photos of its kind: a one-sided upper bound of each rate
        bound = f"{UPPER_BOUND_CONFIDENCE * 100:.0f} % one-sided upper bound"
        if len(self.group_fpr) > 1:
            text += f"; false-positive rate by group, with its {bound}: " + ", ".join(
                f"{name} {rate:.3f} (n={n}, <= {fpr_upper_bound(round(rate * n), n):.3f})"
                for name, (n, rate) in sorted(self.group_fpr.items()))
        elif self.n_real:
            upper = fpr_upper_bound(round(self.fpr_after * self.n_real), self.n_real)
            text += f" (false-positive rate: {bound} {upper:.3f})"
        return text


#: The confidence of the false-positive bounds that :meth:`Calibration.describe` reports.
UPPER_BOUND_CONFIDENCE = 0.95


def fpr_upper_bound(k: int, n: int, confidence: float = UPPER_BOUND_CONFIDENCE) -> float:
    """One-sided Clopper-Pearson upper bound of a rate seen as ``k`` of ``n``: the largest true false-positive rate
    under which ``k`` or fewer of ``n`` would still be seen with probability ``1 - confidence``. A calibration set's
    groups are small (11 real-life originals in the bundled model's), and 0 of 11 at 0.5 bounds the rate only by
    0.24: the bound says how much the threshold's promise is worth on new photos of the same kind."""
    from scipy.stats import beta

    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    if k == n:
        return 1.0
    return float(beta.ppf(confidence, k + 1, n - k))


def _rates(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    pred = logits >= 0.0
    fpr = float(pred[~labels].mean()) if (~labels).any() else float("nan")
    tpr = float(pred[labels].mean()) if labels.any() else float("nan")
    return fpr, tpr


def fit_platt(logits: Iterable[float], labels: Iterable[bool], *, max_fpr: float | None = 0.1,
              groups: Iterable[str] | None = None) -> Calibration:
    """Fit ``a``, ``b`` (see the module docstring) from detection logits and labels (True = manipulated).

    ``groups`` (optional, one name per image) balances the authentic images by group and applies
    ``max_fpr`` within each group; the manipulated images are one class whatever their group.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(list(logits), dtype=np.float64)
    y = np.asarray(list(labels), dtype=bool)
    g = np.asarray(["all"] * len(x) if groups is None else [str(v) for v in groups], dtype=object)
    if x.shape != y.shape or x.ndim != 1 or g.shape != x.shape:
        raise TrainingError("calibration: logits, labels and groups must be lists of the same length")
    if not np.isfinite(x).all():
        raise TrainingError("calibration: some detection logits are not finite")
    if y.all() or (~y).all() or min(int(y.sum()), int((~y).sum())) < 2:
        raise TrainingError(f"calibration needs at least 2 manipulated and 2 authentic images "
                            f"(got {int(y.sum())} and {int((~y).sum())})")
    real_groups = sorted(set(g[~y]))
    # Each class weighs half; within the authentic class each group weighs the same.
    w = np.empty(len(x))
    w[y] = 0.5 / y.sum()
    for name in real_groups:
        members = (~y) & (g == name)
        w[members] = 0.5 / len(real_groups) / members.sum()
    reg = LogisticRegression(C=1e4)
    reg.fit(x[:, None], y.astype(int), sample_weight=w * len(x))
    a, b = float(reg.coef_[0, 0]), float(reg.intercept_[0])
    if a <= 0:
        # The score ranks the calibration set the wrong way round: do not flip the model, only shift it.
        a, b = 1.0, float(-np.median(x))
    if max_fpr is not None:
        shift = 0.0
        for name in real_groups:
            real = np.sort(a * x[(~y) & (g == name)] + b)
            allowed = int(math.floor(max_fpr * len(real)))  # this many authentic images may stay at >= 0.5
            if allowed < len(real):
                limit = real[len(real) - 1 - allowed]  # the (allowed + 1)-th highest must go below 0
                if limit >= 0:
                    shift = max(shift, limit + 1e-6 * max(1.0, abs(limit)))
        b -= shift
    fpr0, tpr0 = _rates(x, y)
    fpr1, tpr1 = _rates(a * x + b, y)
    by_group = {name: (int(((~y) & (g == name)).sum()), float((a * x[(~y) & (g == name)] + b >= 0).mean()))
                for name in real_groups}
    return Calibration(a, b, int(y.sum()), int((~y).sum()), fpr0, fpr1, tpr0, tpr1, by_group)


def group_of(path: str | os.PathLike, root: str | os.PathLike, depth: int = 2) -> str:
    """The calibration group of an image: the first ``depth`` folders of its path under ``root``."""
    p, r = Path(path), Path(root)
    try:
        parts = p.resolve().relative_to(r.resolve()).parts[:-1]
    except ValueError:
        parts = p.parts[:-1][-depth:]
    return "/".join(parts[:depth]) or "."


def detection_logits(model, samples, *, log=None) -> tuple[list[float], list[bool], list[str]]:
    """Whole-image detection logits of ``samples`` (:class:`trufor.evaluation.datasets.Sample`), their labels and paths.

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


def rewrite_weights(weights: str | os.PathLike, out: str | os.PathLike, update, *, action: str,
                    provenance_line: str, extra: dict[str, str] | None = None, half: bool = True,
                    licence: str | None = None, first_line: str | None = None, config=None) -> Path:
    """A copy of our weights file after ``update(state_dict)`` changed its (float32) tensors in place.

    The one writer of a modified copy (calibration, a re-fitted detection head): the architecture, licence and
    training metadata are kept, ``provenance_line`` is appended to the provenance, ``extra`` added to the metadata;
    ``licence`` replaces the licence (e.g. to restore a credit an older export lost), None keeps it;
    ``first_line`` replaces the provenance's first line (its summary, ``export.summary_line``), None keeps it.
    ``action`` names the step in the error for a file of another format; ``config`` (a ``TruForConfig``) replaces
    the architecture when ``update`` changed it (a graft adding a decoder), None keeps it.
    """
    from ..weights import config_of, read_weights, save_safetensors

    loaded = read_weights(weights)
    if loaded.format != "safetensors":
        raise TrainingError(f"{weights}: {action} writes our .safetensors format; convert the file first")
    sd = {k: v.float() if v.is_floating_point() else v for k, v in loaded.state_dict.items()}
    update(sd)
    meta = loaded.metadata
    lines = str(meta.get("provenance", "")).split("\n")
    if first_line is not None:
        lines[0] = first_line
    provenance = "\n".join(lines + [provenance_line])
    kept = {k: str(v) for k, v in meta.items() if k in ("training_phase", "training_steps")}
    kept.update(extra or {})
    return save_safetensors(sd, out, config_of(loaded) if config is None else config, provenance=provenance,
                            licence=str(meta.get("licence", "")) if licence is None else licence, half=half, extra=kept)


def write_calibrated(weights: str | os.PathLike, out: str | os.PathLike, calibration: Calibration, *,
                     data_note: str, half: bool = True) -> Path:
    """A copy of our weights file with the calibration folded into the detection head."""
    import torch

    def fold(sd: dict) -> None:
        weight, bias = detection_unit(sd, str(weights))
        with torch.no_grad():
            sd[weight] = sd[weight] * calibration.a
            sd[bias] = sd[bias] * calibration.a + calibration.b

    return rewrite_weights(weights, out, fold, action="calibration", half=half,
                           provenance_line=f"calibrated with `trufor train calibrate` on {data_note}: "
                                           + calibration.describe(),
                           extra={"calibration": f"{calibration.a:.6g} {calibration.b:.6g}"})
