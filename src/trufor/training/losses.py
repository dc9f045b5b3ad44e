"""Loss functions of the three training phases (TruFor paper, Sec. 3 and supplementary).

Targets are int64 maps with 1 = forged, 0 = pristine and ``ignore_index`` (-1) = padding or
unknown; ignored pixels contribute to no loss term.

* Phase 1 (:func:`fingerprint_contrastive_loss`): InfoNCE over squared distances between
  Noiseprint++ patches; positives share camera, editing history and grid position.
* Phase 2 (:func:`localization_loss`): ``0.3 * weighted CE + 0.7 * Dice`` of the forged class; for whole images
  with an image-level label only, :func:`image_level_loss` (multiple-instance: the top of the map against the label).
* Phase 3 (:func:`confidence_loss`, :func:`detection_loss`): MSE between the confidence and the
  localization's true-class probability; class-weighted binary cross-entropy of the integrity score.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..modeling.detection import top_fraction_mean


# ----------------------------------------------------------------------------------------- phase 2
def weighted_cross_entropy(logits: Tensor, target: Tensor, class_weights: Sequence[float] | Tensor | None = None,
                           ignore_index: int = -1) -> Tensor:
    """Pixel cross-entropy, averaged with the class weights over non-ignored pixels (0 if none).

    This is ``sum_i w[y_i] * (-log p_i[y_i]) / sum_i w[y_i]`` over the valid pixels.
    """
    weight = None
    if class_weights is not None:
        weight = torch.as_tensor(class_weights, dtype=logits.dtype, device=logits.device)
    if not bool((target != ignore_index).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, weight=weight, ignore_index=ignore_index)


def dice_loss(logits: Tensor, target: Tensor, ignore_index: int = -1, smooth: float = 1.0,
              exponent: float = 2.0) -> Tensor:
    """``1 - mean over images of (2 sum p t + s) / (sum p^e + sum t^e + s)`` on valid pixels.

    ``p`` is the softmax probability of the forged class (channel 1), ``t`` the 0/1 forged target;
    the sums run over the non-ignored pixels of each image. ``smooth`` keeps an all-pristine image
    (t = 0 everywhere) well defined: its Dice is ``s / (sum p^e + s)``, high when nothing is predicted.
    """
    prob = logits.softmax(dim=1)[:, 1]
    valid = (target != ignore_index).to(prob.dtype)
    truth = (target == 1).to(prob.dtype)
    b = prob.shape[0]
    prob, truth, valid = prob.reshape(b, -1), truth.reshape(b, -1), valid.reshape(b, -1)
    inter = (prob * truth * valid).sum(dim=1)
    denom = ((prob.pow(exponent) + truth.pow(exponent)) * valid).sum(dim=1)
    dice = (2.0 * inter + smooth) / (denom + max(smooth, 1e-5))
    return 1.0 - dice.mean()


def localization_loss(logits: Tensor, target: Tensor, *, ce_weight: float = 0.3, dice_weight: float = 0.7,
                      class_weights: Sequence[float] = (0.5, 2.5), ignore_index: int = -1,
                      smooth: float = 1.0, exponent: float = 2.0) -> tuple[Tensor, dict[str, float]]:
    """Phase-2 loss: ``ce_weight * CE(class_weights) + dice_weight * Dice``; returns (loss, parts)."""
    if logits.shape[-2:] != target.shape[-2:]:
        logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
    ce = weighted_cross_entropy(logits, target, class_weights, ignore_index)
    dice = dice_loss(logits, target, ignore_index, smooth, exponent)
    loss = ce_weight * ce + dice_weight * dice
    return loss, {"ce": float(ce.detach()), "dice": float(dice.detach())}


def image_level_loss(logits: Tensor, label: Tensor, topk: float = 0.005) -> tuple[Tensor, Tensor]:
    """Phase 2, images known only as manipulated or authentic (no mask): a multiple-instance loss.

    The map's evidence of an image is the mean, over its ``topk`` fraction of pixels where it is highest (at least
    one pixel), of the forged-minus-pristine logit ``z1 - z0`` (whose sigmoid is the map's forged probability);
    the loss is the binary cross-entropy of that pooled logit against the image label (1 manipulated, 0 authentic),
    averaged over the images. A manipulated image asks the map to fire somewhere, an authentic one to stay low
    everywhere, its strongest pixels first. Returns (loss, pooled logits (B,)).
    """
    if not 0.0 < topk <= 1.0:
        raise ValueError(f"topk must be in (0, 1], got {topk}")
    pooled = top_fraction_mean(logits[:, 1] - logits[:, 0], topk)
    return F.binary_cross_entropy_with_logits(pooled, label.to(pooled.dtype)), pooled


# ----------------------------------------------------------------------------------------- phase 3
def boundary_free_targets(target: Tensor, erode: int = 15, dilate: int = 11) -> tuple[Tensor, Tensor]:
    """(forged core, pristine core) boolean maps, away from the mask boundary.

    The forged core is the forged mask eroded by an ``erode`` x ``erode`` square; the pristine core
    the pixels with no forged pixel in their ``dilate`` x ``dilate`` neighbourhood. Sizes 1 (or 0)
    keep the masks as they are. Padding (ignore) counts as not forged.
    """
    forged = (target == 1).to(torch.float32).unsqueeze(1)
    if erode > 1:
        core_f = 1.0 - F.max_pool2d(1.0 - forged, erode, stride=1, padding=erode // 2)
        core_f = core_f[..., : forged.shape[-2], : forged.shape[-1]]
    else:
        core_f = forged
    if dilate > 1:
        near = F.max_pool2d(forged, dilate, stride=1, padding=dilate // 2)[..., : forged.shape[-2], : forged.shape[-1]]
    else:
        near = forged
    return core_f[:, 0] > 0.5, near[:, 0] < 0.5


def true_class_probability(loc_logits: Tensor, forged: Tensor) -> Tensor:
    """Probability the localization gives to the true class of each pixel: p1 where forged, p0 elsewhere."""
    prob = loc_logits.softmax(dim=1)
    return torch.where(forged, prob[:, 1], prob[:, 0])


def confidence_targets(loc_logits: Tensor, target: Tensor, *, ignore_index: int = -1, erode: int = 15,
                       dilate: int = 11) -> tuple[Tensor, Tensor]:
    """The confidence decoder's target: (true-class probability (B, H, W), detached; valid pixels (B, H, W) bool).

    Valid pixels are those not ignored and inside the forged or pristine core (the band around the mask boundary
    is left out, see :func:`boundary_free_targets`). ``loc_logits`` are resized to the mask's size first.
    """
    size = target.shape[-2:]
    if loc_logits.shape[-2:] != size:
        loc_logits = F.interpolate(loc_logits, size=size, mode="bilinear", align_corners=False)
    core_f, core_p = boundary_free_targets(target, erode, dilate)
    tcp = true_class_probability(loc_logits.detach(), target == 1)
    return tcp, (target != ignore_index) & (core_f | core_p)


def confidence_loss(loc_logits: Tensor, conf_logits: Tensor, target: Tensor, *, ignore_index: int = -1,
                    erode: int = 15, dilate: int = 11, balance: str = "none") -> Tensor:
    """Mean squared error between ``sigmoid(conf)`` and the (detached) true-class probability over the
    valid pixels of :func:`confidence_targets`; 0 when there are none.

    ``balance="flagged"``: the mean of the error over the valid pixels the localization flags (forged
    probability at or above 0.5) and the mean over the other valid pixels, averaged with equal weights (the
    plain mean where the batch has pixels of one kind only). Flagged pixels are a few percent of a batch, so in
    the plain mean a confidence that tells the map's false alarms from its true detections gains almost
    nothing; balanced, that distinction is half of the loss.
    """
    if balance not in ("none", "flagged"):
        raise ValueError(f"balance must be 'none' or 'flagged', got {balance!r}")
    size = target.shape[-2:]
    if conf_logits.shape[-2:] != size:
        conf_logits = F.interpolate(conf_logits, size=size, mode="bilinear", align_corners=False)
    tcp, valid = confidence_targets(loc_logits, target, ignore_index=ignore_index, erode=erode, dilate=dilate)
    if not bool(valid.any()):
        return conf_logits.sum() * 0.0
    conf = torch.sigmoid(conf_logits[:, 0])
    err = (conf - tcp.to(conf.dtype)).square()
    if balance == "flagged":
        loc = loc_logits if loc_logits.shape[-2:] == size else F.interpolate(
            loc_logits, size=size, mode="bilinear", align_corners=False)
        flagged = (loc[:, 1] >= loc[:, 0]).detach()  # softmax forged probability >= 0.5
        parts = [err[valid & flagged], err[valid & ~flagged]]
        means = [p.mean() for p in parts if p.numel()]
        return sum(means) / len(means)
    return err[valid].mean()


def detection_targets(target: Tensor, min_pixels: int = 4) -> Tensor:
    """Image labels (B,) float: 1 when at least ``min_pixels`` pixels of the (cropped) mask are forged."""
    return ((target == 1).flatten(1).sum(dim=1) >= min_pixels).to(torch.float32)


def detection_loss(det_logit: Tensor, labels: Tensor, class_weights: Sequence[float] = (0.5 / 0.3, 0.5 / 0.7)) -> Tensor:
    """Binary cross-entropy of the integrity logit, each image weighted by its class:
    ``class_weights[0]`` for pristine, ``class_weights[1]`` for forged; the mean over the batch."""
    labels = labels.to(det_logit.dtype).reshape(-1)
    w0, w1 = float(class_weights[0]), float(class_weights[1])
    weights = labels * w1 + (1.0 - labels) * w0
    return F.binary_cross_entropy_with_logits(det_logit.reshape(-1), labels, weight=weights)


# ----------------------------------------------------------------------------------------- phase 1
def pairwise_sq_distances(fingerprints: Tensor, border: int = 0, center: bool = True, normalize: bool = False) -> Tensor:
    """(N, N) mean squared differences between N fingerprint patches (N, 1, S, S).

    ``border`` pixels are cut on each side first (where zero padding of the DnCNN shows);
    ``center`` removes each patch's mean (a fingerprint is a pattern, not a level); ``normalize``
    divides each patch by its RMS, so that the distance is 2 x (1 - correlation) and a patch's
    amplitude (textured content leaves a stronger residual) does not decide it.
    """
    x = fingerprints
    if border > 0:
        x = x[..., border:-border, border:-border]
    x = x.reshape(x.shape[0], -1)
    if center:
        x = x - x.mean(dim=1, keepdim=True)
    if normalize:
        x = x / x.pow(2).mean(dim=1, keepdim=True).add(1e-12).sqrt()
    sq = (x * x).sum(dim=1)
    d = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    return d.clamp_min(0.0) / x.shape[1]


def contrastive_loss_from_distances(dist: Tensor, labels: Tensor, temperature: float = 1.0) -> Tensor:
    """InfoNCE with several positives over a distance matrix.

    For each anchor ``i`` with at least one positive (``labels[j] == labels[i]``, ``j != i``)::

        loss_i = -log( sum_{j pos} exp(-d_ij / T) / sum_{j != i} exp(-d_ij / T) )

    averaged over anchors; 0 when no anchor has a positive.
    """
    n = dist.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=dist.device)
    logits = (-dist / temperature).masked_fill(eye, float("-inf"))
    same = (labels[:, None] == labels[None, :]) & ~eye
    has_pos = same.any(dim=1)
    if not bool(has_pos.any()):
        return dist.sum() * 0.0
    log_all = torch.logsumexp(logits, dim=1)
    log_pos = torch.logsumexp(logits.masked_fill(~same, float("-inf")), dim=1)
    return (log_all - log_pos)[has_pos].mean()


def fingerprint_contrastive_loss(fingerprints: Tensor, labels: Tensor, *, temperature: float = 1.0,
                                 border: int = 0, center: bool = True) -> Tensor:
    """Phase-1 loss of a batch of Noiseprint++ patches (N, 1, S, S) with class labels (N,)."""
    return contrastive_loss_from_distances(pairwise_sq_distances(fingerprints, border, center), labels, temperature)
