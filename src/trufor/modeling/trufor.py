"""The assembled TruFor network: Noiseprint++, dual encoder, two decoders and the detection head."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .decoder import MLPDecoderHead
from .detection import DetectionHead, MixedHead, TopFractionHead
from .dual_encoder import DualMiTEncoder, MiTConfig
from .efficientnet_lite import DualEfficientNetLiteEncoder
from .noiseprint import NoiseprintExtractor
from .variants import TruForConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TruForOutput(NamedTuple):
    """Raw outputs of :class:`TruForNet`, all logits at the input resolution.

    Attributes:
        loc_logits: (B, 2, H, W) localization logits (pristine, forged).
        conf_logits: (B, 1, H, W) confidence logits.
        det_logit: (B, 1) integrity (detection) logit.
        noiseprint: (B, 1, H, W) Noiseprint++ fingerprint.
        pooled_logits: (B, 1, H, W) the logits the detection head pooled with the localization: the detection
            decoder's (``TruForConfig.detection_decoder``), else ``conf_logits`` itself; None means ``conf_logits``.
            A caller that pools a part of the image again (outputs cropped after padding) pools these.
    """

    loc_logits: Tensor
    conf_logits: Tensor
    det_logit: Tensor
    noiseprint: Tensor
    pooled_logits: Tensor | None = None


class TruForNet(nn.Module):
    """TruFor forgery detection and localization network.

    With ``config.detection_decoder`` a third decoder feeds the detection head; with ``config.detection_pool ==
    "top_fraction"`` the head reads the localization's top pixels only, with ``"top_fraction_statistics"`` a mix of
    that and the pooled statistics (see :class:`TruForConfig`).

    Input: (B, 3, H, W) RGB pixels scaled as ``uint8 / 256`` (the official convention, not /255).
    Noiseprint++ reads this input as is; only the RGB branch is normalised with ImageNet statistics.
    """

    def __init__(self, config: TruForConfig = TruForConfig()) -> None:
        super().__init__()
        self.config = config
        dims = config.embed_dims
        encoder = config.encoder_config
        self.backbone: nn.Module = (DualMiTEncoder(encoder) if isinstance(encoder, MiTConfig)
                                    else DualEfficientNetLiteEncoder(encoder))
        self.decode_head = MLPDecoderHead(dims, config.num_classes, config.decoder_dim, bn_eps=config.loc_bn_eps)
        self.decode_head_conf = MLPDecoderHead(dims, 1, config.decoder_dim, bn_eps=config.conf_bn_eps)
        # the decoder whose logits the detection head pools, when not the confidence decoder's
        self.decode_head_det = (MLPDecoderHead(dims, 1, config.decoder_dim, bn_eps=config.conf_bn_eps)
                                if config.detection_decoder else None)
        self.detection: DetectionHead | TopFractionHead | MixedHead = (
            TopFractionHead(config.detection_top_fraction, reference=config.detection_top_reference)
            if config.detection_pool == "top_fraction"
            else MixedHead(config.detection_top_fraction, reference=config.detection_top_reference)
            if config.detection_pool == "top_fraction_statistics"
            else DetectionHead(in_features=8))
        self.dncnn = NoiseprintExtractor(features=config.noiseprint_features, depth=config.noiseprint_depth)
        self.register_buffer("rgb_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("rgb_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    # The parts of the forward pass, for callers that run or train some of them (the training
    # phases freeze some parts and call the others); ``forward`` is exactly their composition.
    def extract_noiseprint(self, image: Tensor) -> Tensor:
        """(B, 1, H, W) Noiseprint++ of a ``uint8 / 256`` image."""
        return self.dncnn(image)

    def features(self, image: Tensor, noiseprint: Tensor | None = None) -> list[Tensor]:
        """The dual encoder's four fused feature maps of a ``uint8 / 256`` image and its Noiseprint++
        (computed here when not given)."""
        if noiseprint is None:
            noiseprint = self.extract_noiseprint(image)
        rgb = (image - self.rgb_mean) / self.rgb_std
        return self.backbone(rgb, noiseprint.expand(-1, 3, -1, -1))

    def localize(self, feats: list[Tensor], size: tuple[int, int] | torch.Size) -> Tensor:
        """(B, 2, H, W) localization logits at ``size`` (H, W) from the encoder's feature maps."""
        return F.interpolate(self.decode_head(feats), size=size, mode="bilinear", align_corners=False)

    def confidence_logits(self, feats: list[Tensor], size: tuple[int, int] | torch.Size) -> Tensor:
        """(B, 1, H, W) confidence logits at ``size`` (H, W) from the encoder's feature maps."""
        return F.interpolate(self.decode_head_conf(feats), size=size, mode="bilinear", align_corners=False)

    def detection_logits(self, feats: list[Tensor], size: tuple[int, int] | torch.Size, conf_logits: Tensor) -> Tensor:
        """(B, 1, H, W) logits the detection head pools with the localization: the detection decoder's where the
        network has one (``config.detection_decoder``), else ``conf_logits`` (the confidence decoder's)."""
        if self.decode_head_det is None:
            return conf_logits
        return F.interpolate(self.decode_head_det(feats), size=size, mode="bilinear", align_corners=False)

    def detect(self, loc_logits: Tensor, conf_logits: Tensor) -> Tensor:
        """(B, 1) integrity logit from the localization logits and :meth:`detection_logits` (the detection head)."""
        return self.detection(loc_logits, conf_logits)

    def forward(self, image: Tensor, noiseprint: Tensor | None = None) -> TruForOutput:
        """Run the whole network. ``noiseprint`` may be given when computed elsewhere (e.g. in tiles)."""
        size = image.shape[-2:]
        if noiseprint is None:
            noiseprint = self.extract_noiseprint(image)
        feats = self.features(image, noiseprint)
        loc = self.localize(feats, size)
        conf = self.confidence_logits(feats, size)
        pooled = self.detection_logits(feats, size, conf)
        return TruForOutput(loc, conf, self.detect(loc, pooled), noiseprint, pooled)
