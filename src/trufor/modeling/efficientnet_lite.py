"""EfficientNet-Lite encoder (Tan & Le, 2019; the "Lite" edge variant of 2020) as a dual-branch TruFor encoder.

EfficientNet-Lite is EfficientNet without squeeze-and-excitation, with ReLU6 activations and a fixed
stem and head: a 3x3 stride-2 stem convolution, then seven stages of inverted-residual (MBConv)
blocks, each ``1x1 expand -> kxk depthwise -> 1x1 project`` with BatchNorm after every convolution
and a residual connection when the block keeps its shape. Lite0 (the smallest, 3.4 M parameters in
its feature stages) has these stages (expansion, kernel, stride, output channels, blocks)::

    1  e1 k3 s1  16  x1        stride 2
    2  e6 k3 s2  24  x2        stride 4    -> TruFor stage 1
    3  e6 k5 s2  40  x2        stride 8    -> TruFor stage 2
    4  e6 k3 s2  80  x3        stride 16
    5  e6 k5 s1 112  x3        stride 16   -> TruFor stage 3
    6  e6 k5 s2 192  x4        stride 32
    7  e6 k3 s1 320  x1        stride 32   -> TruFor stage 4

TruFor needs four feature maps at 1/4, 1/8, 1/16 and 1/32 of the input, as the MiT encoder gives:
they are the outputs of stages 2, 3, 5 and 7 (24, 40, 112 and 320 channels). The classifier head
(1x1 convolution to 1280 channels, pooling, fully connected) is not part of the encoder.

As in :class:`~trufor.modeling.dual_encoder.DualMiTEncoder`, one branch reads RGB and one (its module
names start with ``extra_``) reads Noiseprint++; after each of the four TruFor stages the two
branches rectify each other and a fusion module merges them into the map the decoders read.

Convolutions use symmetric padding ``k // 2`` (PyTorch style): with ImageNet weights trained under
TensorFlow's asymmetric "SAME" padding this shifts stride-2 layers by half a pixel, which fine-tuning
absorbs. BatchNorm eps is 1e-3, as in the TensorFlow original.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .fusion import FeatureFusion, FeatureRectification

#: BatchNorm eps of the TensorFlow EfficientNet models.
BN_EPS = 1e-3


@dataclass(frozen=True)
class MBConvStage:
    """One EfficientNet stage: ``repeats`` MBConv blocks; the first has the stride and the new width."""

    expand: int
    kernel: int
    stride: int
    out_channels: int
    repeats: int


@dataclass(frozen=True)
class EfficientNetLiteConfig:
    """Shape of an EfficientNet-Lite encoder.

    Attributes:
        stem_channels: output channels of the stem convolution.
        stages: the seven MBConv stages.
        taps: indices (0-based) of the stages whose outputs are TruFor's four feature maps.
        num_heads: heads of the cross attention of each of the four fusion modules.
    """

    stem_channels: int
    stages: tuple[MBConvStage, ...]
    taps: tuple[int, int, int, int]
    num_heads: tuple[int, int, int, int]

    @property
    def embed_dims(self) -> tuple[int, int, int, int]:
        """Channels of the four feature maps (1/4, 1/8, 1/16, 1/32)."""
        return tuple(self.stages[i].out_channels for i in self.taps)  # type: ignore[return-value]

    @property
    def num_blocks(self) -> int:
        return sum(s.repeats for s in self.stages)


#: Registered EfficientNet-Lite encoders (only Lite0, whose ImageNet weights we can check, for now).
EFFICIENTNET_LITE_VARIANTS: dict[str, EfficientNetLiteConfig] = {
    "efficientnet_lite0": EfficientNetLiteConfig(
        stem_channels=32,
        stages=(
            MBConvStage(1, 3, 1, 16, 1),
            MBConvStage(6, 3, 2, 24, 2),
            MBConvStage(6, 5, 2, 40, 2),
            MBConvStage(6, 3, 2, 80, 3),
            MBConvStage(6, 5, 1, 112, 3),
            MBConvStage(6, 5, 2, 192, 4),
            MBConvStage(6, 3, 1, 320, 1),
        ),
        taps=(1, 2, 4, 6),
        num_heads=(1, 1, 2, 5),
    ),
}


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    """Convolution without bias, BatchNorm, optional ReLU6 (index 0 conv, 1 bn, 2 activation)."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=BN_EPS),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-and-excitation (EfficientNet-Lite)."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = conv_bn(cin, mid, 1) if expand != 1 else nn.Identity()
        self.depthwise = conv_bn(mid, mid, kernel, stride, groups=mid)
        self.project = conv_bn(mid, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


def build_blocks(config: EfficientNetLiteConfig) -> tuple[nn.Sequential, nn.ModuleList, list[int]]:
    """The stem, the flat list of MBConv blocks, and the index of the last block of each stage."""
    stem = conv_bn(3, config.stem_channels, 3, stride=2)
    blocks: list[nn.Module] = []
    ends: list[int] = []
    cin = config.stem_channels
    for stage in config.stages:
        for r in range(stage.repeats):
            blocks.append(MBConv(cin, stage.out_channels, stage.expand, stage.kernel, stage.stride if r == 0 else 1))
            cin = stage.out_channels
        ends.append(len(blocks) - 1)
    return stem, nn.ModuleList(blocks), ends


class DualEfficientNetLiteEncoder(nn.Module):
    """Encode an RGB image and its Noiseprint++ with two EfficientNet-Lite branches, fused at four stages.

    Outputs have ``config.embed_dims[i]`` channels at 1/4, 1/8, 1/16 and 1/32 of the input (sides
    rounded up).
    """

    def __init__(self, config: EfficientNetLiteConfig) -> None:
        super().__init__()
        self.config = config
        self.stem, self.blocks, ends = build_blocks(config)
        self.extra_stem, self.extra_blocks, _ = build_blocks(config)
        # Block ranges [start, end) of the four TruFor stages.
        bounds = [ends[t] + 1 for t in config.taps]
        self._ranges = list(zip([0, *bounds[:-1]], bounds))
        dims = config.embed_dims
        self.FRMs = nn.ModuleList(FeatureRectification(d) for d in dims)
        self.FFMs = nn.ModuleList(FeatureFusion(d, h) for d, h in zip(dims, config.num_heads))

    def forward(self, rgb: Tensor, noiseprint: Tensor) -> list[Tensor]:
        outs = []
        x_rgb, x_np = self.stem(rgb), self.extra_stem(noiseprint)
        for i, (start, end) in enumerate(self._ranges):
            for j in range(start, end):
                x_rgb = self.blocks[j](x_rgb)
                x_np = self.extra_blocks[j](x_np)
            x_rgb, x_np = self.FRMs[i](x_rgb, x_np)
            outs.append(self.FFMs[i](x_rgb, x_np))
        return outs
