"""Noiseprint++ extractor: a DnCNN that maps an RGB image to a one-channel noise fingerprint.

Layout (as published by the TruFor authors, and as their checkpoints store it): ``depth`` 3x3
convolutions with padding 1, ``features`` channels; the first convolution has a bias and a ReLU, the
middle ones have no bias, then BatchNorm and ReLU, the last one has a bias and no activation. The
modules are kept in one flat ``nn.Sequential`` so checkpoint keys read ``<prefix>.<index>.<param>``
(conv at 0, then conv/bn/relu triples, the last conv at ``3 * depth - 4``).
"""

from __future__ import annotations

from torch import Tensor, nn


class NoiseprintExtractor(nn.Sequential):
    """DnCNN fingerprint extractor (Noiseprint++).

    Args:
        in_channels: channels of the input image (3 for RGB).
        features: channels of every hidden layer (64 in the official model).
        depth: number of convolutions (17 in the official model).
        out_channels: channels of the fingerprint (1).
        bn_eps: BatchNorm epsilon (PyTorch default 1e-5, as in the official model).
    """

    def __init__(
        self,
        in_channels: int = 3,
        features: int = 64,
        depth: int = 17,
        out_channels: int = 1,
        bn_eps: float = 1e-5,
    ) -> None:
        if depth < 2:
            raise ValueError(f"depth must be at least 2, got {depth}")
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, features, 3, padding=1, bias=True),
            nn.ReLU(inplace=True),
        ]
        for _ in range(depth - 2):
            layers += [
                nn.Conv2d(features, features, 3, padding=1, bias=False),
                nn.BatchNorm2d(features, eps=bn_eps),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Conv2d(features, out_channels, 3, padding=1, bias=True))
        super().__init__(*layers)
        self.features = features
        self.depth = depth
        self.out_channels = out_channels

    @property
    def receptive_radius(self) -> int:
        """Pixels of context on each side that one output pixel depends on (one per 3x3 layer)."""
        return self.depth

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102 - nn.Sequential semantics
        return super().forward(x)
