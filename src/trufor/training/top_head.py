"""A detector that reads the map's top (``trufor train top-head``).

Phase 2's image-level loss (:func:`trufor.training.losses.image_level_loss`) fits one number per whole image to its
label: the mean forged-minus-pristine localization logit over the image's top fraction of pixels. A phase-3 head
trained on 256-px crops of synthetic edits pools other statistics and need not carry what that loss taught the
maps (model card, run 20). Here the detection head of a trained network is replaced by
:class:`trufor.modeling.detection.TopFractionHead` (``TruForConfig.detection_pool = "top_fraction"``): the score is
``sigmoid(a * t + b)`` with ``t`` that very statistic, ``a = 1, b = 0`` until ``trufor train calibrate`` fits them
on a calibration part. Any detection decoder and the old head are dropped; Noiseprint++, the encoder, the
localization decoder and the confidence decoder (the confidence map) are kept as they are.

With ``--mix`` the old head is kept instead and mixed with ``t``: :class:`trufor.modeling.detection.MixedHead`
(``detection_pool = "top_fraction_statistics"``), ``w_t * t + w_s * s + b`` with ``s`` the pooled-statistics head's
logit. ``t`` and ``s`` are recorded on whole training-side images (:func:`mix_inputs`) and the three numbers fitted
there by weighted logistic regression (:func:`fit_mix`); the calibration scales the result afterwards. The two read
different things (model card, run 24): ``t`` whether some pixels fire strongly, what phase 2's image-level loss
trains; ``s`` the shape of the whole map, what phase 3 trains on crops of synthetic edits.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import TrainingError

#: The state-dict prefixes of what the top-fraction detector replaces.
REPLACED_PREFIXES = ("detection.", "decode_head_det.")


def top_fraction_detector(weights: str | os.PathLike, out: str | os.PathLike, *, fraction: float = 0.005,
                          reference: str = "none", half: bool = True) -> Path:
    """Write ``out``: ``weights`` with the top-fraction detection head (uncalibrated: ``a = 1, b = 0``), its top
    measured from ``reference`` (``"none"`` or ``"median"``, :func:`trufor.modeling.detection.top_statistic`).

    Raises:
        TrainingError: ``weights`` is not our .safetensors format, ``fraction`` is not in (0, 1] or ``reference`` is
            not one of :data:`trufor.modeling.detection.TOP_REFERENCES`.
    """
    import torch

    from ..weights import config_of, read_weights
    from .calibration import rewrite_weights

    _check(fraction, reference)
    loaded = read_weights(weights)
    config = replace(config_of(loaded), detection_pool="top_fraction", detection_top_fraction=float(fraction),
                     detection_top_reference=reference, detection_decoder=False)

    def update(sd: dict) -> None:
        for key in [k for k in sd if k.startswith(REPLACED_PREFIXES)]:
            del sd[key]
        sd["detection.out.weight"] = torch.ones(1, 1)
        sd["detection.out.bias"] = torch.zeros(1)

    return rewrite_weights(weights, out, update, action="top-head", half=half, config=config,
                           provenance_line=f"`trufor train top-head`: the integrity score reads the mean "
                                           f"forged-minus-pristine localization logit over the map's top "
                                           f"{fraction:g} of pixels{_measured_from(reference)} (uncalibrated: "
                                           f"a = 1, b = 0)")


def _check(fraction: float, reference: str) -> None:
    from ..modeling.detection import TOP_REFERENCES

    if not 0.0 < fraction <= 1.0:
        raise TrainingError(f"--fraction must be in (0, 1], got {fraction}")
    if reference not in TOP_REFERENCES:
        raise TrainingError(f"--reference must be one of {', '.join(TOP_REFERENCES)}, got {reference!r}")


def _measured_from(reference: str) -> str:
    """The provenance's words for a reference: nothing for the absolute level."""
    return "" if reference == "none" else f", measured from the image's {reference} logit"


