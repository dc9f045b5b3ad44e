"""Training TruFor in three phases (see docs/TRAINING.md).

1. ``noiseprint``: Noiseprint++ self-supervised on pristine photos (:mod:`.noiseprint_phase`);
2. ``localization``: encoder + localization decoder, Noiseprint++ frozen (:mod:`.localization_phase`);
3. ``confidence``: confidence decoder + detection head, all else frozen (:mod:`.confidence_phase`).

One YAML config per phase (:mod:`.config`), the table of phases (:mod:`.phases`; their protocol and
base class: :mod:`.phase_api`), one loop for all (:mod:`.loop`), the checkpoint format
(:mod:`.checkpoint`), devices and processes (:mod:`.runtime`), data sources in :mod:`.data`, losses in
:mod:`.losses`, and :mod:`.export` to write the final ``.safetensors``.

    >>> from trufor.training import load_config, train
    >>> result = train(load_config("configs/bundled_phase2.yaml", ["train.lr=0.01"]))
"""

from __future__ import annotations

from ..errors import TrainingError
from .checkpoint import load_training_checkpoint
from .config import ConfigError, TrainingConfig, config_from_dict, load_config
from .export import export_checkpoint
from .loop import TrainResult, train

__all__ = [
    "ConfigError",
    "TrainResult",
    "TrainingConfig",
    "TrainingError",
    "config_from_dict",
    "export_checkpoint",
    "load_config",
    "load_training_checkpoint",
    "train",
]
