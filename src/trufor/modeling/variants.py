"""Registry of TruFor model variants: every architecture knob in one frozen config.

``trufor_b2`` is the architecture of the authors' published checkpoint. The other MiT sizes keep the
same design with another encoder; smaller ones suit CPU-only training and a bundled default model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from .detection import TOP_REFERENCES
from .dual_encoder import MIT_VARIANTS, MiTConfig
from .efficientnet_lite import EFFICIENTNET_LITE_VARIANTS, EfficientNetLiteConfig


#: What the detection head can read (``TruForConfig.detection_pool``).
DETECTION_POOLS = ("statistics", "top_fraction", "top_fraction_statistics")


@dataclass(frozen=True)
class TruForConfig:
    """Architecture of a TruFor model.

    Attributes:
        encoder: encoder name: a MiT variant (``mit_b0`` .. ``mit_b5``, SegFormer's transformer, as in
            the paper) or an EfficientNet-Lite (``efficientnet_lite0``, a convolutional network with
            openly licensed ImageNet weights).
        decoder_dim: width of the two MLP decoder heads.
        noiseprint_features: channels of the Noiseprint++ DnCNN hidden layers.
        noiseprint_depth: convolutions in the DnCNN.
        loc_bn_eps: BatchNorm eps of the localization decoder (1e-3 in the official model).
        conf_bn_eps: BatchNorm eps of the confidence decoder (1e-5 in the official model).
        num_classes: localization classes (pristine, forged).
        detection_decoder: the detection head pools the logits of a decoder of its own (``decode_head_det``,
            shaped as the confidence decoder) instead of the confidence decoder's. In the paper's design the
            detection loss trains the confidence decoder too and decides what the confidence map becomes; with
            this decoder the confidence map learns from its own target only and the detector keeps its features.
        detection_pool: what the detection head reads: ``"statistics"`` (the paper's :class:`DetectionHead`: eight
            pooled statistics of the confidence and the confidence-weighted localization, then an MLP) or
            ``"top_fraction"`` (:class:`TopFractionHead`: an affine function of the mean forged-minus-pristine
            localization logit over the map's top ``detection_top_fraction`` of pixels; no detection decoder) or
            ``"top_fraction_statistics"`` (:class:`MixedHead`: a linear mix of both, the map's top and the
            statistics head's logit, whose statistics pool the detection decoder where there is one).
        detection_top_fraction: the fraction of pixels the ``"top_fraction"`` and ``"top_fraction_statistics"``
            heads average.
        detection_top_reference: what those heads measure the map's top from: ``"none"`` (its absolute level) or
            ``"median"`` (the top minus the image's median logit: a map raised all over is not evidence).
    """

    encoder: str = "mit_b2"
    decoder_dim: int = 512
    noiseprint_features: int = 64
    noiseprint_depth: int = 17
    loc_bn_eps: float = 1e-3
    conf_bn_eps: float = 1e-5
    num_classes: int = 2
    detection_decoder: bool = False
    detection_pool: str = "statistics"
    detection_top_fraction: float = 0.005
    detection_top_reference: str = "none"

    def __post_init__(self) -> None:
        if self.detection_pool not in DETECTION_POOLS:
            raise ValueError(f"detection_pool must be one of {', '.join(DETECTION_POOLS)}, got {self.detection_pool!r}")
        if not 0.0 < self.detection_top_fraction <= 1.0:
            raise ValueError(f"detection_top_fraction must be in (0, 1], got {self.detection_top_fraction}")
        if self.detection_top_reference not in TOP_REFERENCES:
            raise ValueError(f"detection_top_reference must be one of {', '.join(TOP_REFERENCES)}, "
                             f"got {self.detection_top_reference!r}")
        if self.detection_top_reference != "none" and self.detection_pool == "statistics":
            raise ValueError("detection_top_reference applies to the heads that read the map's top "
                             "(detection_pool top_fraction or top_fraction_statistics)")
        if self.detection_pool == "top_fraction" and self.detection_decoder:
            raise ValueError("the top_fraction detection head reads the localization only: no detection decoder")

    @property
    def encoder_config(self) -> MiTConfig | EfficientNetLiteConfig:
        """The encoder's shape (a :class:`MiTConfig` or an :class:`EfficientNetLiteConfig`)."""
        if self.encoder in MIT_VARIANTS:
            return MIT_VARIANTS[self.encoder]
        if self.encoder in EFFICIENTNET_LITE_VARIANTS:
            return EFFICIENTNET_LITE_VARIANTS[self.encoder]
        known = [*MIT_VARIANTS, *EFFICIENTNET_LITE_VARIANTS]
        raise ValueError(f"unknown encoder {self.encoder!r}; known: {', '.join(known)}")

    @property
    def mit(self) -> MiTConfig:
        """The MiT encoder's shape (an error for another encoder family)."""
        config = self.encoder_config
        if not isinstance(config, MiTConfig):
            raise ValueError(f"encoder {self.encoder!r} is not a MiT encoder")
        return config

    @property
    def embed_dims(self) -> tuple[int, int, int, int]:
        """Channels of the four fused feature maps the decoders read."""
        return self.encoder_config.embed_dims

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
    # Dual EfficientNet-Lite0 encoder, initialised from ImageNet for training; same Noiseprint++ as trufor_small.
    "trufor_lite0": TruForConfig(encoder="efficientnet_lite0", decoder_dim=128, noiseprint_features=32),
    # The same with a detection decoder of its own (the confidence decoder then serves the confidence map only).
    "trufor_lite0_detdec": TruForConfig(encoder="efficientnet_lite0", decoder_dim=128, noiseprint_features=32,
                                        detection_decoder=True),
    # The same network whose integrity score reads the map's top 0.5 % (the statistic of the image-level loss).
    "trufor_lite0_top": TruForConfig(encoder="efficientnet_lite0", decoder_dim=128, noiseprint_features=32,
                                     detection_pool="top_fraction"),
    # ... read as a contrast: the map's top minus the image's median logit.
    "trufor_lite0_top_contrast": TruForConfig(encoder="efficientnet_lite0", decoder_dim=128, noiseprint_features=32,
                                              detection_pool="top_fraction", detection_top_reference="median"),
    # The same network whose integrity score mixes the map's top and the pooled-statistics head's logit.
    "trufor_lite0_mixed": TruForConfig(encoder="efficientnet_lite0", decoder_dim=128, noiseprint_features=32,
                                       detection_pool="top_fraction_statistics"),
    # ... and with the statistics head pooling a detection decoder of its own.
    "trufor_lite0_detdec_mixed": TruForConfig(encoder="efficientnet_lite0", decoder_dim=128, noiseprint_features=32,
                                              detection_decoder=True, detection_pool="top_fraction_statistics"),
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
