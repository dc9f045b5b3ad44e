"""TruFor network modules, one idea per file; :func:`build_model` assembles a registered variant."""

from __future__ import annotations

from typing import Any

from .trufor import TruForNet, TruForOutput
from .variants import OFFICIAL_VARIANT, VARIANTS, TruForConfig, get_config


def build_model(variant: str | TruForConfig = OFFICIAL_VARIANT, **overrides: Any) -> TruForNet:
    """A randomly initialised :class:`TruForNet` of a registered variant (or of a config)."""
    config = variant if isinstance(variant, TruForConfig) else get_config(variant, **overrides)
    return TruForNet(config)


__all__ = ["OFFICIAL_VARIANT", "VARIANTS", "TruForConfig", "TruForNet", "TruForOutput", "build_model", "get_config"]
