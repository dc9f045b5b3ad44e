"""Phase 2: the localization network (dual encoder + localization decoder) on (image, mask) pairs.

Noiseprint++ comes from phase 1's checkpoint (our own weights) and stays frozen, in eval mode. The
encoder starts from scratch: the ImageNet-pretrained MiT weights of the paper are not available
offline, so it is initialised as SegFormer initialises its encoder (truncated normal linear layers,
fan-out normal convolutions, unit LayerNorms). The loss is ``0.3 x weighted cross-entropy
(class weights 0.5 / 2.5) + 0.7 x Dice`` of the forged class, padding ignored
(:func:`~trufor.training.losses.localization_loss`). With ``data.image_level``, every
``train.image_level_every`` steps one whole image known only as manipulated or authentic goes through the
network beside the batch and adds ``loss.image_level_weight`` x its image-level loss
(:func:`~trufor.training.losses.image_level_loss`).

Validation reports ``loss``, ``f1`` and ``iou`` (mean over images with forged pixels, map
thresholded at 0.5), ``f1_best`` (same images, each at its best threshold) and ``pristine_fpr`` (mean fraction of pixels called forged in pristine images).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from ..errors import TrainingError
from ..metrics import threshold_sweep
from ..modeling import TruForNet, build_model
from ..modeling.variants import get_config
from .checkpoint import load_training_checkpoint, load_weights
from .data import Mirrored, WholeImages, build_image_level_dataset, build_pair_dataset, collate_pairs
from .losses import image_level_loss, localization_loss
from .phase_api import CheckpointReader, PhaseBase


def init_from_scratch(module: nn.Module) -> None:
    """SegFormer-style initialisation of a randomly built encoder/decoder (no pretrained weights)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def set_trainable(net: nn.Module, prefixes: tuple[str, ...]) -> list[nn.Parameter]:
    """Only parameters whose name starts with one of ``prefixes`` require gradients; returns them."""
    params = []
    for name, p in net.named_parameters():
        p.requires_grad_(name.startswith(prefixes))
        if p.requires_grad:
            params.append(p)
    return params


class LocalizationModule(nn.Module):
    """Forward pass of phase 2: Noiseprint++ (without gradient unless ``train_noiseprint``), then encoder and
    localization decoder only."""

    def __init__(self, net: TruForNet, train_noiseprint: bool = False) -> None:
        super().__init__()
        self.net = net
        self.train_noiseprint = train_noiseprint

    def forward(self, image: Tensor) -> Tensor:
        net = self.net
        with torch.set_grad_enabled(self.train_noiseprint and torch.is_grad_enabled()):
            noiseprint = net.extract_noiseprint(image)
        return net.localize(net.features(image, noiseprint), image.shape[-2:])


def best_threshold_f1(prob: Tensor, truth: Tensor) -> float:
    """F1 of ``prob > t`` at the best threshold ``t`` for one image (forged class only, no inversion).

    Unlike F1 at 0.5 it moves while a young model's map is still below 0.5 everywhere, so it can
    select checkpoints early in training; it is the per-image best-threshold F1 of the paper's protocol
    without the inverted map and without the boundary band.
    """
    truth = truth.reshape(-1).numpy().astype(bool)
    sweep = threshold_sweep(prob.reshape(-1).float().numpy(), ~truth, truth)
    tp = np.concatenate(([sweep.n_forged], sweep.tp))  # first: everything called forged
    fp = np.concatenate(([sweep.n_pristine], sweep.fp))
    fn = sweep.n_forged - tp
    return float((2 * tp / np.maximum(2 * tp + fp + fn, 1)).max())


def mask_scores(prob: Tensor, target: Tensor, threshold: float = 0.5) -> list[dict[str, float]]:
    """Per-image F1 / IoU (images with forged pixels) or false-positive rate (pristine images)."""
    out = []
    for p, t in zip(prob, target):
        valid = t >= 0
        pred = (p >= threshold) & valid
        truth = (t == 1) & valid
        n_true = int(truth.sum())
        if n_true:
            tp = int((pred & truth).sum())
            fp = int((pred & ~truth).sum())
            fn = n_true - tp
            out.append({"f1": 2 * tp / max(2 * tp + fp + fn, 1), "iou": tp / max(tp + fp + fn, 1),
                        "f1_best": best_threshold_f1(p[valid], truth[valid])})
        else:
            out.append({"pristine_fpr": float(pred.sum()) / max(int(valid.sum()), 1)})
    return out


