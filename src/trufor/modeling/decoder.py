"""All-MLP decoder head of SegFormer: project each stage, upsample to 1/4, fuse, predict."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class TokenProjection(nn.Module):
    """A linear layer applied to every pixel of a (B, C, H, W) map, returned as (B, H*W, D) tokens."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x.flatten(2).transpose(1, 2))


class MLPDecoderHead(nn.Module):
    """Decode the four fused encoder maps into ``num_classes`` logits at 1/4 of the input resolution.

    Args:
        in_channels: channels of the four encoder stages.
        num_classes: output channels (2 for localization, 1 for confidence).
        embed_dim: width of the decoder (512 in the official TruFor model).
        bn_eps: eps of the fusion BatchNorm. The official localization head uses 1e-3 and the
            confidence head the PyTorch default 1e-5; checkpoints do not store it.
        dropout: Dropout2d rate before the prediction (training only).
    """

    def __init__(
        self,
        in_channels: tuple[int, ...] | list[int],
        num_classes: int,
        embed_dim: int = 512,
        bn_eps: float = 1e-5,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        c1, c2, c3, c4 = in_channels
        self.linear_c4 = TokenProjection(c4, embed_dim)
        self.linear_c3 = TokenProjection(c3, embed_dim)
        self.linear_c2 = TokenProjection(c2, embed_dim)
        self.linear_c1 = TokenProjection(c1, embed_dim)
        self.linear_fuse = nn.Sequential(
            nn.Conv2d(4 * embed_dim, embed_dim, 1),
            nn.BatchNorm2d(embed_dim, eps=bn_eps),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.linear_pred = nn.Conv2d(embed_dim, num_classes, 1)

    def forward(self, feats: list[Tensor]) -> Tensor:
        c1 = feats[0]
        b, _, h, w = c1.shape
        parts = []
        for proj, f in zip((self.linear_c4, self.linear_c3, self.linear_c2, self.linear_c1), feats[::-1]):
            x = proj(f).transpose(1, 2).reshape(b, -1, f.shape[2], f.shape[3])
            if x.shape[-2:] != (h, w):
                x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
            parts.append(x)
        x = self.linear_fuse(torch.cat(parts, dim=1))
        return self.linear_pred(self.dropout(x))
