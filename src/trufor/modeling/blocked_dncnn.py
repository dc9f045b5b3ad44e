"""Noiseprint++ on CPU kept in oneDNN's blocked layout: the same bits as the plain DnCNN, faster.

PyTorch runs a CPU convolution with oneDNN in a blocked layout (16 channels innermost) and, for an
ordinary NCHW tensor, converts the activations into that layout and back around *every* layer. For
the DnCNN (17 full-resolution convolutions of 64 channels) those conversions cost about a third of
the time. Keeping the activations in oneDNN's layout between layers (``Tensor.to_mkldnn``) skips
them, and the convolutions are then the very same oneDNN kernels on the very same numbers.

BatchNorm is the one place where the two paths differ. PyTorch's CPU kernel computes, per channel,
``a = w / sqrt(var + eps)``, ``b = bias - mean * a`` and then ``y = fma(x, a, b)``; oneDNN computes
``(x - mean) * s + shift`` from its own ``s``. Handing oneDNN mean 0, variance 1, eps 0, scale ``a``
and shift ``b`` makes it compute ``fma(x, a, b)`` as well, on the same ``a`` and ``b``, so every
layer gives bit-identical output.

That equality rests on library internals (how each side rounds), which may differ on another CPU
or another PyTorch build. :meth:`BlockedNoiseprint.build` therefore runs both paths on a probe
image and returns ``None`` (callers keep the plain DnCNN) unless every output bit agrees.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

#: Ways to form the per-channel scale ``a`` from (var, eps) and weight; the first whose result
#: matches PyTorch's own BatchNorm bit for bit (checked on a probe) is used.
_SCALES: tuple[Callable[[Tensor, Tensor, Tensor], Tensor], ...] = (
    lambda var, eps, w: torch.rsqrt(var + eps) * w,
    lambda var, eps, w: (1.0 / torch.sqrt(var + eps)) * w,
)
#: Ways to form the shift ``b = bias - mean * a`` (fused multiply-add, or rounded product then add).
_SHIFTS: tuple[Callable[[Tensor, Tensor, Tensor], Tensor], ...] = (
    lambda bias, mean, a: torch.addcmul(bias, -mean, a),
    lambda bias, mean, a: bias - mean * a,
)


def _affine_terms(bn: nn.BatchNorm2d, scale_fn, shift_fn) -> tuple[Tensor, Tensor]:
    """PyTorch's per-channel ``a`` and ``b`` of an eval-mode BatchNorm (``y = fma(x, a, b)``)."""
    eps = torch.tensor(bn.eps, dtype=bn.running_var.dtype)
    weight = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
    bias = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_mean)
    a = scale_fn(bn.running_var, eps, weight)
    return a, shift_fn(bias, bn.running_mean, a)


class _BlockedConv(nn.Module):
    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if conv.groups != 1 or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise TypeError("only zero-padded, ungrouped convolutions")
        self.weight = conv.weight.detach().clone()
        self.bias = None if conv.bias is None else conv.bias.detach().clone().to_mkldnn()
        self.geometry = (list(conv.padding), list(conv.stride), list(conv.dilation))

    def forward(self, x: Tensor) -> Tensor:
        padding, stride, dilation = self.geometry
        return torch.mkldnn_convolution(x, self.weight, self.bias, padding, stride, dilation, 1)


class _BlockedBatchNorm(nn.Module):
    def __init__(self, bn: nn.BatchNorm2d, scale_fn, shift_fn) -> None:
        super().__init__()
        a, b = _affine_terms(bn, scale_fn, shift_fn)
        # oneDNN computes (x - mean) * scale / sqrt(var + eps) + shift: with these it is fma(x, a, b).
        self.terms = (a.to_mkldnn(), b.to_mkldnn(), torch.zeros_like(a).to_mkldnn(), torch.ones_like(a).to_mkldnn())

    def forward(self, x: Tensor) -> Tensor:
        a, b, zero, one = self.terms
        return torch.batch_norm(x, a, b, zero, one, False, 0.0, 0.0, False)


