"""Phase 3: the confidence decoder and the detection head, everything else frozen.

The network starts from phase 2's checkpoint; Noiseprint++, the encoder and the localization
decoder are frozen (eval mode, no gradients). The loss is
``conf_weight x MSE(sigmoid(conf), true-class probability of the localization)`` (away from mask
boundaries, see :func:`~trufor.training.losses.confidence_loss`) plus
``det_weight (0.5) x class-weighted binary cross-entropy`` of the integrity logit, whose target is
1 when the crop holds at least ``det_min_pixels`` forged pixels. The detection head pools the confidence
logits, so the detection loss trains the confidence decoder too, unless ``loss.det_detach_conf`` stops
that gradient (then the confidence decoder learns from its own target only), or the network has a detection
decoder of its own (``TruForConfig.detection_decoder``, variant ``trufor_lite0_detdec``): then the head pools
that decoder's logits, trained with it by the detection loss, and the confidence decoder learns from its
target only; started from a model without one, the detection decoder starts as a copy of the confidence decoder
(of ``model.heads_from`` where given). ``loss.conf_balance: flagged`` weighs the pixels the localization flags as much as the others in
the confidence loss (see :func:`~trufor.training.losses.confidence_loss`).

Validation reports ``loss``, ``conf_mse``, ``conf_var`` (the variance of the confidence target: the MSE of
the best constant map), ``det_auc``, ``det_bacc`` (balanced accuracy at 0.5), and the frozen localization's
``f1`` for reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import TrainingError
from ..modeling import TruForNet
from .checkpoint import load_training_checkpoint, load_weights
from .localization_phase import PairPhase, _mean_scores, mask_scores
from .losses import confidence_loss, confidence_targets, detection_loss, detection_targets
from .noiseprint_phase import auc
from .phase_api import CheckpointReader


class ConfidenceModule(nn.Module):
    """Forward pass of phase 3: frozen features and localization, trained confidence and detection."""

    def __init__(self, net: TruForNet, detach_conf: bool = False) -> None:
        super().__init__()
        self.net = net
        self.detach_conf = detach_conf

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        net = self.net
        size = image.shape[-2:]
        with torch.no_grad():
            feats = net.features(image)
            loc = net.localize(feats, size)
        conf = net.confidence_logits(feats, size)
        det_in = net.detection_logits(feats, size, conf.detach() if self.detach_conf else conf)
        return loc, conf, net.detect(loc, det_in)


def with_detection_decoder(state: dict[str, Any], net: TruForNet) -> dict[str, Any]:
    """``state`` with a detection decoder for ``net`` where ``net`` has one and ``state`` has none: a copy of the
    state's confidence decoder (what a detection head of that state was trained to pool; shapes are alike)."""
    if net.decode_head_det is None or any(k.startswith("decode_head_det.") for k in state):
        return state
    conf = "decode_head_conf."
    return {**state, **{"decode_head_det." + k[len(conf):]: v.clone() for k, v in state.items() if k.startswith(conf)}}


