"""Phase 1: self-supervised training of the Noiseprint++ extractor on pristine photos only.

Each training item is one photo (the *anchor*) and the other photos of its camera model (EXIF make
and model; a photo without EXIF is a camera of its own). The item draws ``histories`` random editing
histories and ``offsets`` positions on the 8x8 grid; every (history, offset) pair is a class of
``patches`` patches, cut from the camera's photos at random places, edited with that history and
taken at that grid position. A batch holds the classes of several items; the loss
(:func:`~trufor.training.losses.fingerprint_contrastive_loss`) pulls together the fingerprints of a
class and pushes apart all others, among which those of the same photo with another history or grid
position: the extractor must encode camera, grid position and editing history, not content.

An editing history is the chain resize -> gamma -> contrast/brightness -> JPEG, each step present
with its probability and its parameter drawn uniformly from its range. It is applied to a window
around the patch, laid so that the final JPEG grid starts at the window's origin (and, without
resize, so does the camera's own JPEG and CFA grid): the patch's offset in the window is its grid
position.

With ``noiseprint.denoise_weight`` > 0 the denoising term stays after the warm start, as a residual
anchor: noisy copies of every other patch join each step's forward pass and ``denoise_weight`` x
their MSE is added to the contrastive loss. Without it the contrastive loss alone can drift to a
smoothed copy of the image (likely because content amplitude tells gamma and contrast histories
apart), which carries little for the localization network beside its RGB branch.

With ``noiseprint.denoise_steps`` > 0 the run starts as the original Noiseprint does, from a residual
denoiser: for those first steps white Gaussian noise (the same on the three channels, std drawn per
patch in ``denoise_sigma`` grey levels) is added to the patches and the extractor is trained to output
it (MSE, in units of 10 grey levels, so that fingerprints start at the scale the contrastive loss
works at). A randomly initialised DnCNN outputs almost nothing; this gives it a noise-residual
extractor to refine, on the same pristine patches, before the contrastive loss takes over.

Validation (held-out photos, fixed draws) reports ``pair_auc`` (same class vs different class),
``history_auc`` (patches of the same photo at the same grid position: same vs different history) and
``grid_auc`` (same photo and history: same vs different grid position), from pairwise fingerprint
distances. "Same photo" is the source photo of both patches, not only the same item: a class also
holds patches of the camera's other photos, and counting those as "same history" would mix camera
and content differences into the history figure. Beside them, ``baseline_*`` are the same AUCs of a
fixed 3x3 high-pass residual (:func:`highpass_residual`), the trivial fingerprint a trained extractor
has to beat: a plain denoiser residual scores about as well as it.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import Dataset

from ..errors import TrainingError
from ..imageio import read_image
from ..masks import HALF_RANGE, read_mask
from ..modeling.noiseprint import NoiseprintExtractor
from ..modeling.variants import get_config
from .checkpoint import load_training_checkpoint, load_weights
from .config import NoiseprintSection, TrainingConfig
from .data import Photo, build_photo_sources, item_rng, to_tensor_image
from .losses import contrastive_loss_from_distances, pairwise_sq_distances
from .phase_api import CheckpointReader, PhaseBase

#: Pixels of context kept around a patch before editing (resize kernels, JPEG blocks).
MARGIN = 8
#: Grey levels per unit of the denoising warm start's target (fingerprints start near unit scale).
DENOISE_UNIT = 10.0


# --------------------------------------------------------------------------------------- histories
@dataclass(frozen=True)
class History:
    """One editing history; None means the step is absent."""

    scale: float | None = None
    gamma: float | None = None
    contrast: float | None = None
    brightness: float | None = None
    quality: int | None = None

    def describe(self) -> str:
        parts = []
        if self.scale is not None:
            parts.append(f"resize x{self.scale:.2f}")
        if self.gamma is not None:
            parts.append(f"gamma {self.gamma:.2f}")
        if self.contrast is not None:
            parts.append(f"contrast x{self.contrast:.2f}")
        if self.brightness is not None:
            parts.append(f"brightness {self.brightness:+.2f}")
        if self.quality is not None:
            parts.append(f"JPEG q{self.quality}")
        return ", ".join(parts) or "none"


def draw_history(rng: np.random.Generator, cfg: NoiseprintSection) -> History:
    """A random history: each step present with its probability, parameter uniform in its range."""

    def maybe(prob: float, lo: float, hi: float) -> float | None:
        present = rng.random() < prob
        value = float(rng.uniform(lo, hi))
        return value if present else None

    scale = maybe(cfg.resize_prob, *cfg.resize_range)
    gamma = maybe(cfg.gamma_prob, *cfg.gamma_range)
    contrast = maybe(cfg.contrast_prob, *cfg.contrast_range)
    brightness = maybe(cfg.brightness_prob, *cfg.brightness_range)
    q = maybe(cfg.jpeg_prob, cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)
    return History(scale, gamma, contrast, brightness, None if q is None else min(int(q), cfg.jpeg_quality[1]))


def apply_history(pixels: np.ndarray, history: History) -> np.ndarray:
    """Edit a uint8 (H, W, 3) image with ``history``; returns uint8 (the size changes with resize)."""
    out = pixels
    if history.scale is not None:
        h, w = out.shape[:2]
        size = (max(1, round(w * history.scale)), max(1, round(h * history.scale)))
        interp = cv2.INTER_AREA if history.scale < 1 else cv2.INTER_CUBIC
        out = cv2.resize(out, size, interpolation=interp)
    if history.gamma is not None or history.contrast is not None or history.brightness is not None:
        x = out.astype(np.float32) / 255.0
        if history.gamma is not None:
            x = np.power(x, history.gamma)
        if history.contrast is not None:
            x = (x - 0.5) * history.contrast + 0.5
        if history.brightness is not None:
            x = x + history.brightness
        out = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
    if history.quality is not None:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=int(history.quality))
        buf.seek(0)
        with Image.open(buf) as im:
            out = np.asarray(im.convert("RGB"))
    return np.ascontiguousarray(out)


def edited_patch(rng: np.random.Generator, pixels: np.ndarray, history: History, offset: tuple[int, int],
                 size: int) -> np.ndarray:
    """A ``size`` patch of ``pixels`` edited by ``history`` at grid position ``offset`` = (dy, dx).

    A window whose origin is on the image's 8 px grid is cut, edited, and the patch taken at
    ``MARGIN + offset`` in it (``MARGIN`` is a multiple of 8). Images smaller than the window are
    mirrored up to it.
    """
    scale = history.scale or 1.0
    need = size + 8 + 2 * MARGIN  # edited window: margin + offset (< 8) + patch + margin
    src = int(math.ceil(need / scale)) + 2
    h, w = pixels.shape[:2]
    if h < src or w < src:
        pixels = np.pad(pixels, ((0, max(0, src - h)), (0, max(0, src - w)), (0, 0)), mode="symmetric")
        h, w = pixels.shape[:2]
    top = 8 * int(rng.integers(0, (h - src) // 8 + 1))
    left = 8 * int(rng.integers(0, (w - src) // 8 + 1))
    window = apply_history(pixels[top:top + src, left:left + src], history)
    dy, dx = offset
    y, x = MARGIN + dy, MARGIN + dx
    return np.ascontiguousarray(window[y:y + size, x:x + size])


# ----------------------------------------------------------------------------------------- dataset
class NoiseprintPatches(Dataset):
    """Phase-1 items: ``histories * offsets * patches`` edited patches around one anchor photo.

    Item ``i`` (photo ``i``) is a dict: ``patches`` float32 (K, 3, S, S) (uint8 / 256), ``cls``
    (K,) class within the item (history * offsets + offset), ``history`` (K,), ``offset`` (K,),
    ``source`` (K,) index of the photo each patch was cut from.
    Random in (seed, epoch, index) only; ``fixed`` (validation) ignores the epoch.
    """

    def __init__(self, photos: Sequence[Photo], cfg: NoiseprintSection, *, seed: int = 0, fixed: bool = False) -> None:
        self.photos = list(photos)
        self.cfg = cfg
        self.seed = int(seed)
        self.fixed = fixed
        self.epoch = 0
        groups: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(self.photos):
            groups[p.camera].append(i)
        self.group_of = [groups[p.camera] for p in self.photos]
        self.n_cameras = len(groups)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        cfg = self.cfg
        rng = item_rng(self.seed, 0 if self.fixed else self.epoch, index)
        histories = [draw_history(rng, cfg) for _ in range(cfg.histories)]
        offsets = [(int(k) // 8, int(k) % 8) for k in rng.choice(64, size=cfg.offsets, replace=False)]
        group = self.group_of[index]
        cache: dict[int, np.ndarray] = {}

        def photo(i: int) -> np.ndarray:
            if i not in cache:
                cache[i] = read_image(self.photos[i].path).pixels
            return cache[i]

        patches, cls, hist, offs, srcs = [], [], [], [], []
        for hi, history in enumerate(histories):
            for oi, offset in enumerate(offsets):
                for p in range(cfg.patches):
                    src = index if p == 0 or len(group) == 1 else group[int(rng.integers(len(group)))]
                    patches.append(to_tensor_image(edited_patch(rng, photo(src), history, offset, cfg.patch_size)))
                    cls.append(hi * cfg.offsets + oi)
                    hist.append(hi)
                    offs.append(oi)
                    srcs.append(src)
        return {
            "patches": torch.stack(patches),
            "cls": torch.tensor(cls, dtype=torch.long),
            "history": torch.tensor(hist, dtype=torch.long),
            "offset": torch.tensor(offs, dtype=torch.long),
            "source": torch.tensor(srcs, dtype=torch.long),
        }


def collate_patches(items: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Concatenate items; ``labels`` are classes unique over the batch, ``item`` the item of each patch."""
    n_cls = max(int(it["cls"].max()) + 1 for it in items)
    return {
        "image": torch.cat([it["patches"] for it in items]),
        "labels": torch.cat([it["cls"] + k * n_cls for k, it in enumerate(items)]),
        "item": torch.cat([torch.full_like(it["cls"], k) for k, it in enumerate(items)]),
        "history": torch.cat([it["history"] for it in items]),
        "offset": torch.cat([it["offset"] for it in items]),
        "source": torch.cat([it["source"] for it in items]),
    }