# --- the mixed detector: the map's top and the pooled-statistics head together (``trufor train top-head --mix``) ---

#: The state-dict prefix under which a :class:`trufor.modeling.detection.MixedHead` keeps its statistics head.
STATISTICS_PREFIX = "detection.statistics."


@dataclass
class MixSet:
    """The two logits a :class:`trufor.modeling.detection.MixedHead` mixes, on a set of whole images."""

    inputs: np.ndarray  # (N, 2) float64: t (the map's top statistic) and s (the statistics head's logit)
    labels: np.ndarray  # (N,) bool, True = manipulated
    groups: list[str]
    paths: list[str]

    def __len__(self) -> int:
        return len(self.paths)

    def extend(self, other: MixSet) -> MixSet:
        return MixSet(np.concatenate([self.inputs, other.inputs]), np.concatenate([self.labels, other.labels]),
                      self.groups + other.groups, self.paths + other.paths)

    def subset(self, keep: np.ndarray) -> MixSet:
        return MixSet(self.inputs[keep], self.labels[keep], [g for g, k in zip(self.groups, keep) if k],
                      [p for p, k in zip(self.paths, keep) if k])


@dataclass(frozen=True)
class Mix:
    """``logit = w_top * t + w_statistics * s + bias`` (uncalibrated)."""

    w_top: float
    w_statistics: float
    bias: float

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        return inputs[:, 0] * self.w_top + inputs[:, 1] * self.w_statistics + self.bias

    def describe(self) -> str:
        return f"logit = {self.w_top:.4f} x t + {self.w_statistics:.4f} x s {self.bias:+.4f}"


def mix_inputs(model, samples, *, fraction: float = 0.005, reference: str = "none", group: Callable[[str], str],
               cache: dict[str, np.ndarray] | None = None, log: Callable[[str], None] | None = None,
               progress: Callable[[int, int], None] | None = None) -> MixSet:
    """Run ``model`` (a :class:`trufor.TruFor` whose head pools statistics) on each usable sample and record ``t``
    (the mean of the map's top ``fraction`` of ``z1 - z0``, measured from ``reference``) and ``s`` (its detection
    head's logit).

    ``cache`` (image path -> the two values) is read and filled, so a stopped run resumes; an unreadable image is
    reported through ``log`` and left out.

    Raises:
        TrainingError: the model's head is not the pooled-statistics head.
    """
    from ..modeling.detection import top_statistic
    from .head_refit import record_head_inputs

    if model.net.config.detection_pool != "statistics":
        raise TrainingError(f"--mix mixes the map's top with a pooled-statistics detection head; this model's head "
                            f"is {model.net.config.detection_pool!r}")

    def read(inputs, output) -> list[float]:
        loc = inputs[0].detach()
        return [float(top_statistic((loc[:, 1] - loc[:, 0]).float(), fraction, reference)[0]),
                float(output.detach().float().reshape(-1)[0])]

    return MixSet(*record_head_inputs(model, samples, model.net.detection, read, width=2, what="logits", group=group,
                                      cache=cache, log=log, progress=progress))


def fit_mix(data: MixSet) -> Mix:
    """Weighted logistic regression of the labels on ``(t, s)``: each class weighs half and each group within a
    class the same share (:func:`trufor.training.head_refit.sample_weights`); almost unregularised (three
    numbers, hundreds of images).

    Raises:
        TrainingError: fewer than 2 images of a class.
    """
    from sklearn.linear_model import LogisticRegression

    from .head_refit import sample_weights

    if min(int(data.labels.sum()), int((~data.labels).sum())) < 2:
        raise TrainingError(f"fitting the mix needs at least 2 manipulated and 2 authentic images "
                            f"(got {int(data.labels.sum())} and {int((~data.labels).sum())})")
    w = sample_weights(data.labels, data.groups) * len(data)
    fit = LogisticRegression(C=1e3, max_iter=1000).fit(data.inputs, data.labels.astype(int), sample_weight=w)
    return Mix(float(fit.coef_[0, 0]), float(fit.coef_[0, 1]), float(fit.intercept_[0]))


