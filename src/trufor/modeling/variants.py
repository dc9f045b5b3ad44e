"""Registry of TruFor model variants: every architecture knob in one frozen config.

``trufor_b2`` is the architecture of the authors' published checkpoint. The other MiT sizes keep the
same design with another encoder; smaller ones suit CPU-only training and a bundled default model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from .dual_encoder import MIT_VARIANTS, MiTConfig


@dataclass(frozen=True)
class TruForConfig:
    """Architecture of a TruFor model.

    Attributes:
        encoder: MiT variant name (``mit_b0`` .. ``mit_b5``).
        decoder_dim: width of the two MLP decoder heads.
        noiseprint_features: channels of the Noiseprint++ DnCNN hidden layers.
        noiseprint_depth: convolutions in the DnCNN.
        loc_bn_eps: BatchNorm eps of the localization decoder (1e-3 in the official model).
        conf_bn_eps: BatchNorm eps of the confidence decoder (1e-5 in the official model).
        num_classes: localization classes (pristine, forged).
    """

    encoder: str = "mit_b2"
    decoder_dim: int = 512
    noiseprint_features: int = 64
    noiseprint_depth: int = 17
    loc_bn_eps: float = 1e-3
    conf_bn_eps: float = 1e-5
    num_classes: int = 2

    @property
    def mit(self) -> MiTConfig:
        """The encoder's shape."""
        try:
            return MIT_VARIANTS[self.encoder]
        except KeyError:
            raise ValueError(f"unknown encoder {self.encoder!r}; known: {', '.join(MIT_VARIANTS)}") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, stored in our weight files' metadata."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TruForConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error so a typo never goes unnoticed."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**data)


VARIANTS: dict[str, TruForConfig] = {
    "trufor_b2": TruForConfig(),
    "trufor_b0": TruForConfig(encoder="mit_b0", decoder_dim=256),
    "trufor_b1": TruForConfig(encoder="mit_b1", decoder_dim=256),
    "trufor_b3": TruForConfig(encoder="mit_b3", decoder_dim=512),
    "trufor_b4": TruForConfig(encoder="mit_b4", decoder_dim=512),
    "trufor_b5": TruForConfig(encoder="mit_b5", decoder_dim=512),
    # Small model for CPU training and the bundled default: MiT-b0 and a thinner Noiseprint++.
    "trufor_small": TruForConfig(encoder="mit_b0", decoder_dim=128, noiseprint_features=32),
}

#: The architecture of the authors' published weights.
OFFICIAL_VARIANT = "trufor_b2"


def get_config(name: str, **overrides: Any) -> TruForConfig:
    """The config of a registered variant, optionally with some fields replaced."""
    try:
        config = VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown TruFor variant {name!r}; known: {', '.join(VARIANTS)}") from None
    return replace(config, **overrides) if overrides else config


def variant_name(config: TruForConfig) -> str | None:
    """The registered name of ``config``, or None if it matches no variant."""
    for name, known in VARIANTS.items():
        if known == config:
            return name
    return None