# ------------------------------------------------------------------------------------------- phase
class NoiseprintHolder(nn.Module):
    """Holds the extractor as ``dncnn`` so checkpoint keys read like TruForNet's (``dncnn.*``)."""

    def __init__(self, features: int, depth: int) -> None:
        super().__init__()
        self.dncnn = NoiseprintExtractor(features=features, depth=depth)

    def forward(self, image: Tensor) -> Tensor:
        return self.dncnn(image)


def pair_metrics(dist: Tensor, batch: dict[str, Tensor]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(labels, scores) of the pairs i < j of one batch for each AUC; score = -distance."""
    n = dist.shape[0]
    iu = torch.triu_indices(n, n, offset=1)
    i, j = iu[0], iu[1]
    score = (-dist[i, j]).cpu().numpy()
    same_cls = (batch["labels"][i] == batch["labels"][j]).numpy()
    same_item = (batch["item"][i] == batch["item"][j]).numpy()
    same_hist = (batch["history"][i] == batch["history"][j]).numpy()
    same_off = (batch["offset"][i] == batch["offset"][j]).numpy()
    same_photo = same_item & (batch["source"][i] == batch["source"][j]).numpy()
    out = {"pair_auc": (same_cls, score)}
    sel = same_photo & same_off
    out["history_auc"] = (same_hist[sel], score[sel])
    sel = same_photo & same_hist
    out["grid_auc"] = (same_off[sel], score[sel])
    return out


# ------------------------------------------------------------------------------------ camera probe
@dataclass
class CameraProbe:
    """Unedited patches of photos with a known camera model, on their own JPEG grid, for the camera AUCs.

    ``photo`` / ``camera``: index of each patch's photo and camera model; ``query``: the patch is from a
    held-out photo of a camera seen in training; ``unseen``: from a photo of a camera held out whole.
    The other patches are references: training photos of the queries' cameras (a held-out photo is
    compared with other photos of its camera, as a fingerprint would be used).
    """

    patches: Tensor
    photo: np.ndarray
    camera: np.ndarray
    query: np.ndarray
    unseen: np.ndarray
    photos: int
    cameras: int


def _probe_patch_positions(rng: np.random.Generator, shape: tuple[int, ...], size: int, count: int) -> list[tuple[int, int]]:
    h, w = shape[:2]
    return [(8 * int(rng.integers(0, max(0, h - size) // 8 + 1)), 8 * int(rng.integers(0, max(0, w - size) // 8 + 1)))
            for _ in range(count)]


def build_camera_probe(val_photos: Sequence[Photo], train_photos: Sequence[Photo], *, patches: int = 4,
                       size: int = 64, references: int = 3, seed: int = 0) -> CameraProbe | None:
    """The probe of held-out photos with a known camera (None when there is none).

    Patches sit on the 8 px grid of each photo (its camera's JPEG grid when uncropped or cropped on the
    grid), unedited; each photo's positions depend on its name and ``seed`` only.
    """
    import hashlib

    queries = [p for p in val_photos if p.known_camera]
    if not queries:
        return None
    seen = {p.camera for p in queries if not p.unseen_camera}
    by_camera: dict[str, list[Photo]] = defaultdict(list)
    for p in sorted(train_photos, key=lambda p: p.name):
        if p.camera in seen and len(by_camera[p.camera]) < references:
            by_camera[p.camera].append(p)
    chosen = [(p, not p.unseen_camera, p.unseen_camera) for p in queries]
    chosen += [(p, False, False) for cam in sorted(by_camera) for p in by_camera[cam]]
    camera_ids: dict[str, int] = {}
    tensors, photo, camera, query, unseen = [], [], [], [], []
    for k, (p, is_query, is_unseen) in enumerate(chosen):
        pixels = read_image(p.path).pixels
        if min(pixels.shape[:2]) < size:
            pad = [(0, max(0, size - pixels.shape[0])), (0, max(0, size - pixels.shape[1])), (0, 0)]
            pixels = np.pad(pixels, pad, mode="symmetric")
        digest = hashlib.sha1(f"{seed}:{p.name}".encode("utf-8")).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
        cam = camera_ids.setdefault(p.camera, len(camera_ids))
        for y, x in _probe_patch_positions(rng, pixels.shape, size, patches):
            tensors.append(to_tensor_image(np.ascontiguousarray(pixels[y:y + size, x:x + size])))
            photo.append(k)
            camera.append(cam)
            query.append(is_query)
            unseen.append(is_unseen)
    return CameraProbe(torch.stack(tensors), np.array(photo), np.array(camera), np.array(query, dtype=bool),
                       np.array(unseen, dtype=bool), len(chosen), len(camera_ids))


def camera_pair_scores(dist: Tensor, probe: CameraProbe) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(same camera, -distance) of the probe's pairs of patches from different photos.

    ``camera_auc``: pairs with a held-out photo of a seen camera on one side (the other: any other
    photo but an unseen camera's); ``camera_unseen_auc``: pairs of photos of unseen cameras.
    """
    n = dist.shape[0]
    i, j = torch.triu_indices(n, n, offset=1).numpy()
    score = (-dist[i, j]).cpu().numpy()
    other_photo = probe.photo[i] != probe.photo[j]
    same = probe.camera[i] == probe.camera[j]
    seen = other_photo & (probe.query[i] | probe.query[j]) & ~probe.unseen[i] & ~probe.unseen[j]
    unseen = other_photo & probe.unseen[i] & probe.unseen[j]
    return {"camera_auc": (same[seen], score[seen]), "camera_unseen_auc": (same[unseen], score[unseen])}


