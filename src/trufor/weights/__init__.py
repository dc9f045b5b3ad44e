"""Weights: the registry of known weights, safe reading of the official checkpoint and of our
safetensors format, loading a network, discovery, download."""

from .checkpoint import (
    LoadedWeights,
    config_of,
    convert_official,
    infer_config,
    load_into,
    read_weights,
    save_safetensors,
)
from .discovery import WeightsSource, bundled_weights, cache_dir, find_weights
from .loader import LoadedNetwork, load_network
from .registry import REGISTRY, PretrainedWeights, get_weights

__all__ = [
    "REGISTRY",
    "LoadedNetwork",
    "LoadedWeights",
    "PretrainedWeights",
    "WeightsSource",
    "bundled_weights",
    "cache_dir",
    "config_of",
    "convert_official",
    "find_weights",
    "get_weights",
    "infer_config",
    "load_into",
    "load_network",
    "read_weights",
    "save_safetensors",
]
