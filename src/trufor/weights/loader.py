"""One way from a weights file to a ready network: read -> config -> build -> load."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import WeightsError
from ..modeling import TruForNet, build_model
from ..modeling.variants import TruForConfig, variant_name
from .checkpoint import LoadedWeights, config_of, load_into, read_weights
from .registry import display_name


@dataclass
class LoadedNetwork:
    """A built :class:`TruForNet` holding the weights of a file, with what is known about them."""

    net: TruForNet
    weights: LoadedWeights  # the file's tensors, format and metadata (provenance, licence, ...)

    @property
    def config(self) -> TruForConfig:
        return self.net.config

    @property
    def path(self) -> Path:
        return Path(self.weights.path)

    @property
    def metadata(self) -> dict[str, Any]:
        return self.weights.metadata

    @property
    def variant(self) -> str:
        """The registered variant name, or ``custom <encoder>``."""
        return variant_name(self.config) or f"custom {self.config.encoder}"

    def display_name(self, origin: str = "argument") -> str:
        """The name shown in outputs (see :func:`trufor.weights.registry.display_name`)."""
        return display_name(self.variant, origin=origin, fmt=self.weights.format, path=self.path,
                            metadata=self.metadata)


def load_network(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> LoadedNetwork:
    """Read the weights file ``path`` (any format :func:`read_weights` accepts), recover its
    architecture, build that network and load the tensors strictly; the network is in eval mode
    on ``device``.

    Raises:
        WeightsError: unreadable or unsafe file, unknown architecture, mismatching tensors, or a
            Noiseprint++-only checkpoint (not a whole TruFor model).
    """
    loaded = read_weights(path)
    if loaded.format == "noiseprint":
        raise WeightsError(f"{path}: holds only Noiseprint++ weights, not a whole TruFor model")
    net = build_model(config_of(loaded))
    load_into(net, loaded.state_dict, loaded.path)
    return LoadedNetwork(net.to(device).eval(), loaded)