@torch.no_grad()
def camera_probe_metrics(extractor: nn.Module, probe: CameraProbe, *, border: int = 8, center: bool = True,
                         normalize: bool = False, device: torch.device | str = "cpu",
                         chunk: int = 64) -> dict[str, float]:
    """``camera_auc`` and ``camera_unseen_auc`` of ``extractor`` on ``probe``, and the same of the fixed
    high-pass residual (``baseline_camera_auc``, ``baseline_camera_unseen_auc``)."""
    was_training = extractor.training
    extractor.eval()
    try:
        fps = torch.cat([extractor(probe.patches[k:k + chunk].to(device)).float().cpu()
                         for k in range(0, len(probe.patches), chunk)])
    finally:
        extractor.train(was_training)
    out: dict[str, float] = {}
    for prefix, fp in (("", fps), ("baseline_", highpass_residual(probe.patches))):
        for key, (lab, score) in camera_pair_scores(pairwise_sq_distances(fp, border, center, normalize), probe).items():
            out[prefix + key] = auc(lab, score)
    return out


def highpass_residual(image: Tensor) -> Tensor:
    """A fixed, untrained fingerprint: the 3x3 second-difference residual of the grey image (N, 1, S, S).

    The reference for phase 1's validation AUCs: what an extractor gets without learning anything
    about cameras, histories or the grid (pairwise rankings do not depend on its scale).
    """
    kernel = image.new_tensor([[-1.0, 2.0, -1.0], [2.0, -4.0, 2.0], [-1.0, 2.0, -1.0]]).view(1, 1, 3, 3) / 4.0
    grey = image.float().mean(dim=1, keepdim=True) * 255.0
    return torch.nn.functional.conv2d(grey, kernel, padding=1)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC, NaN when one class is missing."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, scores))


