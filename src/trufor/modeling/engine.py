"""Exact, memory-lean evaluation of a :class:`TruForNet` for inference on photos of any size.

The same function as ``TruForNet.forward`` (differences are float rounding only, far below the parity
tolerances), computed so that peak memory grows about linearly with the pixels:

* **Noiseprint++ in tiles.** The DnCNN is a stack of 3x3 convolutions, so an output pixel depends on
  ``depth`` pixels of context on each side. Tiles that overlap by that halo, cut from the image (the
  image border keeps its zero padding), reproduce the whole-image result bit for bit. On CPU the
  tiles run in oneDNN's blocked layout (:mod:`.blocked_dncnn`), which skips two layout conversions
  per layer and is checked at load time to give the same bits.
  Folding BatchNorm into the convolutions and a channels-last layout are faster on CPU but change the
  rounding: with the official weights the fingerprint then moves by ~5e-4, beyond the 1e-4 parity
  tolerance (the float32 DnCNN itself is only within ~2e-4 of a float64 evaluation), so both are
  opt-in (``fast_noiseprint=True``), never the default.
* **Decoders fused at low resolution.** Each stage's token projection and its slice of the fusion
  convolution are linear maps, and bilinear upsampling is linear with weights summing to one, so they
  commute: each stage is projected straight to the decoder width *at its own resolution* (one
  matrix), BatchNorm is folded in, and only then upsampled and summed. The upsampling and the rest of
  the head run in bands of rows, so the 1/4-resolution, 512-channel tensor is never whole in memory.
* **Encoder feed-forward layers in bands.** Their hidden activations (4x the token width) are formed
  a band of token rows at a time, with one halo row for the 3x3 depthwise convolution.
* **Attention** uses ``scaled_dot_product_attention`` (no N x M matrix), in :mod:`.mit`.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..allocator import heap_reuse
from .blocked_dncnn import BlockedNoiseprint, LowPrecisionNoiseprint, _OneDNNNoiseprint
from .decoder import MLPDecoderHead
from .low_precision import LowPrecisionEncoder
from .noiseprint import NoiseprintExtractor


#: the parts of the network whose precision can be chosen separately (:attr:`EfficientTruFor.part_dtypes`)
PARTS = ("noiseprint", "encoder", "decoders")


def fold_batchnorm(extractor: NoiseprintExtractor) -> nn.Sequential:
    """An inference copy of the DnCNN with every BatchNorm folded into the preceding convolution."""
    layers: list[nn.Module] = []
    modules = list(extractor)
    i = 0
    while i < len(modules):
        m = modules[i]
        if isinstance(m, nn.Conv2d) and i + 1 < len(modules) and isinstance(modules[i + 1], nn.BatchNorm2d):
            bn = modules[i + 1]
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            conv = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding, bias=True)
            with torch.no_grad():
                conv.weight.copy_(m.weight * scale[:, None, None, None])
                bias = m.bias if m.bias is not None else torch.zeros_like(bn.running_mean)
                conv.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
            layers.append(conv)
            i += 2
        else:
            layers.append(copy.deepcopy(m))
            i += 1
    return nn.Sequential(*layers).eval()


def _cpu_autocast_on() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # PyTorch < 2.4
        return torch.is_autocast_cpu_enabled()


def _spans(length: int, tile: int, halo: int) -> list[tuple[int, int, int, int]]:
    """(read_start, read_end, keep_start, keep_end) of each tile along one axis."""
    if length <= tile:
        return [(0, length, 0, length)]
    spans = []
    for start in range(0, length, tile):
        end = min(start + tile, length)
        spans.append((max(0, start - halo), min(length, end + halo), start, end))
    return spans


@torch.inference_mode()
def tiled_noiseprint(extractor, image: Tensor, tile: int = 512, halo: int = 17,
                     channels_last: bool = False) -> Tensor:
    """Run the DnCNN over ``image`` (B, 3, H, W) in overlapping tiles; exact for ``halo >= depth``."""
    b, _, h, w = image.shape
    if isinstance(extractor, _OneDNNNoiseprint) and not extractor.applies_to(h, w):
        # An image this small (a few thousand pixels) runs outside oneDNN in PyTorch, with kernels
        # whose rounding depends on the size: run it whole, as PyTorch would.
        return extractor.plain(image)
    out_channels = getattr(extractor, "out_channels", None)
    if out_channels is None:
        out_channels = [m for m in extractor if isinstance(m, nn.Conv2d)][-1].out_channels
    out = image.new_empty((b, out_channels, h, w))
    layout = torch.channels_last if channels_last else torch.contiguous_format
    for r0, r1, k0, k1 in _spans(h, tile, halo):
        for c0, c1, j0, j1 in _spans(w, tile, halo):
            patch = image[:, :, r0:r1, c0:c1].contiguous(memory_format=layout)
            res = extractor(patch)
            out[:, :, k0:k1, j0:j1] = res[:, :, k0 - r0 : k1 - r0, j0 - c0 : j1 - c0]
    return out


def _linear_interp_index(in_size: int, out_size: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Indices and weights of bilinear resampling along one axis (``align_corners=False``), as PyTorch."""
    scale = in_size / out_size
    src = ((torch.arange(out_size, device=device, dtype=torch.float64) + 0.5) * scale - 0.5).clamp_(min=0)
    i0 = src.floor().long().clamp_(max=in_size - 1)
    i1 = (i0 + 1).clamp_(max=in_size - 1)
    lam = (src - i0.double()).float()
    return i0, i1, lam


