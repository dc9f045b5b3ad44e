"""A native low-precision copy of the dual encoder, for the opt-in ``--precision bf16`` (approximate).

Under autocast, every convolution and linear layer casts its float32 weights and inputs to bfloat16 on
each call, BatchNorm and LayerNorm run in float32 between them, and every layer converts its
activations to and from the layout oneDNN computes in. This copy removes all three costs for the
CPU: BatchNorm is folded into the convolution before it (in float32, then rounded once), the weights
are stored in ``dtype``, and the activations stay in ``dtype`` and channels-last from the stem to the
outputs (returned as float32, contiguous). Measured on a 2-core AVX-512 BF16 CPU on the EfficientNet-
Lite0 encoder at 1024x968: float32 1.15 s, autocast 0.51 s, this copy 0.32 s (docs/PERFORMANCE.md).

It is never used in the exact float32 default. Its deviation from float32 is of the order of
autocast's (``benchmarks/precision_split.py`` measures both on photos); normalisation layers run in
``dtype`` with float32 accumulation inside PyTorch's kernels.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A convolution equal (up to rounding) to ``bn(conv(x))`` in eval mode: any stride, groups, padding."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                      padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True,
                      padding_mode=conv.padding_mode)
    with torch.no_grad():
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    return fused.to(conv.weight.device)


def fold_sequential_batchnorms(module: nn.Module) -> int:
    """Fold, in place, every BatchNorm2d that directly follows a Conv2d inside an ``nn.Sequential`` of
    ``module`` (the folded BatchNorm becomes an Identity, so indices and names are kept). Returns how many."""
    folded = 0
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                seq[i] = fold_conv_bn(conv, bn)
                seq[i + 1] = nn.Identity()
                folded += 1
    return folded


class LowPrecisionEncoder(nn.Module):
    """``encoder(rgb, noiseprint)`` computed by a BatchNorm-folded, ``dtype``, channels-last copy (see module doc)."""

    def __init__(self, encoder: nn.Module, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        inner = copy.deepcopy(encoder).eval()
        self.folded = fold_sequential_batchnorms(inner)
        self.inner = inner.to(dtype).to(memory_format=torch.channels_last)
        self.dtype = dtype

    @torch.inference_mode()
    def forward(self, rgb: Tensor, noiseprint: Tensor) -> list[Tensor]:
        cl = torch.channels_last
        outs = self.inner(rgb.to(self.dtype).contiguous(memory_format=cl),
                          noiseprint.to(self.dtype).contiguous(memory_format=cl))
        return [o.float().contiguous() for o in outs]

    @classmethod
    def build(cls, encoder: nn.Module, dtype: torch.dtype = torch.bfloat16) -> LowPrecisionEncoder | None:
        """The copy, or ``None`` where this device or build cannot run the encoder in ``dtype`` (autocast then)."""
        try:
            device = next(encoder.parameters()).device
        except StopIteration:
            return None
        if device.type != "cpu":
            return None
        try:
            low = cls(encoder, dtype)
            g = torch.Generator().manual_seed(0)
            probe = torch.rand((1, 3, 64, 67), generator=g), torch.rand((1, 3, 64, 67), generator=g)
            outs = low(*probe)
        except (RuntimeError, TypeError) as err:  # e.g. no bf16 kernel for an op on this CPU or build
            log.debug("low-precision encoder unavailable: %s", err)
            return None
        return low if all(bool(torch.isfinite(o).all()) for o in outs) else None
