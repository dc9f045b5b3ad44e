"""Cross-modal rectification and fusion of RGB and Noiseprint++ features (CMX, Zhang et al. 2023).

After every encoder stage the two branches first *rectify* each other (each branch adds the other's
features, weighted per channel and per pixel), then a *fusion* module merges them into the one
feature map the decoders read: a cross-attention path exchanges global context between branches,
and a channel embedding mixes the concatenation back to ``dim`` channels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ChannelWeights(nn.Module):
    """Per-channel weights (B, C) for each branch, from global average and max pooling of both."""

    def __init__(self, dim: int, reduction: int = 1) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(
            nn.Linear(4 * dim, 4 * dim // reduction),
            nn.ReLU(inplace=True),
            nn.Linear(4 * dim // reduction, 2 * dim),
            nn.Sigmoid(),
        )

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        both = torch.cat((x1, x2), dim=1).flatten(2)
        pooled = torch.cat((both.mean(dim=-1), both.amax(dim=-1)), dim=1)
        w = self.mlp(pooled)[:, :, None, None]
        return w[:, : self.dim], w[:, self.dim :]


class SpatialWeights(nn.Module):
    """Per-pixel weights (B, 1, H, W) for each branch, from 1x1 convolutions of both."""

    def __init__(self, dim: int, reduction: int = 1) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Conv2d(2 * dim, dim // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim // reduction, 2, 1),
            nn.Sigmoid(),
        )

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        w = self.mlp(torch.cat((x1, x2), dim=1))
        return w[:, 0:1], w[:, 1:2]


class FeatureRectification(nn.Module):
    """Each branch plus the other branch weighted by channel and spatial weights (lambda 0.5 each)."""

    def __init__(self, dim: int, reduction: int = 1, lambda_c: float = 0.5, lambda_s: float = 0.5) -> None:
        super().__init__()
        self.lambda_c = lambda_c
        self.lambda_s = lambda_s
        self.channel_weights = ChannelWeights(dim, reduction)
        self.spatial_weights = SpatialWeights(dim, reduction)

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        c1, c2 = self.channel_weights(x1, x2)
        s1, s2 = self.spatial_weights(x1, x2)
        # Branch 1 receives branch 2 through the second half of the weights, and vice versa.
        out1 = x1 + self.lambda_c * c2 * x2 + self.lambda_s * s2 * x2
        out2 = x2 + self.lambda_c * c1 * x1 + self.lambda_s * s1 * x1
        return out1, out2


class CrossAttention(nn.Module):
    """Efficient cross attention: a (C/h x C/h) context per head from one branch queried by the other.

    The context is ``softmax over keys' channels of (K^T V * scale)``; its cost is linear in the
    number of tokens, so it runs on every stage at full token resolution.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.kv1 = nn.Linear(dim, 2 * dim, bias=False)
        self.kv2 = nn.Linear(dim, 2 * dim, bias=False)

    def _heads(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def _context(self, kv: nn.Linear, x: Tensor) -> Tensor:
        b, n, c = x.shape
        k, v = kv(x).reshape(b, n, 2, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        return ((k.transpose(-2, -1) @ v) * self.scale).softmax(dim=-2)

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        b, n, c = x1.shape
        ctx1 = self._context(self.kv1, x1)
        ctx2 = self._context(self.kv2, x2)
        out1 = (self._heads(x1) @ ctx2).transpose(1, 2).reshape(b, n, c)
        out2 = (self._heads(x2) @ ctx1).transpose(1, 2).reshape(b, n, c)
        return out1, out2


class CrossPath(nn.Module):
    """Split each branch into a private half and a half exchanged by cross attention; residual + LN."""

    def __init__(self, dim: int, num_heads: int, reduction: int = 1, norm_eps: float = 1e-5) -> None:
        super().__init__()
        inner = dim // reduction
        self.channel_proj1 = nn.Linear(dim, 2 * inner)
        self.channel_proj2 = nn.Linear(dim, 2 * inner)
        self.cross_attn = CrossAttention(inner, num_heads)
        self.end_proj1 = nn.Linear(2 * inner, dim)
        self.end_proj2 = nn.Linear(2 * inner, dim)
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        y1, u1 = torch.relu(self.channel_proj1(x1)).chunk(2, dim=-1)
        y2, u2 = torch.relu(self.channel_proj2(x2)).chunk(2, dim=-1)
        v1, v2 = self.cross_attn(u1, u2)
        out1 = self.norm1(x1 + self.end_proj1(torch.cat((y1, v1), dim=-1)))
        out2 = self.norm2(x2 + self.end_proj2(torch.cat((y2, v2), dim=-1)))
        return out1, out2


class ChannelEmbed(nn.Module):
    """Merge the concatenated branches (2*dim channels) to ``dim``: 1x1 residual + conv path, BN."""

    def __init__(self, in_channels: int, out_channels: int, reduction: int = 1, bn_eps: float = 1e-5) -> None:
        super().__init__()
        mid = out_channels // reduction
        self.residual = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.channel_embed = nn.Sequential(
            nn.Conv2d(in_channels, mid, 1),
            nn.Conv2d(mid, mid, 3, padding=1, groups=mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_channels, 1),
            nn.BatchNorm2d(out_channels, eps=bn_eps),
        )
        self.norm = nn.BatchNorm2d(out_channels, eps=bn_eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.residual(x) + self.channel_embed(x))


class FeatureFusion(nn.Module):
    """Fuse the two rectified branches of one stage into a single (B, dim, H, W) feature map."""

    def __init__(self, dim: int, num_heads: int, reduction: int = 1) -> None:
        super().__init__()
        self.cross = CrossPath(dim, num_heads, reduction)
        self.channel_emb = ChannelEmbed(2 * dim, dim, reduction)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        b, c, h, w = x1.shape
        t1, t2 = self.cross(x1.flatten(2).transpose(1, 2), x2.flatten(2).transpose(1, 2))
        merged = torch.cat((t1, t2), dim=-1).transpose(1, 2).reshape(b, 2 * c, h, w)
        return self.channel_emb(merged)