def resize_rows(x: Tensor, out_h: int, out_w: int, row_start: int, row_end: int) -> Tensor:
    """Rows ``row_start:row_end`` of ``F.interpolate(x, (out_h, out_w), 'bilinear')`` without the rest."""
    _, _, h, w = x.shape
    r0, r1, rl = _linear_interp_index(h, out_h, x.device)
    r0, r1, rl = r0[row_start:row_end], r1[row_start:row_end], rl[row_start:row_end]
    rows = x[:, :, r0] * (1 - rl)[:, None] + x[:, :, r1] * rl[:, None]
    if out_w == w:
        return rows
    c0, c1, cl = _linear_interp_index(w, out_w, x.device)
    return rows[..., c0] * (1 - cl) + rows[..., c1] * cl


class FusedDecoder(nn.Module):
    """Inference form of an :class:`MLPDecoderHead` (eval mode): same outputs, far less work and memory."""

    def __init__(self, head: MLPDecoderHead) -> None:
        super().__init__()
        conv, bn = head.linear_fuse[0], head.linear_fuse[1]
        dim = conv.out_channels
        w_fuse = conv.weight.reshape(dim, 4 * dim).double()
        scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).double()
        bias = conv.bias.double().clone()
        mats = []
        # The fusion convolution reads the concatenation [c4, c3, c2, c1].
        for k, proj in enumerate((head.linear_c4, head.linear_c3, head.linear_c2, head.linear_c1)):
            block = w_fuse[:, k * dim : (k + 1) * dim]
            mats.append((scale[:, None] * (block @ proj.proj.weight.double())).float())
            bias += block @ proj.proj.bias.double()
        self.mats = [m.contiguous() for m in mats[::-1]]  # stage order c1..c4
        self.bias = (scale * (bias - bn.running_mean.double()) + bn.bias.double()).float()
        self.pred = copy.deepcopy(head.linear_pred).eval()

    @property
    def width(self) -> int:
        return int(self.bias.shape[0])

    def forward(self, feats: list[Tensor], band_rows: int | None = None) -> Tensor:
        """Logits at the resolution of the first stage, computed ``band_rows`` rows at a time."""
        c1 = feats[0]
        b, _, h, w = c1.shape
        # Deeper stages are projected whole (they are at 1/8 resolution or less); the first stage and
        # the upsampled sum are formed band by band.
        coarse = [torch.einsum("oc,bchw->bohw", m, f) for m, f in zip(self.mats[1:], feats[1:])]
        band_rows = h if band_rows is None else max(1, band_rows)
        out = None
        for start in range(0, h, band_rows):
            end = min(h, start + band_rows)
            acc = torch.einsum("oc,bchw->bohw", self.mats[0], c1[:, :, start:end])
            for p in coarse:
                acc += resize_rows(p, h, w, start, end)
            acc += self.bias[None, :, None, None]
            band = self.pred(torch.relu_(acc))
            if out is None:
                out = band.new_empty((b, band.shape[1], h, w))
            out[:, :, start:end] = band
        return out