def mix_report(data: MixSet, mix: Mix, folds: int = 5, seed: int = 0) -> list[str]:
    """Weighted AUCs on the fitting set, per set of groups and overall: ``t`` alone, ``s`` alone, the fitted mix,
    and the mix fitted on the other folds (out of fold; ``folds`` > 1)."""
    from .head_refit import _auc, sample_weights

    oof = None
    if folds > 1 and len(data) >= folds:
        order = np.random.default_rng(seed).permutation(len(data))
        fold_of = np.empty(len(data), int)
        fold_of[order] = np.arange(len(data)) % folds
        oof = np.zeros(len(data))
        try:
            for k in range(folds):
                oof[fold_of == k] = fit_mix(data.subset(fold_of != k))(data.inputs[fold_of == k])
        except TrainingError:  # a fold too small to fit: no out-of-fold figure
            oof = None
    sets = sorted({g.split("/")[0] for g in data.groups})
    lines = []
    for name in ([None] + sets if len(sets) > 1 else [None]):
        keep = np.array([name is None or g.split("/")[0] == name for g in data.groups])
        part = data.subset(keep)
        w = sample_weights(part.labels, part.groups)
        figures = [f"t {_auc(part.inputs[:, 0], part.labels, w):.3f}", f"s {_auc(part.inputs[:, 1], part.labels, w):.3f}",
                   f"mix {_auc(mix(part.inputs), part.labels, w):.3f}"]
        if oof is not None:
            figures.append(f"mix out of fold {_auc(oof[keep], part.labels, w):.3f}")
        lines.append(f"{name or 'all'} ({len(part)} images, {int(part.labels.sum())} manipulated): weighted AUC "
                     + ", ".join(figures))
    return lines


def mixed_detector(weights: str | os.PathLike, out: str | os.PathLike, mix: Mix, *, fraction: float = 0.005,
                   reference: str = "none", data_note: str = "", half: bool = True) -> Path:
    """Write ``out``: ``weights`` (whose head pools statistics) with a
    :class:`trufor.modeling.detection.MixedHead`: its statistics head kept as is (under ``detection.statistics.``)
    and mixed with the map's top by ``mix`` (uncalibrated; calibrate afterwards with ``trufor train calibrate``).

    Raises:
        TrainingError: ``weights`` is not our .safetensors format, its head is not the pooled-statistics head,
            ``fraction`` is not in (0, 1] or ``reference`` is not a known reference.
    """
    import torch

    from ..weights import config_of, read_weights
    from .calibration import rewrite_weights

    _check(fraction, reference)
    loaded = read_weights(weights)
    config = config_of(loaded)
    if config.detection_pool != "statistics":
        raise TrainingError(f"{weights}: its detection head is {config.detection_pool!r}; --mix keeps a "
                            "pooled-statistics head beside the map's top")
    config = replace(config, detection_pool="top_fraction_statistics", detection_top_fraction=float(fraction),
                     detection_top_reference=reference)

    def update(sd: dict) -> None:
        for key in [k for k in sd if k.startswith("detection.")]:
            sd[STATISTICS_PREFIX + key[len("detection."):]] = sd.pop(key)
        sd["detection.out.weight"] = torch.tensor([[mix.w_top, mix.w_statistics]], dtype=torch.float32)
        sd["detection.out.bias"] = torch.tensor([mix.bias], dtype=torch.float32)

    return rewrite_weights(weights, out, update, action="top-head --mix", half=half, config=config,
                           provenance_line=f"`trufor train top-head --mix`: the integrity score mixes the mean "
                                           f"forged-minus-pristine localization logit over the map's top {fraction:g} "
                                           f"of pixels{_measured_from(reference)} (t) and the pooled-statistics "
                                           f"head's logit (s), {mix.describe()}, fitted on {data_note} (uncalibrated)")
