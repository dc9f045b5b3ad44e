"""Re-fit the detection head on whole images (``trufor train fit-head``).

Phase 3 trains the detection head on random 256-px crops, but the model scores whole images: the
head's eight pooled statistics (soft minimum, soft maximum, mean and mean square of the confidence
logits and of the confidence-weighted localization logit; :meth:`DetectionHead.pool`) are then taken
over many more pixels, and a soft maximum over a 1-megapixel image is not distributed like one over a
crop. Crops also cannot use manipulated photos whose mask is unknown (a crop may miss the edit), though
the image-level label of the whole photo is exact.

Here the rest of the network is frozen and run once per image at full size; the head's input (its eight
statistics) is recorded for a fitting set of whole images, and the head (Linear 8->128, ReLU, Dropout,
Linear 128->1: the same shape, so the weights file keeps its format) is fitted to the image labels by
weighted logistic loss: each class weighs half and, within a class, each group of images (e.g. a data
folder) the same, so that a few hundred synthetic crops cannot outvote thirty real-life manipulations.
The features are standardised for the fit and the standardisation is folded exactly into the first
linear layer. ``folds`` > 1 first reports a cross-validated AUC on the fitting set (grouped by image),
for choosing the fitting settings without touching any held-out set.

The fitting set must be training-side data: never a benchmark, and not the calibration or held-out
parts of the data (calibrate afterwards with ``trufor train calibrate``, on its own part).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TrainingError, TruForError

#: The state-dict prefix of the detection head (``TruFor.detection``).
HEAD_PREFIX = "detection."


@dataclass
class PooledSet:
    """The detection head's inputs on a set of whole images."""

    features: np.ndarray  # (N, 8) float64
    labels: np.ndarray  # (N,) bool, True = manipulated
    groups: list[str]
    paths: list[str]

    def __len__(self) -> int:
        return len(self.paths)

    def extend(self, other: PooledSet) -> PooledSet:
        return PooledSet(np.concatenate([self.features, other.features]), np.concatenate([self.labels, other.labels]),
                         self.groups + other.groups, self.paths + other.paths)


#: The state-dict prefixes phase 3 trains (the confidence decoder, the detection decoder where there is one, and the
#: detection head).
PHASE3_PREFIXES = ("decode_head_conf.", "decode_head_det.", HEAD_PREFIX)


def trunk_digest(state_dict, exclude: tuple[str, ...] = (HEAD_PREFIX,)) -> str:
    """A digest of every tensor but those under ``exclude`` (default: the detection head's, so that equal
    digests give equal pooled statistics)."""
    h = hashlib.sha256()
    for key in sorted(state_dict):
        if key.startswith(exclude):
            continue
        t = state_dict[key].detach().to("cpu").contiguous()
        h.update(key.encode())
        h.update(str(t.dtype).encode())
        h.update((t.float() + 0.0).numpy().tobytes() if t.is_floating_point() else t.numpy().tobytes())  # -0.0 as 0.0
    return h.hexdigest()


def same_trunk(a, b) -> bool:
    """Whether two state dicts differ at most in what phase 3 trains (:data:`PHASE3_PREFIXES`): the networks
    then share Noiseprint++, encoder and localization decoder (what ``TruFor.score_heads`` needs)."""
    return trunk_digest(a, PHASE3_PREFIXES) == trunk_digest(b, PHASE3_PREFIXES)


