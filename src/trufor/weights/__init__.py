"""Weights: safe reading of the official checkpoint and of our safetensors format, discovery, download."""

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

__all__ = [
    "LoadedWeights",
    "WeightsSource",
    "bundled_weights",
    "cache_dir",
    "config_of",
    "convert_official",
    "find_weights",
    "infer_config",
    "load_into",
    "read_weights",
    "save_safetensors",
]