class _Relu(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.relu_(x)


#: PyTorch (2.x) runs a batch-1 CPU convolution with oneDNN only when its input has more elements
#: than this; smaller ones take PyTorch's own kernel, with other rounding.
ONEDNN_MIN_ELEMENTS = 20480


class _OneDNNNoiseprint:
    """What the DnCNN copies kept in oneDNN's layout share: their channels and where oneDNN applies."""

    plain: nn.Sequential
    in_channels: int
    out_channels: int

    def applies_to(self, height: int, width: int) -> bool:
        """Whether PyTorch would run the first layer of a whole ``height x width`` image in oneDNN."""
        return self.in_channels * height * width > ONEDNN_MIN_ELEMENTS


class BlockedNoiseprint(_OneDNNNoiseprint):
    """A DnCNN (:class:`~.noiseprint.NoiseprintExtractor`) evaluated in oneDNN's layout; dense in, dense out.

    Every convolution runs in oneDNN, as PyTorch runs them for any image above a few thousand pixels
    (:meth:`applies_to`); for such an image the result equals the plain DnCNN's on the whole image,
    also when it is computed tile by tile, whatever the tile size (PyTorch itself would switch
    kernels on small tiles). Build it with :meth:`build`, which checks bit-exactness.
    """

    def __init__(self, extractor: nn.Sequential, scale_fn=_SCALES[0], shift_fn=_SHIFTS[0]) -> None:
        modules = list(extractor)
        convs = [m for m in modules if isinstance(m, nn.Conv2d)]
        self.plain = extractor
        self.in_channels = convs[0].in_channels
        self.out_channels = convs[-1].out_channels
        self.layers: list[nn.Module] = []  # these hold oneDNN tensors: not parameters to save or move
        with torch.no_grad():
            for module in modules:
                if isinstance(module, nn.Conv2d):
                    self.layers.append(_BlockedConv(module))
                elif isinstance(module, nn.BatchNorm2d):
                    self.layers.append(_BlockedBatchNorm(module, scale_fn, shift_fn))
                elif isinstance(module, nn.ReLU):
                    self.layers.append(_Relu())
                else:
                    raise TypeError(f"unsupported DnCNN layer {type(module).__name__}")

    @torch.inference_mode()
    def __call__(self, x: Tensor) -> Tensor:
        h = x.float().contiguous().to_mkldnn()
        for layer in self.layers:
            h = layer(h)
        return h.to_dense()

    @classmethod
    @torch.inference_mode()
    def build(cls, extractor: nn.Sequential, probe_side: int = 96, seed: int = 0) -> BlockedNoiseprint | None:
        """The blocked form of ``extractor`` if it reproduces it bit for bit here, else ``None``.

        The check runs both on a seeded random image of about ``probe_side`` pixels square, large
        enough for PyTorch to use oneDNN (a few milliseconds).
        """
        if not torch.backends.mkldnn.is_available():
            return None
        first = next((m for m in extractor if isinstance(m, nn.Conv2d)), None)
        if first is None or first.weight.device.type != "cpu" or first.weight.dtype != torch.float32:
            return None
        gen = torch.Generator().manual_seed(seed)
        probe = torch.rand((1, first.in_channels, probe_side, probe_side + 3), generator=gen)
        expected = extractor.eval()(probe)
        for scale_fn in _SCALES:
            for shift_fn in _SHIFTS:
                try:
                    blocked = cls(extractor, scale_fn, shift_fn)
                    if torch.equal(blocked(probe), expected):
                        return blocked
                except (RuntimeError, TypeError) as err:  # an op oneDNN lacks here: keep the plain path
                    log.debug("blocked DnCNN unavailable: %s", err)
                    return None
        log.debug("blocked DnCNN differs from the plain one on this machine; using the plain one")
        return None


class LowPrecisionNoiseprint(_OneDNNNoiseprint):
    """The DnCNN in bfloat16 in oneDNN's blocked layout, for the opt-in ``--precision bf16`` (approximate).

    Built from a BatchNorm-folded copy (:func:`~.engine.fold_batchnorm`: convolutions with biases and
    ReLUs only), weights and activations in ``dtype``; the output is float32. Under plain autocast the
    DnCNN's convolutions run in bf16 too, but each layer converts to and from oneDNN's layout; kept in
    that layout it measured ~1.7x faster than autocast and ~2x faster than the exact float32 blocked
    DnCNN at 512x512 on an AVX-512 BF16 CPU (deviation of the fingerprint of the same order as autocast's).
    """

    def __init__(self, folded: nn.Sequential, dtype: torch.dtype = torch.bfloat16) -> None:
        self.plain = folded
        self.dtype = dtype
        convs = [m for m in folded if isinstance(m, nn.Conv2d)]
        self.in_channels = convs[0].in_channels
        self.out_channels = convs[-1].out_channels
        self.layers: list[tuple] = []
        with torch.no_grad():
            for module in folded:
                if isinstance(module, nn.Conv2d):
                    if module.groups != 1 or module.padding_mode != "zeros" or isinstance(module.padding, str):
                        raise TypeError("only zero-padded, ungrouped convolutions")
                    bias = None if module.bias is None else module.bias.detach().to(dtype)
                    self.layers.append(("conv", module.weight.detach().to(dtype), bias, list(module.padding),
                                        list(module.stride), list(module.dilation)))
                elif isinstance(module, nn.ReLU):
                    self.layers.append(("relu",))
                else:
                    raise TypeError(f"unsupported layer {type(module).__name__} (fold the BatchNorms first)")

    @torch.inference_mode()
    def __call__(self, x: Tensor) -> Tensor:
        h = x.to(self.dtype).contiguous().to_mkldnn()
        for layer in self.layers:
            if layer[0] == "conv":
                h = torch.mkldnn_convolution(h, layer[1], layer[2], layer[3], layer[4], layer[5], 1)
            else:
                h = torch.relu_(h)
        return h.to_dense().float()

    @classmethod
    @torch.inference_mode()
    def build(cls, folded: nn.Sequential, dtype: torch.dtype = torch.bfloat16) -> LowPrecisionNoiseprint | None:
        """The low-precision blocked DnCNN, or ``None`` where oneDNN cannot run it in ``dtype`` here."""
        if not torch.backends.mkldnn.is_available():
            return None
        first = next((m for m in folded if isinstance(m, nn.Conv2d)), None)
        if first is None or first.weight.device.type != "cpu":
            return None
        try:
            blocked = cls(folded, dtype)
            probe = torch.rand((1, first.in_channels, 64, 67), generator=torch.Generator().manual_seed(0))
            out = blocked(probe)
        except (RuntimeError, TypeError) as err:  # no bf16 kernels on this CPU or build: autocast instead
            log.debug("low-precision blocked DnCNN unavailable: %s", err)
            return None
        return blocked if bool(torch.isfinite(out).all()) else None