def record_head_inputs(model, samples, module, read: Callable, *, width: int, what: str,
                       group: Callable[[str], str], cache: dict[str, np.ndarray] | None = None,
                       log: Callable[[str], None] | None = None, progress: Callable[[int, int], None] | None = None
                       ) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Run ``model`` (a :class:`trufor.TruFor`) on each usable sample and record ``read(inputs, output)`` (a vector of
    ``width`` numbers) of the one pass through ``module`` (a part of its detection head) per image.

    ``cache`` (image path -> vector) is read and filled, so an interrupted run resumes. An unreadable image is reported
    through ``log`` and left out. ``progress(n, total)`` is called as the n-th image starts. Returns the vectors
    (N, width) float64, the labels, groups and paths.

    Raises:
        TrainingError: not one pass per image, or a value that is not finite (``what`` names them).
    """
    captured: list[tuple] = []
    hook = module.register_forward_hook(lambda _m, inputs, output: captured.append((inputs, output)))
    rows, labels, groups, paths = [], [], [], []
    samples = [s for s in samples if not s.skip]
    try:
        for done, sample in enumerate(samples, 1):
            if progress:
                progress(done, len(samples))
            path = str(sample.image)
            if cache is not None and path in cache:
                row = cache[path]
            else:
                captured.clear()
                try:
                    model.analyze(sample.image, noiseprint=False)
                except TruForError as exc:
                    if log:
                        log(f"skipped: {exc}")
                    continue
                if len(captured) != 1:
                    raise TrainingError(f"{path}: expected one pass through the detection head, saw {len(captured)}")
                row = np.asarray(read(*captured[0]), dtype=np.float64).reshape(-1)
                if cache is not None:
                    cache[path] = row
            rows.append(row)
            labels.append(bool(sample.is_fake))
            groups.append(group(path))
            paths.append(path)
    finally:
        hook.remove()
    array = np.stack(rows).astype(np.float64) if rows else np.zeros((0, width))
    if not np.isfinite(array).all():
        raise TrainingError(f"some {what} are not finite")
    return array, np.asarray(labels, dtype=bool), groups, paths


def pooled_features(model, samples, *, group: Callable[[str], str], cache: dict[str, np.ndarray] | None = None,
                    log: Callable[[str], None] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> PooledSet:
    """Run ``model`` (a :class:`trufor.TruFor`) on each usable sample and record its head's eight inputs
    (:func:`record_head_inputs`: cached, unreadable images reported and left out)."""
    if model.net.config.detection_pool != "statistics":
        raise TrainingError(f"fit-head re-fits the pooled-statistics detection head; this model's head is "
                            f"{model.net.config.detection_pool!r} (two numbers: set them with trufor train calibrate)")
    return PooledSet(*record_head_inputs(
        model, samples, model.net.detection[0], lambda inputs, _o: inputs[0].detach().float().cpu().numpy(),
        width=8, what="pooled statistics", group=group, cache=cache, log=log, progress=progress))


def load_cache(path: str | os.PathLike, digest: str) -> dict[str, np.ndarray]:
    """The cached features of ``path`` when they were computed by a network of trunk ``digest``, else {}."""
    p = Path(path)
    if not p.exists():
        return {}
    with np.load(p, allow_pickle=False) as data:
        if str(data["digest"]) != digest:
            return {}
        return {str(k): v for k, v in zip(data["paths"], data["features"])}


def save_cache(path: str | os.PathLike, digest: str, cache: dict[str, np.ndarray]) -> None:
    """Write the feature cache atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp.npz")
    keys = sorted(cache)
    np.savez(tmp, digest=np.array(digest), paths=np.array(keys, dtype=str),
             features=np.stack([cache[k] for k in keys]) if keys else np.zeros((0, 8)))
    os.replace(tmp, p)


def record_sets(record: Callable, model, data: Sequence[tuple[str, str]], *, cache_path: str | os.PathLike | None,
                digest: str, log: Callable[[str], None] | None = None, every: int = 50):
    """Run ``record`` (:func:`pooled_features`, or :func:`trufor.training.top_head.mix_inputs`) over each
    ``(DATASET, ROOT)`` of ``data`` (a dataset spec as for ``trufor eval`` and the folder its paths are relative to),
    through the cache at ``cache_path`` (kept while ``digest``, the network's, is the same; saved every ``every``
    images, so a stopped run resumes). Each image's group is ``ROOT's name/its first two folders``. Returns the joined
    set and one note per dataset ("NAME (N images)")."""
    from ..evaluation.datasets import load_dataset
    from .calibration import group_of

    cache = load_cache(cache_path, digest) if cache_path else {}
    joined = None
    notes = []
    for spec, root in data:
        dataset = load_dataset(spec, root)
        label = Path(root).resolve().name

        def on_progress(i: int, n: int, name: str = dataset.name) -> None:
            if i % every == 0:
                if log:
                    log(f"{name}: image {i}/{n}")
                if cache_path:
                    save_cache(cache_path, digest, cache)

        part = record(model, dataset.samples, cache=cache, group=lambda p, r=root, n=label: f"{n}/{group_of(p, r)}",
                      log=log, progress=on_progress)
        if cache_path:
            save_cache(cache_path, digest, cache)
        joined = part if joined is None else joined.extend(part)
        notes.append(f"{dataset.name} ({len(part)} images)")
    if joined is None:
        raise TrainingError("no fitting set given")
    return joined, notes