#: Default band size: below glibc's 32 MiB mmap ceiling, so band buffers are recycled by the heap.
DEFAULT_BAND_BYTES = 24 * 2**20


def band_rows_for(width: int, channels: int, budget_bytes: int) -> int:
    """How many rows of a (channels x width) float32 map fit in ``budget_bytes`` (at least 1)."""
    return max(1, int(budget_bytes // max(1, 4 * channels * width)))


class EfficientTruFor(nn.Module):
    """Evaluate a :class:`TruForNet` exactly with bounded memory (see the module docstring).

    Args:
        net: the network (its encoder and detection head are shared, not copied).
        tile: side of the Noiseprint++ tiles, in pixels (smaller = less memory).
        band_bytes: memory allowed for one band of a decoder's 1/4-resolution map and of an encoder
            feed-forward layer's hidden activations. The default keeps each band under glibc's mmap
            ceiling (32 MiB), so bands come from the heap and reuse each other's memory instead of
            mapping fresh pages (measured: ~15 % faster at 3 MP than 256 MiB bands, lower peak).
        fast_noiseprint: fold BatchNorm and use channels-last in the DnCNN (5-10 % faster on CPU than
            the exact blocked path, not within the parity tolerance; see the module docstring).
        blocked_noiseprint: on CPU in float32, run the DnCNN in oneDNN's blocked layout when that
            is bit-identical here (checked once, see :mod:`.blocked_dncnn`).

    ``part_dtypes`` (attribute) maps the parts ``"noiseprint"``, ``"encoder"`` and ``"decoders"`` to an
    autocast dtype (``torch.bfloat16`` / ``torch.float16``) or None (float32, the default for all three):
    the mixed-precision splits of ``--precision bf16-mixed`` and friends. The final upsampling and the
    detection head always run in float32.
    """

    def __init__(self, net, tile: int = 512, band_bytes: int = DEFAULT_BAND_BYTES, fast_noiseprint: bool = False,
                 blocked_noiseprint: bool = True) -> None:
        super().__init__()
        self.net = net.eval()
        self.fast_noiseprint = fast_noiseprint
        self.noiseprint = fold_batchnorm(net.dncnn) if fast_noiseprint else net.dncnn
        self.use_blocked = blocked_noiseprint and not fast_noiseprint
        self.blocked = None
        self._blocked_for: tuple[int, ...] | None = None  # parameter versions the blocked copy was built from
        self._refresh_blocked()
        self.halo = net.dncnn.receptive_radius
        self.loc_head = FusedDecoder(net.decode_head)
        self.conf_head = FusedDecoder(net.decode_head_conf)
        det_decoder = getattr(net, "decode_head_det", None)
        self.det_head = FusedDecoder(det_decoder) if det_decoder is not None else None
        self.tile = tile
        self.band_bytes = band_bytes
        self.part_dtypes: dict[str, torch.dtype | None] = dict.fromkeys(PARTS)
        self._low: dict[torch.dtype, tuple[tuple[int, ...], LowPrecisionNoiseprint | None]] = {}
        self._low_encoder: dict[torch.dtype, tuple[tuple[int, ...], LowPrecisionEncoder | None]] = {}
        from .mit import MixFFN

        for module in net.modules():  # the encoder's feed-forward layers run in bands from now on
            if isinstance(module, MixFFN):
                module.band_bytes = band_bytes

    def _dncnn_versions(self) -> tuple[int, ...]:
        """In-place update counters of the DnCNN's tensors: a derived copy is stale when they change."""
        return tuple(t._version for t in (*self.net.dncnn.parameters(), *self.net.dncnn.buffers()))

    def _refresh_blocked(self) -> None:
        """(Re)build the blocked DnCNN copy when the DnCNN's weights changed in place since the last build."""
        if not self.use_blocked:
            return
        versions = self._dncnn_versions()
        if versions != self._blocked_for:
            self.blocked = BlockedNoiseprint.build(self.net.dncnn)
            self._blocked_for = versions

    def _low_precision_noiseprint(self, dtype: torch.dtype) -> LowPrecisionNoiseprint | None:
        """The DnCNN in ``dtype`` in oneDNN's layout (built once per weights version), or None if unavailable."""
        versions = self._dncnn_versions()
        cached = self._low.get(dtype)
        if cached is None or cached[0] != versions:
            cached = (versions, LowPrecisionNoiseprint.build(fold_batchnorm(self.net.dncnn), dtype))
            self._low[dtype] = cached
        return cached[1]

    def _low_precision_encoder(self, dtype: torch.dtype) -> LowPrecisionEncoder | None:
        """The encoder in ``dtype``, BatchNorm folded, channels-last (built once per weights version), or None."""
        backbone = self.net.backbone
        versions = tuple(t._version for t in (*backbone.parameters(), *backbone.buffers()))
        cached = self._low_encoder.get(dtype)
        if cached is None or cached[0] != versions:
            cached = (versions, LowPrecisionEncoder.build(backbone, dtype))
            self._low_encoder[dtype] = cached
        return cached[1]

    def _noiseprint_for(self, image: Tensor):
        """The blocked DnCNN where it applies (CPU, float32, no autocast), else the plain one."""
        if image.device.type != "cpu" or image.dtype != torch.float32 or _cpu_autocast_on():
            return self.noiseprint
        self._refresh_blocked()
        return self.blocked if self.blocked is not None else self.noiseprint

    def _part(self, name: str, device: torch.device):
        """The autocast context of one part (:attr:`part_dtypes`); a no-op for float32 parts."""
        dtype = self.part_dtypes.get(name)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=dtype)

    @torch.inference_mode()
    def forward(self, image: Tensor):
        return self.forward_with_heads(image)[0]

    @torch.inference_mode()
    def forward_with_heads(self, image: Tensor, conf_heads: Sequence[FusedDecoder] = ()):
        """:meth:`forward`, plus the confidence logits (B, 1, H, W) of other confidence decoders on the same
        encoder features: networks that differ from this one in the confidence decoder and detection head only
        (phase-3 draws of one frozen network) are scored for the cost of one pass. Returns (output, logits)."""
        from .trufor import TruForOutput

        net = self.net
        size = image.shape[-2:]
        low = self.part_dtypes.get("noiseprint")
        blocked_low = None
        if low is not None and image.device.type == "cpu" and not _cpu_autocast_on():
            blocked_low = self._low_precision_noiseprint(low)  # faster than autocast of the plain DnCNN
        with heap_reuse():  # the DnCNN's activations reuse freed heap blocks (see ..allocator)
            if blocked_low is not None:
                npp = tiled_noiseprint(blocked_low, image, self.tile, self.halo)
            else:
                with self._part("noiseprint", image.device):
                    npp = tiled_noiseprint(self._noiseprint_for(image), image, self.tile, self.halo,
                                           self.fast_noiseprint)
        rgb = (image - net.rgb_mean) / net.rgb_std
        npp = npp.float()  # a float32 part takes float32 inputs (a no-op in the exact default)
        low_enc = self.part_dtypes.get("encoder")
        encoder = None
        if low_enc is not None and image.device.type == "cpu" and not _cpu_autocast_on():
            encoder = self._low_precision_encoder(low_enc)  # faster than autocast of the float32 encoder
        if encoder is not None:
            feats = encoder(rgb, npp.expand(-1, 3, -1, -1))
        else:
            with self._part("encoder", image.device):
                feats = net.backbone(rgb, npp.expand(-1, 3, -1, -1))
        del rgb
        feats = [f.float() for f in feats]
        rows = band_rows_for(feats[0].shape[-1], self.loc_head.width, self.band_bytes)
        with self._part("decoders", image.device):
            loc = self.loc_head(feats, rows)
            conf = self.conf_head(feats, rows)
            others = [head(feats, rows) for head in conf_heads]
            det_src = self.det_head(feats, rows) if self.det_head is not None else None
        del feats
        loc, conf = loc.float(), conf.float()
        loc = F.interpolate(loc, size=size, mode="bilinear", align_corners=False)
        conf = F.interpolate(conf, size=size, mode="bilinear", align_corners=False)
        others = [F.interpolate(c.float(), size=size, mode="bilinear", align_corners=False) for c in others]
        if det_src is not None:  # the network's own detection decoder (TruForConfig.detection_decoder)
            det_src = F.interpolate(det_src.float(), size=size, mode="bilinear", align_corners=False)
        pooled = conf if det_src is None else det_src
        det = net.detection(loc, pooled)
        return TruForOutput(loc, conf, det, npp, pooled), others
