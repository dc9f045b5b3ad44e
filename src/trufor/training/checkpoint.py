"""The training checkpoint format: ``last.pt`` (resume) and ``best.pt`` (the model to export).

A checkpoint is a torch file of plain tensors and Python values, read back with
``weights_only=True``::

    format          "trufor-training-checkpoint"      version    1
    kind            "last" | "best"                   phase      noiseprint | localization | confidence
    config          the run's config (TrainingConfig.to_dict())
    step, epoch, batch_in_epoch, total_steps          where the run stands (see Progress)
    history         one dict per finished epoch (the rows of metrics.csv)
    best_metric, best_value, epoch_sums               the best checkpoint so far; the running sums of the epoch
    provenance      phase, variant, command, git commit, data, init_info (the chain of earlier phases), ...
    model           state dict of the phase's network
    optimizer       (last.pt only) the optimiser's state dict

Only files written here, and ``.safetensors`` models exported by ``trufor train export``, are
accepted as ``model.init`` / ``model.noiseprint_init`` (the authors' Noiseprint++ or TruFor weights
are refused: our models are trained from our own weights only).
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import TrainingError, TruForError
from ..weights.registry import OWN_WEIGHTS_LICENCE_PREFIXES
from .config import TrainingConfig, config_from_dict

CHECKPOINT_FORMAT = "trufor-training-checkpoint"
CHECKPOINT_VERSION = 1
#: File names of the two checkpoints of a run, in its output folder.
LAST, BEST = "last.pt", "best.pt"


# ---------------------------------------------------------------------------------------- writing
def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file in the same folder, flushed, then renamed over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def plain(obj: Any) -> Any:
    """``obj`` with only built-in Python values (what ``torch.load(weights_only=True)`` accepts)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj if type(obj) in (bool, int, float, str, type(None)) else type(obj)(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return obj.item()
    return str(obj)


@dataclass
class Progress:
    """Where a run stands: what a checkpoint keeps so that a resumed run computes the same steps."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    total_steps: int | None = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: str = ""
    best_value: float | None = None
    epoch_sums: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of_checkpoint(cls, ckpt: Mapping[str, Any]) -> Progress:
        """The progress stored in a checkpoint written by :func:`checkpoint_state`."""
        return cls(step=int(ckpt["step"]), epoch=int(ckpt["epoch"]), batch_in_epoch=int(ckpt["batch_in_epoch"]),
                   total_steps=ckpt.get("total_steps"), history=list(ckpt.get("history", [])),
                   best_metric=ckpt.get("best_metric", ""), best_value=ckpt.get("best_value"),
                   epoch_sums=dict(ckpt.get("epoch_sums", {})))


def checkpoint_state(kind: str, cfg: TrainingConfig, progress: Progress, provenance: Mapping[str, Any],
                     model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    """The checkpoint of a run (``kind`` "last" or "best"), ready for :func:`atomic_torch_save`."""
    p = progress
    state = plain({
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "kind": kind,
        "phase": cfg.phase, "config": cfg.to_dict(),
        "step": p.step, "epoch": p.epoch, "batch_in_epoch": p.batch_in_epoch, "total_steps": p.total_steps,
        "history": p.history, "best_metric": p.best_metric, "best_value": p.best_value,
        "epoch_sums": p.epoch_sums,
        "provenance": {**provenance, "steps": p.step, "saved": _dt.datetime.now().isoformat(timespec="seconds")},
    })
    state["model"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    return state


# ---------------------------------------------------------------------------------------- reading
def load_training_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by ``trufor train`` (safely: ``weights_only=True``).

    A ``.safetensors`` file exported by ``trufor train export`` (the bundled model among them) is
    accepted too, as a checkpoint of the phase it was exported from: that is how a model of ours is
    fine-tuned on new data. Anything else, the authors' weights and files converted from them
    included, is refused: phases start from our own weights only.
    """
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: checkpoint not found (run the previous phase first)")
    if path.suffix == ".safetensors":
        return _exported_weights_checkpoint(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise TrainingError(f"{path}: not a readable training checkpoint ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(obj, dict) or obj.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path}: not a checkpoint written by `trufor train`; training starts only from "
                            "our own checkpoints (never from the authors' Noiseprint++ or TruFor weights)")
    return obj


def _exported_weights_checkpoint(path: Path) -> dict[str, Any]:
    """An exported weights file of ours, as the part of a training checkpoint that initialisation reads."""
    import hashlib

    from ..weights import read_weights

    try:
        loaded = read_weights(path)
    except TruForError as exc:
        raise TrainingError(str(exc)) from None
    meta = loaded.metadata
    phase = meta.get("training_phase")
    if phase not in ("localization", "confidence") or not str(meta.get("licence", "")).startswith(
            OWN_WEIGHTS_LICENCE_PREFIXES):
        raise TrainingError(f"{path}: not a model exported by `trufor train export`; training starts only from "
                            "our own weights (never from the authors' TruFor weights or files converted from them)")
    variant = str(meta.get("variant", ""))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    steps = meta.get("training_steps", "?")
    return {
        "format": CHECKPOINT_FORMAT, "phase": phase, "step": steps,
        "config": {"model": {"variant": variant}},
        "model": loaded.state_dict,
        "provenance": {
            "phase": phase, "variant": variant, "steps": steps,
            "description": f"exported weights file {path.name} (sha256 {digest})",
            "command": "trufor train export", "exported_provenance": loaded.provenance,
            "exported_licence": str(meta.get("licence", "")),
        },
    }


def config_of_checkpoint(ckpt: Mapping[str, Any]) -> TrainingConfig:
    """The training config stored in a checkpoint."""
    return config_from_dict(ckpt["config"])


def check_resumable(ckpt: Mapping[str, Any], cfg: TrainingConfig, path: str | os.PathLike) -> None:
    """A :class:`TrainingError` unless ``ckpt`` (``path``) is a run of the same phase and variant as ``cfg``."""
    old = ckpt.get("config", {})
    if old.get("phase") != cfg.phase or old.get("model", {}).get("variant") != cfg.model.variant:
        raise TrainingError(f"{path}: a {old.get('phase')} run of {old.get('model', {}).get('variant')}, "
                            f"not {cfg.phase} of {cfg.model.variant}; use another output.dir or delete it")


# ------------------------------------------------------------------------------------ weights
def _shape(t: Any) -> str:
    return "x".join(str(d) for d in getattr(t, "shape", ())) or "scalar"


def mismatch_summary(module: nn.Module, state_dict: Mapping[str, Any]) -> str:
    """What keeps ``state_dict`` from loading into ``module``: missing, unexpected and resized tensors."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    resized = [k for k in own if k in state_dict and tuple(own[k].shape) != tuple(getattr(state_dict[k], "shape", ()))]
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensor(s) missing, e.g. {', '.join(missing[:2])}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected, e.g. {', '.join(unexpected[:2])}")
    if resized:
        k = resized[0]
        parts.append(f"{len(resized)} of another shape, e.g. {k}: {_shape(state_dict[k])} in the file, "
                     f"{_shape(own[k])} here")
    return "; ".join(parts) or "incompatible tensors"


def load_weights(module: nn.Module, state_dict: Mapping[str, Any], source: str | os.PathLike, what: str) -> None:
    """``module.load_state_dict(state_dict, strict=True)``, or a :class:`TrainingError` naming ``source``
    and saying which tensors do not fit (``what``: e.g. "its weights do not fit variant 'trufor_small'")."""
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError:
        own, given = set(module.state_dict()), set(state_dict)
        hint = ""
        if any(k.startswith("decode_head_det.") for k in given - own):
            hint = "; the file has a detection decoder: choose a variant with one (e.g. trufor_lite0_detdec)"
        elif any(k.startswith("decode_head_det.") for k in own - given):
            hint = "; the variant has a detection decoder and the file none: choose the variant without it"
        raise TrainingError(f"{source}: {what} ({mismatch_summary(module, state_dict)}){hint}") from None