class ConfidencePhase(PairPhase):
    """Phase 3 for the training loop (see :mod:`trufor.training.loop`)."""

    name = "confidence"
    default_best_metric = "det_auc"
    trainable = ("decode_head_conf.", "decode_head_det.", "detection.")

    def init_weights(self, net: TruForNet,
                     load_checkpoint: CheckpointReader = load_training_checkpoint) -> dict[str, Any]:
        m = self.cfg.model
        ckpt = load_checkpoint(m.init)
        if ckpt.get("phase") not in ("localization", "confidence"):
            raise TrainingError(f"{m.init}: phase 3 starts from a phase-2 (localization) checkpoint, "
                                f"this one is of phase {ckpt.get('phase')!r}")
        info: dict[str, Any] = {"init": ckpt.get("provenance", {})}
        heads = None
        if m.heads_from == "random":  # the two parts as built (drawn from train.seed), not the init's
            heads = {k: v.clone() for k, v in net.state_dict().items() if k.startswith(self.trainable)}
            info["heads_from"] = "random"
        elif m.heads_from:
            other = load_checkpoint(m.heads_from)
            heads = {k: v for k, v in with_detection_decoder(other["model"], net).items() if k.startswith(self.trainable)}
            expected = {k for k in net.state_dict() if k.startswith(self.trainable)}
            if set(heads) != expected:
                raise TrainingError(f"{m.heads_from}: its confidence decoder and detection head do not fit "
                                    f"variant {m.variant!r} (model.heads_from)")
            info["heads_from"] = {"path": m.heads_from, "provenance": other.get("provenance", {})}
        load_weights(net, with_detection_decoder(ckpt["model"], net), m.init,
                     f"its weights do not fit variant {m.variant!r}")
        if heads is not None:
            load_weights(net, {**net.state_dict(), **heads}, m.heads_from, f"its heads do not fit variant {m.variant!r}")
        return info

    def training_module(self, net: TruForNet) -> nn.Module:
        return ConfidenceModule(net, self.cfg.loss.det_detach_conf)

    def set_train_mode(self, net: TruForNet) -> None:
        net.eval()
        net.decode_head_conf.train()
        if net.decode_head_det is not None:
            net.decode_head_det.train()
        net.detection.train()

    def loss(self, out: tuple[Tensor, Tensor, Tensor], batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        lc = self.cfg.loss
        loc, conf, det = (o.float() for o in out)
        target = batch["mask"].to(loc.device)
        l_conf = confidence_loss(loc, conf, target, ignore_index=lc.ignore_index, erode=lc.conf_erode,
                                 dilate=lc.conf_dilate, balance=lc.conf_balance)
        labels = detection_targets(target, lc.det_min_pixels)
        l_det = detection_loss(det, labels, lc.det_class_weights)
        loss = lc.conf_weight * l_conf + lc.det_weight * l_det
        return loss, {"conf": float(l_conf.detach()), "det": float(l_det.detach())}

    def validation_begin(self) -> None:
        self._losses: list[float] = []
        self._conf: list[float] = []
        self._tcp = [0.0, 0.0, 0.0]  # count, sum and sum of squares of the confidence targets
        self._det: list[tuple[float, float]] = []
        self._scores: list[dict[str, float]] = []

    @torch.no_grad()
    def validation_batch(self, net: TruForNet, batch: dict[str, Tensor], device: torch.device) -> None:
        out = ConfidenceModule(net, self.cfg.loss.det_detach_conf)(batch["image"].to(device))
        loss, parts = self.loss(out, batch)
        self._losses.append(float(loss))
        self._conf.append(parts["conf"])
        loc, _, det = (o.float().cpu() for o in out)
        lc = self.cfg.loss
        tcp, valid = confidence_targets(loc, batch["mask"], ignore_index=lc.ignore_index, erode=lc.conf_erode,
                                        dilate=lc.conf_dilate)
        t = tcp[valid].double()
        self._tcp = [self._tcp[0] + t.numel(), self._tcp[1] + float(t.sum()), self._tcp[2] + float((t * t).sum())]
        labels = detection_targets(batch["mask"], self.cfg.loss.det_min_pixels)
        self._det += list(zip(torch.sigmoid(det.reshape(-1)).tolist(), labels.tolist()))
        self._scores += mask_scores(loc.softmax(dim=1)[:, 1], batch["mask"])

    def _tcp_variance(self) -> float:
        """The variance of the confidence targets over the validation pixels: the MSE of the best constant
        confidence. A ``conf_mse`` not below it means the confidence map has learned nothing spatial."""
        n, total, squares = self._tcp
        return max(squares / n - (total / n) ** 2, 0.0) if n else float("nan")

    def validation_end(self) -> dict[str, float]:
        scores = np.array([s for s, _ in self._det])
        labels = np.array([lab for _, lab in self._det]).astype(bool)
        pred = scores >= 0.5
        tpr = float(pred[labels].mean()) if labels.any() else float("nan")
        tnr = float((~pred[~labels]).mean()) if (~labels).any() else float("nan")
        return {
            "loss": float(np.mean(self._losses)) if self._losses else float("nan"),
            "conf_mse": float(np.mean(self._conf)) if self._conf else float("nan"),
            "conf_var": self._tcp_variance(),
            "det_auc": auc(labels, scores) if len(scores) else float("nan"),
            "det_bacc": float(np.nanmean([tpr, tnr])) if not (np.isnan(tpr) and np.isnan(tnr)) else float("nan"),
            "f1": _mean_scores(self._scores)["f1"],
        }
