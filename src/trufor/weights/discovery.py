"""Where weights come from: an explicit path, ``$TRUFOR_WEIGHTS``, the user cache, the bundled model."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import WeightsError

ENV_WEIGHTS = "TRUFOR_WEIGHTS"
ENV_CACHE = "TRUFOR_CACHE_DIR"

#: File names looked for in the cache folder, in order of preference.
CACHE_CANDIDATES = ("trufor.safetensors", "trufor.pth.tar")

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "bundled"


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
    """The model shipped inside the package, if this installation has one."""
    if BUNDLED_DIR.is_dir():
        files = sorted(BUNDLED_DIR.glob("*.safetensors"))
        if files:
            return files[0]
    return None


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
            return WeightsSource(cache / name, "cache")
    bundled = bundled_weights()
    if bundled is not None:
        return WeightsSource(bundled, "bundled")
    raise WeightsError(no_weights_message())
