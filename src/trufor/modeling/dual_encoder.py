"""Dual-branch MiT encoder: one branch for RGB, one for Noiseprint++, rectified and fused per stage.

Module names follow the published TruFor checkpoint layout (``patch_embed1``, ``extra_block2``,
``FRMs.0``, ...) so that its weights load without any renaming: the ``extra_`` prefix marks the
Noiseprint++ branch.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .fusion import FeatureFusion, FeatureRectification
from .mit import BLOCK_NORM_EPS, OverlapPatchEmbed, TransformerBlock


@dataclass(frozen=True)
class MiTConfig:
    """Shape of a Mix Transformer encoder (one SegFormer variant b0..b5)."""

    embed_dims: tuple[int, int, int, int] = (64, 128, 320, 512)
    num_heads: tuple[int, int, int, int] = (1, 2, 5, 8)
    depths: tuple[int, int, int, int] = (3, 4, 6, 3)
    mlp_ratios: tuple[float, float, float, float] = (4.0, 4.0, 4.0, 4.0)
    sr_ratios: tuple[int, int, int, int] = (8, 4, 2, 1)
    qkv_bias: bool = True


#: The six SegFormer encoders; TruFor's published model uses ``mit_b2``.
MIT_VARIANTS: dict[str, MiTConfig] = {
    "mit_b0": MiTConfig(embed_dims=(32, 64, 160, 256), depths=(2, 2, 2, 2)),
    "mit_b1": MiTConfig(depths=(2, 2, 2, 2)),
    "mit_b2": MiTConfig(depths=(3, 4, 6, 3)),
    "mit_b3": MiTConfig(depths=(3, 4, 18, 3)),
    "mit_b4": MiTConfig(depths=(3, 8, 27, 3)),
    "mit_b5": MiTConfig(depths=(3, 6, 40, 3)),
}

_PATCH = ((7, 4), (3, 2), (3, 2), (3, 2))  # (kernel, stride) of each stage's patch embedding


class DualMiTEncoder(nn.Module):
    """Encode an RGB image and its Noiseprint++ together; return the fused maps of the 4 stages.

    Outputs have ``embed_dims[i]`` channels at 1/4, 1/8, 1/16 and 1/32 of the input resolution.
    """

    def __init__(self, config: MiTConfig = MiTConfig(), in_channels: int = 3) -> None:
        super().__init__()
        self.config = config
        dims = config.embed_dims
        for i in range(4):
            kernel, stride = _PATCH[i]
            cin = in_channels if i == 0 else dims[i - 1]
            for prefix in ("", "extra_"):
                setattr(self, f"{prefix}patch_embed{i + 1}", OverlapPatchEmbed(kernel, stride, cin, dims[i]))
                blocks = nn.ModuleList(
                    TransformerBlock(dims[i], config.num_heads[i], config.mlp_ratios[i], config.sr_ratios[i],
                                     qkv_bias=config.qkv_bias)
                    for _ in range(config.depths[i])
                )
                setattr(self, f"{prefix}block{i + 1}", blocks)
                setattr(self, f"{prefix}norm{i + 1}", nn.LayerNorm(dims[i], eps=BLOCK_NORM_EPS))
        self.FRMs = nn.ModuleList(FeatureRectification(d) for d in dims)
        self.FFMs = nn.ModuleList(FeatureFusion(d, h) for d, h in zip(dims, config.num_heads))

    def _run_stage(self, stage: int, prefix: str, x: Tensor) -> Tensor:
        tokens, h, w = getattr(self, f"{prefix}patch_embed{stage}")(x)
        for block in getattr(self, f"{prefix}block{stage}"):
            tokens = block(tokens, h, w)
        tokens = getattr(self, f"{prefix}norm{stage}")(tokens)
        return tokens.transpose(1, 2).reshape(x.shape[0], -1, h, w)

    def forward(self, rgb: Tensor, noiseprint: Tensor) -> list[Tensor]:
        outs = []
        x_rgb, x_np = rgb, noiseprint
        for i in range(4):
            x_rgb = self._run_stage(i + 1, "", x_rgb)
            x_np = self._run_stage(i + 1, "extra_", x_np)
            # The rectified features go on to the next stage; the fused ones go to the decoders.
            x_rgb, x_np = self.FRMs[i](x_rgb, x_np)
            outs.append(self.FFMs[i](x_rgb, x_np))
        return outs