class NoiseprintPhase(PhaseBase):
    """Phase 1 for the training loop (see :mod:`trufor.training.loop`)."""

    name = "noiseprint"
    default_best_metric = "pair_auc"

    def __init__(self, cfg: TrainingConfig) -> None:
        super().__init__(cfg)
        mc = get_config(cfg.model.variant)
        self.features, self.depth = mc.noiseprint_features, mc.noiseprint_depth

    # model
    def build_model(self) -> nn.Module:
        return NoiseprintHolder(self.features, self.depth)

    def init_weights(self, net: nn.Module,
                     load_checkpoint: CheckpointReader = load_training_checkpoint) -> dict[str, Any]:
        m = self.cfg.model
        if m.init:
            ckpt = load_checkpoint(m.init)
            sd = {k: v for k, v in ckpt["model"].items() if k.startswith("dncnn.")}
            if not sd:
                raise TrainingError(f"{m.init}: holds no Noiseprint++ (dncnn.*) weights")
            load_weights(net, sd, m.init, f"its Noiseprint++ does not fit variant {m.variant!r}")
            return {"init": ckpt.get("provenance", {})}
        return {"init": "random (no pretrained weights)"}

    # data
    def datasets(self) -> tuple[Dataset, Dataset | None]:
        cfg = self.cfg
        train_photos = build_photo_sources(cfg.data.train, default_split="train", where="data.train")
        train = NoiseprintPatches(train_photos, cfg.noiseprint, seed=cfg.train.seed)
        val = None
        if cfg.data.val:
            val_photos = build_photo_sources(cfg.data.val, default_split="val", where="data.val")
            val = NoiseprintPatches(val_photos, cfg.noiseprint, seed=cfg.train.seed + 1_000_003, fixed=True)
            nc = cfg.noiseprint
            self.probe = (build_camera_probe(val_photos, train_photos, patches=nc.probe_patches, size=nc.probe_size,
                                             references=nc.probe_references, seed=cfg.train.seed)
                          if nc.probe_patches > 0 else None)
        self.summary = (f"{len(train_photos)} training photos of {train.n_cameras} cameras"
                        + (f", {len(val.photos)} held-out photos" if val is not None else "")
                        + (f"; camera probe: {self.probe.photos} photos of {self.probe.cameras} cameras"
                           if self.probe is not None else ""))
        return train, val

    collate = staticmethod(collate_patches)
    probe: CameraProbe | None = None

    # steps
    step = 0

    def begin_step(self, step: int) -> None:
        """The denoising warm start covers the first steps."""
        self.step = int(step)

    @property
    def denoising(self) -> bool:
        return self.step < self.cfg.noiseprint.denoise_steps

    def _add_noise(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """``image`` + grey white Gaussian noise of per-patch std in ``denoise_sigma``; and the target."""
        lo, hi = self.cfg.noiseprint.denoise_sigma
        n = image.shape[0]
        sigma = torch.empty(n, 1, 1, 1).uniform_(lo, hi).to(image.device)
        noise = torch.randn(n, 1, *image.shape[-2:]).to(image.device) * sigma
        return image + noise / 255.0, noise / DENOISE_UNIT

    def forward(self, module: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        image = batch["image"]
        if self.denoising:
            image, batch["noise_target"] = self._add_noise(image)
        elif self.cfg.noiseprint.denoise_weight > 0:
            # the residual anchor: noisy copies of every other patch go through the same pass
            noisy, batch["noise_target"] = self._add_noise(image[::2])
            batch["clean_count"] = image.shape[0]
            image = torch.cat([image, noisy])
        return module(image)

    def _denoise_mse(self, out: Tensor, target: Tensor) -> Tensor:
        b = self.cfg.loss.border
        crop = (slice(None), slice(None), slice(b, -b or None), slice(b, -b or None))
        return torch.nn.functional.mse_loss(out.float()[crop], target[crop])

    def loss(self, out: Tensor, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        lc = self.cfg.loss
        target = batch.pop("noise_target", None)
        n_clean = batch.pop("clean_count", None)
        if target is not None and n_clean is None:  # warm start: the denoiser alone
            mse = self._denoise_mse(out, target)
            return mse, {"denoise": float(mse.detach())}
        fingerprints = out if n_clean is None else out[:n_clean]
        dist = pairwise_sq_distances(fingerprints.float(), lc.border, lc.center, lc.normalize)
        loss = contrastive_loss_from_distances(dist, batch["labels"].to(out.device), lc.temperature)
        parts = {"contrastive": float(loss.detach())}
        if n_clean is not None:
            mse = self._denoise_mse(out[n_clean:], target)
            parts["denoise"] = float(mse.detach())
            loss = loss + self.cfg.noiseprint.denoise_weight * mse
        return loss, parts

    # validation
    def validation_begin(self) -> None:
        self._pairs: dict[str, list] = defaultdict(list)
        self._losses: list[float] = []
        self._net: tuple[nn.Module, torch.device] | None = None

    @torch.no_grad()
    def validation_batch(self, net: nn.Module, batch: dict[str, Tensor], device: torch.device) -> None:
        lc = self.cfg.loss
        self._net = (net, device)
        out = net(batch["image"].to(device)).float()
        dist = pairwise_sq_distances(out, lc.border, lc.center, lc.normalize)
        self._losses.append(float(contrastive_loss_from_distances(dist, batch["labels"].to(device), lc.temperature)))
        for key, (lab, score) in pair_metrics(dist.cpu(), batch).items():
            self._pairs[key].append((lab, score))
        base = pairwise_sq_distances(highpass_residual(batch["image"]), lc.border, lc.center, lc.normalize)
        for key, (lab, score) in pair_metrics(base, batch).items():
            self._pairs[f"baseline_{key}"].append((lab, score))

    def validation_end(self) -> dict[str, float]:
        metrics = {"loss": float(np.mean(self._losses)) if self._losses else float("nan")}
        for key, parts in self._pairs.items():
            metrics[key] = auc(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        if self.probe is not None and self._net is not None:
            net, device = self._net
            metrics.update(camera_probe_metrics(net, self.probe, border=self.cfg.loss.border,
                                                center=self.cfg.loss.center, normalize=self.cfg.loss.normalize,
                                                device=device))
        return metrics


# ------------------------------------------------------------------------------------------ figure
def load_noiseprint(weights: str) -> NoiseprintExtractor:
    """Our Noiseprint++ from a phase-1 (or later) training checkpoint or one of our .safetensors files."""
    from pathlib import Path

    if Path(weights).suffix == ".safetensors":
        from ..weights import config_of, read_weights

        loaded = read_weights(weights)
        cfg = config_of(loaded)
        sd = loaded.state_dict
        features, depth = cfg.noiseprint_features, cfg.noiseprint_depth
    else:
        ckpt = load_training_checkpoint(weights)
        sd = ckpt["model"]
        mc = get_config(ckpt["config"]["model"]["variant"])
        features, depth = mc.noiseprint_features, mc.noiseprint_depth
    holder = NoiseprintHolder(features, depth)
    load_weights(holder, {k: v for k, v in sd.items() if k.startswith("dncnn.")}, weights,
                 "its Noiseprint++ does not fit its own variant")
    return holder.dncnn.eval()


@torch.no_grad()
def noiseprint_map(extractor: NoiseprintExtractor, pixels: np.ndarray) -> np.ndarray:
    """(H, W) float32 fingerprint of a uint8 RGB image."""
    x = to_tensor_image(pixels).unsqueeze(0)
    return extractor(x)[0, 0].numpy()


def noiseprint_figure(weights: str, image: str, out: str, mask: str | None = None, title: str | None = None) -> str:
    """Save a figure: the image | its Noiseprint++ (| the mask), for a visual check of phase 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pixels = read_image(image).pixels
    fp = noiseprint_map(load_noiseprint(weights), pixels)
    lo, hi = np.percentile(fp[34:-34, 34:-34] if min(fp.shape) > 100 else fp, [1, 99])
    panels = [("image", pixels, None), ("Noiseprint++", np.clip(fp, lo, hi), "gray")]
    if mask is not None:
        panels.append(("mask", read_mask(mask, HALF_RANGE).astype(np.float32), "gray"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4.5))
    for ax, (name, arr, cmap) in zip(axes, panels):
        ax.imshow(arr, cmap=cmap)
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(title or f"{image}\nweights: {weights}", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
