"""What the training loop asks of a phase: the :class:`Phase` protocol, and :class:`PhaseBase`, the
base class of the three phases, which gives the optional hooks their defaults.

A phase chooses the network, its initial weights and what is trained (the rest stays frozen), the
data, the forward pass and the loss, and its validation metrics; the loop (:mod:`.loop`) does the
rest (schedule, checkpoints, resume, devices, reporting). The table of phases is
:data:`trufor.training.phases.PHASES`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from .config import TrainingConfig

#: Reads a checkpoint named in the config (``model.init`` ...): :func:`.checkpoint.load_training_checkpoint`.
CheckpointReader = Callable[[str], dict[str, Any]]


@runtime_checkable
class Phase(Protocol):
    """One training phase, as the loop drives it (per step: ``set_train_mode``, ``begin_step``,
    ``forward``, ``loss``; per validation: ``validation_begin``, ``validation_batch``..., ``validation_end``)."""

    #: the phase's name in configs (``phase:``)
    name: str
    #: the validation metric that picks ``best.pt`` unless ``val.best_metric`` says otherwise
    default_best_metric: str
    #: one line about the data, set by :meth:`datasets`
    summary: str
    #: stacks the dataset's items into a batch (a dict of tensors with at least ``image``)
    collate: Callable[[list[Any]], dict[str, Tensor]]

    def build_model(self) -> nn.Module:
        """The phase's network, randomly initialised."""
        ...

    def init_weights(self, net: nn.Module, load_checkpoint: CheckpointReader = ...) -> dict[str, Any]:
        """Initialise a new run's ``net`` (from ``model.init`` etc.); returns what it did (provenance)."""
        ...

    def trainable_parameters(self, net: nn.Module) -> list[nn.Parameter]:
        """The parameters the optimiser updates (the others are frozen)."""
        ...

    def training_module(self, net: nn.Module) -> nn.Module:
        """The module that :meth:`forward` calls (wrapped in DistributedDataParallel with several ranks)."""
        ...

    def set_train_mode(self, net: nn.Module) -> None:
        """Train/eval mode of each part before a step (frozen parts stay in eval mode)."""
        ...

    def datasets(self) -> tuple[Dataset, Dataset | None]:
        """The training and validation datasets (validation None when there are no ``data.val``)."""
        ...

    def begin_step(self, step: int) -> None:
        """Called before each step (0-based) with its number: for losses that change along the schedule."""
        ...

    def forward(self, module: nn.Module, batch: dict[str, Tensor]) -> Any:
        """The step's forward pass (under autocast when ``train.amp``)."""
        ...

    def loss(self, out: Any, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """The loss to minimise and its parts (reported per epoch)."""
        ...

    def validation_begin(self) -> None: ...

    def validation_batch(self, net: nn.Module, batch: dict[str, Tensor], device: torch.device) -> None: ...

    def validation_end(self) -> dict[str, float]:
        """The validation metrics of the pass (``loss`` and the phase's own)."""
        ...


class PhaseBase:
    """Base class of the phases: the config, and the defaults of the optional hooks (the whole
    network trained in train mode, called on ``batch["image"]``, nothing to do before a step)."""

    name = ""
    default_best_metric = "loss"

    def __init__(self, cfg: TrainingConfig) -> None:
        self.cfg = cfg
        self.summary = ""

    def trainable_parameters(self, net: nn.Module) -> list[nn.Parameter]:
        return list(net.parameters())

    def training_module(self, net: nn.Module) -> nn.Module:
        return net

    def set_train_mode(self, net: nn.Module) -> None:
        net.train()

    def begin_step(self, step: int) -> None:
        """Nothing by default."""

    def forward(self, module: nn.Module, batch: dict[str, Tensor]) -> Any:
        return module(batch["image"])