class PairPhase(PhaseBase):
    """What phases 2 and 3 share: the full TruFor network and (image, mask) datasets."""

    name = "pairs"
    default_best_metric = "loss"
    #: names of the trained parameters start with one of these; all others are frozen
    trainable: tuple[str, ...] = ()

    def build_model(self) -> TruForNet:
        return build_model(get_config(self.cfg.model.variant))

    def trainable_parameters(self, net: nn.Module) -> list[nn.Parameter]:
        return set_trainable(net, self.trainable)

    def datasets(self) -> tuple[Dataset, Dataset | None]:
        cfg = self.cfg
        crop = cfg.data.crop_size
        train = build_pair_dataset(cfg.data.train, crop, seed=cfg.train.seed, default_split="train",
                                   grid_aligned=cfg.data.grid_aligned_crops, where="data.train")
        if cfg.data.mirror > 0:
            train = Mirrored(train, cfg.data.mirror, seed=cfg.train.seed + 3_000_017)
        val = None
        if cfg.data.val:
            val = build_pair_dataset(cfg.data.val, cfg.data.val_crop_size or crop, seed=cfg.train.seed + 1_000_003,
                                     default_split="val", grid_aligned=cfg.data.grid_aligned_crops, fixed=True,
                                     where="data.val")
        self.summary = f"{len(train)} training items per epoch" + (f", {len(val)} validation items" if val else "")
        return train, val

    collate = staticmethod(collate_pairs)