def sample_weights(labels: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """Weights summing to 1: each class half, each group within a class the same share."""
    g = np.asarray(groups, dtype=object)
    w = np.zeros(len(labels))
    for cls in (True, False):
        members = labels == cls
        names = sorted(set(g[members]))
        for name in names:
            sel = members & (g == name)
            w[sel] = 0.5 / len(names) / sel.sum()
    return w


@dataclass(frozen=True)
class FitSettings:
    steps: int = 300
    lr: float = 1e-3
    weight_decay: float = 1e-2
    seed: int = 0


def _auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    from sklearn.metrics import roc_auc_score

    if labels.all() or (~labels).all():
        return float("nan")
    return float(roc_auc_score(labels.astype(int), scores, sample_weight=weights))


def fit_head(data: PooledSet, settings: FitSettings = FitSettings(), *, hidden: int = 128,
             dropout: float = 0.5) -> dict[str, "torch.Tensor"]:  # noqa: F821
    """Fit a fresh detection head (state dict with keys ``0.weight`` ... ``3.bias``) to ``data``."""
    import torch

    from ..modeling.detection import DetectionHead

    if min(int(data.labels.sum()), int((~data.labels).sum())) < 2:
        raise TrainingError(f"fitting the head needs at least 2 manipulated and 2 authentic images "
                            f"(got {int(data.labels.sum())} and {int((~data.labels).sum())})")
    x = data.features
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    with torch.random.fork_rng():  # the caller's random state is left as it was
        torch.manual_seed(settings.seed)
        head = DetectionHead(in_features=x.shape[1], hidden=hidden, dropout=dropout).double()
        xs = torch.from_numpy((x - mean) / std)
        y = torch.from_numpy(data.labels.astype(np.float64))
        w = torch.from_numpy(sample_weights(data.labels, data.groups))
        opt = torch.optim.AdamW(head.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        head.train()
        for _ in range(settings.steps):
            opt.zero_grad()
            logit = torch.nn.Sequential.forward(head, xs)  # the MLP on pooled statistics
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(logit[:, 0], y, reduction="none") * w).sum()
            loss.backward()
            opt.step()
    head.eval()
    sd = {k: v.detach().clone() for k, v in head.state_dict().items()}
    # Fold the standardisation into the first layer: W (x - m) / s + b = (W / s) x + (b - W m / s).
    scale = torch.from_numpy(1.0 / std)
    shift = torch.from_numpy(mean / std)
    w0 = sd["0.weight"]
    sd["0.bias"] = sd["0.bias"] - w0 @ shift
    sd["0.weight"] = w0 * scale[None, :]
    return {k: v.float() for k, v in sd.items()}


def head_logits(state: dict, features: np.ndarray) -> np.ndarray:
    """Logits of a head state dict (keys ``0.weight`` ... ``3.bias``) on pooled features (eval mode)."""
    import torch

    x = torch.from_numpy(np.asarray(features, dtype=np.float64))
    h = torch.relu(x @ state["0.weight"].double().T + state["0.bias"].double())
    return (h @ state["3.weight"].double().T + state["3.bias"].double())[:, 0].numpy()


def cross_validate(data: PooledSet, settings: FitSettings, folds: int = 5) -> float:
    """Out-of-fold AUC (weighted as the fit weighs the images) of heads fitted on the other folds."""
    rng = np.random.default_rng(settings.seed)
    order = rng.permutation(len(data))
    fold_of = np.empty(len(data), int)
    fold_of[order] = np.arange(len(data)) % folds
    scores = np.zeros(len(data))
    for k in range(folds):
        train = fold_of != k
        part = PooledSet(data.features[train], data.labels[train], [g for g, t in zip(data.groups, train) if t],
                         [p for p, t in zip(data.paths, train) if t])
        state = fit_head(part, settings)
        scores[~train] = head_logits(state, data.features[~train])
    return _auc(scores, data.labels, sample_weights(data.labels, data.groups))


def write_refitted(weights: str | os.PathLike, out: str | os.PathLike, state: dict, *, data_note: str,
                   half: bool = True) -> Path:
    """A copy of our weights file with the detection head replaced by ``state``."""
    from .calibration import rewrite_weights

    def replace(sd: dict) -> None:
        for key, value in state.items():
            full = HEAD_PREFIX + key
            if full not in sd or tuple(sd[full].shape) != tuple(value.shape):
                raise TrainingError(f"{weights}: no detection-head tensor {full} of shape {tuple(value.shape)}")
            sd[full] = value.float()

    return rewrite_weights(weights, out, replace, action="fit-head", half=half,
                           provenance_line=f"detection head re-fitted on whole images with `trufor train fit-head` "
                                           f"on {data_note}")


def describe(data: PooledSet, state: dict) -> str:
    """In-sample figures of a fitted head (before calibration), by group and class."""
    logits = head_logits(state, data.features)
    w = sample_weights(data.labels, data.groups)
    parts = [f"{len(data)} images ({int(data.labels.sum())} manipulated), weighted in-sample AUC "
             f"{_auc(logits, data.labels, w):.3f}"]
    groups = np.asarray(data.groups, dtype=object)
    for name in sorted(set(data.groups)):
        for cls, kind in ((True, "manipulated"), (False, "authentic")):
            sel = (groups == name) & (data.labels == cls)
            if sel.any():
                parts.append(f"{name}: {int(sel.sum())} {kind}, {float((logits[sel] >= 0).mean()):.2f} at >= 0.5")
    return "; ".join(parts)
