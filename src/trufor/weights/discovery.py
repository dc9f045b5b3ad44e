"""Where weights come from: an explicit path, ``$TRUFOR_WEIGHTS``, the user cache, the bundled model.

The file names looked for in the cache and the bundled file come from the weights registry
(:mod:`trufor.weights.registry`). The authors' checkpoint found in the cache is checked against the
SHA-256 recorded when ``trufor weights download`` unpacked it: a file that no longer matches is an
error, one copied in by hand (no download record) is used with an :class:`UnverifiedWeightsWarning`.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import UnverifiedWeightsWarning, WeightsError
from .registry import BUNDLED_DIR, bundled, cache_file_names, official

ENV_WEIGHTS = "TRUFOR_WEIGHTS"
ENV_CACHE = "TRUFOR_CACHE_DIR"

#: File names looked for in the cache folder, in order of preference (from the registry).
CACHE_CANDIDATES = cache_file_names()

__all__ = ["BUNDLED_DIR", "CACHE_CANDIDATES", "ENV_CACHE", "ENV_WEIGHTS", "WeightsSource", "bundled_weights",
           "cache_dir", "find_weights", "no_weights_message"]


@dataclass(frozen=True)
class WeightsSource:
    """A weights file and how it was found (``argument``, ``environment``, ``cache`` or ``bundled``)."""

    path: Path
    origin: str


def cache_dir() -> Path:
    """Per-user cache folder: ``$TRUFOR_CACHE_DIR``, else the platform's cache folder + ``trufor``."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "trufor" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "trufor"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trufor"


def bundled_weights() -> Path | None:
    """The model shipped inside the package (the registry's bundled entry), if this installation has it."""
    path = bundled().bundled_path
    return path if path is not None and path.is_file() else None


def no_weights_message() -> str:
    """What to tell a user who has no weights at all."""
    return (
        "no TruFor weights found. Get the authors' weights (research / non-commercial licence) with "
        "`trufor weights download`, or pass --weights PATH (or set TRUFOR_WEIGHTS) to a trufor.pth.tar "
        f"or .safetensors file. Looked in: --weights, ${ENV_WEIGHTS}, {cache_dir()} "
        f"({', '.join(CACHE_CANDIDATES)}), bundled model."
    )


def find_weights(explicit: str | os.PathLike | None = None) -> WeightsSource:
    """Resolve the weights to use, in order: ``explicit``, ``$TRUFOR_WEIGHTS``, cache, bundled.

    An explicit or environment path that does not exist is an error (never silently replaced).
    """
    if explicit is not None and str(explicit) != "":
        path = Path(explicit).expanduser()
        if not path.exists():
            raise WeightsError(f"{path}: weights file not found (given with --weights)")
        return WeightsSource(path, "argument")
    env = os.environ.get(ENV_WEIGHTS)
    if env:
        path = Path(env).expanduser()
        if not path.exists():
            raise WeightsError(f"{path}: weights file not found (given by ${ENV_WEIGHTS})")
        return WeightsSource(path, "environment")
    cache = cache_dir()
    for name in CACHE_CANDIDATES:
        if (cache / name).is_file():
            if name == official().file_name:
                _check_official_checkpoint(cache / name)
            return WeightsSource(cache / name, "cache")
    bundled = bundled_weights()
    if bundled is not None:
        return WeightsSource(bundled, "bundled")
    raise WeightsError(no_weights_message())


def _check_official_checkpoint(path: Path) -> None:
    """Verify the authors' checkpoint found in the cache (see the module docstring)."""
    from .download import SIDECAR_NAME, verify_cached_checkpoint

    if not verify_cached_checkpoint(path.parent):
        warnings.warn(UnverifiedWeightsWarning(
            f"{path}: unverified weights: this checkpoint was not installed by `trufor weights download` (no "
            f"{SIDECAR_NAME} beside it), so it cannot be checked against the authors' archive; "
            "`trufor weights download --force` replaces it with a verified copy"), stacklevel=3)