class LocalizationPhase(PairPhase):
    """Phase 2 for the training loop (see :mod:`trufor.training.loop`)."""

    name = "localization"
    default_best_metric = "f1"
    trainable = ("backbone.", "decode_head.")
    #: whole images with an image-level label (``data.image_level``), and the one drawn for the current step
    image_level: WholeImages | None = None
    _whole: dict[str, Any] | None = None

    def datasets(self) -> tuple[Dataset, Dataset | None]:
        train, val = super().datasets()
        cfg = self.cfg
        self.image_level = None
        if cfg.data.image_level:
            self.image_level = build_image_level_dataset(cfg.data.image_level, cfg.data.image_level_max_side,
                                                         seed=cfg.train.seed + 2_000_029, mirror=cfg.data.mirror)
            n_fake = sum(im.label for im in self.image_level.images)
            self.summary += (f", {len(self.image_level)} whole images with an image-level label ({n_fake} fake), one "
                             f"every {cfg.train.image_level_every} steps")
        return train, val

    def begin_step(self, step: int) -> None:
        every = self.cfg.train.image_level_every
        self._whole = None
        if self.image_level is not None and step % every == 0:
            self._whole = self.image_level.draw(step // every)

    def forward(self, module: nn.Module, batch: dict[str, Tensor]) -> Any:
        out = module(batch["image"])
        if self._whole is None:
            return out
        return out, module(self._whole["image"].unsqueeze(0).to(batch["image"].device))

    def init_weights(self, net: TruForNet,
                     load_checkpoint: CheckpointReader = load_training_checkpoint) -> dict[str, Any]:
        m = self.cfg.model
        info: dict[str, Any] = {}
        if m.init:
            ckpt = load_checkpoint(m.init)
            if ckpt.get("phase") == "noiseprint":
                raise TrainingError(f"{m.init}: a phase-1 (noiseprint) checkpoint cannot be model.init of phase 2; "
                                    "give it as model.noiseprint_init (model.init is a phase-2 or phase-3 checkpoint, "
                                    "or a model exported by `trufor train export`)")
            load_weights(net, ckpt["model"], m.init, f"its weights do not fit variant {m.variant!r}")
            info["init"] = ckpt.get("provenance", {})
        else:
            decoders = [d for d in (net.decode_head, net.decode_head_conf, net.decode_head_det) if d is not None]
            for part in (net.backbone, *decoders):
                init_from_scratch(part)
            for head in decoders:  # small logits at the start
                nn.init.normal_(head.linear_pred.weight, 0.0, 0.01)
            if m.pretrained:
                from .pretrained import load_imagenet_encoder

                if m.pretrained != net.config.encoder:
                    raise TrainingError(f"model.pretrained is {m.pretrained!r} but variant {m.variant!r} has "
                                        f"encoder {net.config.encoder!r}")
                info["init"] = "decoders from scratch, both encoder branches from ImageNet weights"
                info["pretrained"] = load_imagenet_encoder(net.backbone, m.pretrained)
            else:
                info["init"] = "encoder and decoders from scratch (no pretrained weights)"
        if m.noiseprint_init:
            ckpt = load_checkpoint(m.noiseprint_init)
            sd = {k[len("dncnn."):]: v for k, v in ckpt["model"].items() if k.startswith("dncnn.")}
            if not sd:
                raise TrainingError(f"{m.noiseprint_init}: holds no Noiseprint++ (dncnn.*) weights")
            load_weights(net.dncnn, sd, m.noiseprint_init, f"its Noiseprint++ does not fit variant {m.variant!r}")
            info["noiseprint_init"] = ckpt.get("provenance", {})
        return info

    def trainable_parameters(self, net: nn.Module) -> list[nn.Parameter]:
        """The encoder and the localization decoder, and the Noiseprint++ extractor with ``train.noiseprint:
        trained``."""
        extra = ("dncnn.",) if self.cfg.train.noiseprint == "trained" else ()
        return set_trainable(net, (*self.trainable, *extra))

    def training_module(self, net: TruForNet) -> nn.Module:
        return LocalizationModule(net, train_noiseprint=self.cfg.train.noiseprint == "trained")

    def set_train_mode(self, net: TruForNet) -> None:
        net.train()
        net.dncnn.eval()

    def loss(self, out: Tensor | tuple[Tensor, Tensor], batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """The pair loss of the batch; on a step with a whole image (a pair ``(out, whole)``), plus
        ``loss.image_level_weight`` times its image-level loss (part ``image_level``)."""
        lc = self.cfg.loss
        whole = None
        if isinstance(out, tuple):
            out, whole = out
        loss, parts = localization_loss(out.float(), batch["mask"].to(out.device), ce_weight=lc.ce_weight,
                                        dice_weight=lc.dice_weight, class_weights=lc.class_weights,
                                        ignore_index=lc.ignore_index, smooth=lc.dice_smooth,
                                        exponent=lc.dice_exponent)
        if whole is not None and self._whole is not None:
            label = torch.tensor([self._whole["label"]], device=whole.device)
            term, _ = image_level_loss(whole.float(), label, lc.image_level_topk)
            loss = loss + lc.image_level_weight * term
            parts["image_level"] = float(term.detach())
        return loss, parts

    def validation_begin(self) -> None:
        self._losses: list[float] = []
        self._scores: list[dict[str, float]] = []

    @torch.no_grad()
    def validation_batch(self, net: TruForNet, batch: dict[str, Tensor], device: torch.device) -> None:
        logits = LocalizationModule(net)(batch["image"].to(device)).float()
        target = batch["mask"].to(device)
        loss, _ = self.loss(logits, batch)
        self._losses.append(float(loss))
        self._scores += mask_scores(logits.softmax(dim=1)[:, 1].cpu(), target.cpu())

    def validation_end(self) -> dict[str, float]:
        return {"loss": float(np.mean(self._losses)) if self._losses else float("nan"), **_mean_scores(self._scores)}


def _mean_scores(scores: list[dict[str, float]]) -> dict[str, float]:
    out = {}
    for key in ("f1", "f1_best", "iou", "pristine_fpr"):
        vals = [s[key] for s in scores if key in s]
        out[key] = float(np.mean(vals)) if vals else float("nan")
    return out
