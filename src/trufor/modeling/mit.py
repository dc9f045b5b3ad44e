"""Building blocks of the Mix Transformer (MiT) encoder of SegFormer (Xie et al., NeurIPS 2021).

A stage is: overlapping patch embedding (strided convolution + LayerNorm), a stack of transformer
blocks whose self-attention reduces the key/value grid by a strided convolution (``sr_ratio``) and
whose feed-forward network has a 3x3 depthwise convolution (Mix-FFN), then a final LayerNorm.
Tokens are kept as (B, N, C) with the grid size passed alongside.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: LayerNorm eps inside transformer blocks and at the end of each stage (MiT uses 1e-6 there).
BLOCK_NORM_EPS = 1e-6
#: LayerNorm eps of the patch embeddings and of the spatial-reduction norm (PyTorch default).
DEFAULT_NORM_EPS = 1e-5


class OverlapPatchEmbed(nn.Module):
    """Strided convolution with overlapping windows, flattened to tokens, then LayerNorm."""

    def __init__(self, patch_size: int, stride: int, in_channels: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, patch_size, stride=stride, padding=patch_size // 2)
        self.norm = nn.LayerNorm(embed_dim, eps=DEFAULT_NORM_EPS)

    def forward(self, x: Tensor) -> tuple[Tensor, int, int]:
        x = self.proj(x)
        h, w = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        return self.norm(x), h, w


#: bytes of one block of the attention matrix in :func:`low_precision_attention`
ATTENTION_BLOCK_BYTES = 16 << 20


def low_precision_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """``softmax(q k^T / sqrt(d)) v`` in blocks of query rows, for bf16 / fp16 inference on CPU.

    There PyTorch's fused attention kernel gains nothing over float32 (measured: the same time at the
    first MiT-b2 stage of a 1 MP image), while two matrix products in bf16 run ~1.4x faster than it. The
    attention matrix is formed one block of rows at a time (:data:`ATTENTION_BLOCK_BYTES`), so memory stays
    bounded on large photos. Never used in float32, nor where gradients are recorded.
    """
    b, heads, n, d = q.shape
    m = k.shape[-2]
    rows = max(1, ATTENTION_BLOCK_BYTES // max(1, b * heads * m * q.element_size()))
    kt = k.transpose(-1, -2) * (d ** -0.5)
    out = q.new_empty(b, heads, n, v.shape[-1])
    for start in range(0, n, rows):
        scores = torch.matmul(q[:, :, start:start + rows], kt)
        out[:, :, start:start + rows] = torch.matmul(torch.softmax(scores, dim=-1), v)
    return out


class EfficientSelfAttention(nn.Module):
    """Multi-head self-attention whose keys and values come from a grid reduced ``sr_ratio`` times."""

    def __init__(self, dim: int, num_heads: int, sr_ratio: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.sr_ratio = sr_ratio
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio, stride=sr_ratio)
            self.norm = nn.LayerNorm(dim, eps=DEFAULT_NORM_EPS)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        b, n, c = x.shape
        heads = self.num_heads
        q = self.q(x).reshape(b, n, heads, c // heads).transpose(1, 2)
        if self.sr_ratio > 1:
            grid = x.transpose(1, 2).reshape(b, c, h, w)
            x = self.norm(self.sr(grid).flatten(2).transpose(1, 2))
        k, v = self.kv(x).reshape(b, -1, 2, heads, c // heads).permute(2, 0, 3, 1, 4)
        # Scaled dot-product attention (scale = head_dim ** -0.5): memory-efficient kernels never
        # build the whole N x M attention matrix, which matters for large photos.
        if q.dtype in (torch.bfloat16, torch.float16) and q.device.type == "cpu" and not torch.is_grad_enabled():
            out = low_precision_attention(q, k, v)
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class MixFFN(nn.Module):
    """Feed-forward network with a 3x3 depthwise convolution between its two linear layers.

    ``band_bytes`` (None by default) bounds the memory of the hidden activations, which are 4x wider
    than the tokens: rows of the token grid are then processed in bands with one row of halo for the
    3x3 convolution, which gives the same result as the whole grid at once.
    """

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.dwconv = DepthwiseConv(hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.band_bytes: int | None = None

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        rows = h if self.band_bytes is None else max(1, self.band_bytes // (4 * self.fc1.out_features * w * x.shape[0]))
        if rows >= h:
            return self.fc2(self.act(self.dwconv(self.fc1(x), h, w)))
        out = x.new_empty(x.shape)
        for r0 in range(0, h, rows):
            r1 = min(h, r0 + rows)
            a, b = max(0, r0 - 1), min(h, r1 + 1)  # one halo row each side (zero padding at the grid edge)
            hidden = self.dwconv(self.fc1(x[:, a * w : b * w]), b - a, w)
            keep = hidden[:, (r0 - a) * w : (r1 - a) * w]
            out[:, r0 * w : r1 * w] = self.fc2(self.act(keep))
        return out


class DepthwiseConv(nn.Module):
    """3x3 depthwise convolution applied to a token sequence laid out on an h x w grid."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        b, n, c = x.shape
        x = self.dwconv(x.transpose(1, 2).reshape(b, c, h, w))
        return x.flatten(2).transpose(1, 2)


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + ffn(norm2(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, sr_ratio: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=BLOCK_NORM_EPS)
        self.attn = EfficientSelfAttention(dim, num_heads, sr_ratio, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=BLOCK_NORM_EPS)
        self.mlp = MixFFN(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        x = x + self.attn(self.norm1(x), h, w)
        return x + self.mlp(self.norm2(x), h, w)
