"""The blocked-layout DnCNN and the heap-reuse allocator: bit-identical results, or not used at all."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trufor import allocator
from trufor.modeling import build_model
from trufor.modeling import blocked_dncnn
from trufor.modeling.blocked_dncnn import BlockedNoiseprint
from trufor.modeling.engine import EfficientTruFor, tiled_noiseprint
from trufor.modeling.noiseprint import NoiseprintExtractor

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="PyTorch built without oneDNN")


def _dncnn(features: int = 16, depth: int = 7, seed: int = 0) -> NoiseprintExtractor:
    """A DnCNN with non-trivial BatchNorm statistics (the part the blocked path must reproduce)."""
    torch.manual_seed(seed)
    net = NoiseprintExtractor(features=features, depth=depth).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1.0, 1.0)
                m.running_var.uniform_(0.01, 4.0)
                m.weight.uniform_(0.5, 2.0)
                m.bias.uniform_(-0.5, 0.5)
    return net


_BUILT: dict[tuple, BlockedNoiseprint | None] = {}


def _blocked(features: int = 16, depth: int = 7) -> tuple[NoiseprintExtractor, BlockedNoiseprint]:
    key = (features, depth)
    if key not in _BUILT:
        net = _dncnn(features, depth)
        _BUILT[key] = (net, BlockedNoiseprint.build(net))
    net, blocked = _BUILT[key]
    if blocked is None:
        pytest.skip("the blocked DnCNN does not reproduce PyTorch's bits on this machine (build declined)")
    return net, blocked


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 160), st.integers(1, 160), st.integers(8, 200), st.floats(0.01, 300.0))
def test_blocked_dncnn_is_bit_identical(h, w, tile, scale):
    """Whole or in tiles of any size, the result is the plain DnCNN's on the whole image, bit for bit."""
    net, blocked = _blocked()
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h * 1000 + w)) * scale
    with torch.inference_mode():
        whole = net(x)
        assert torch.equal(tiled_noiseprint(blocked, x, tile=tile, halo=net.depth), whole)
        if blocked.applies_to(h, w):
            assert torch.equal(blocked(x), whole)


def test_blocked_dncnn_official_shape_and_tiles():
    """64 channels, 17 layers (the published Noiseprint++ shape), whole and in tiles."""
    net, blocked = _blocked(64, 17)
    x = torch.rand(1, 3, 150, 133, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        whole = net(x)
        assert torch.equal(blocked(x), whole)
        assert torch.equal(tiled_noiseprint(blocked, x, tile=80, halo=17), whole)


def test_build_declines_when_bits_differ(monkeypatch):
    """If no way of forming BatchNorm's terms matches PyTorch here, the plain DnCNN is kept."""
    off_by_a_little = (lambda var, eps, w: torch.rsqrt(var + eps) * w * (1 + 2**-20),)
    monkeypatch.setattr(blocked_dncnn, "_SCALES", off_by_a_little)
    assert BlockedNoiseprint.build(_dncnn()) is None


def test_build_declines_off_cpu_float32():
    assert BlockedNoiseprint.build(_dncnn().to(torch.bfloat16)) is None
    assert BlockedNoiseprint.build(_dncnn().double()) is None


def test_engine_uses_it_only_where_it_applies():
    torch.manual_seed(0)
    net = build_model("trufor_small").eval()
    engine = EfficientTruFor(net, tile=64)
    x = torch.rand(1, 3, 96, 80)
    if engine.blocked is None:
        pytest.skip("build declined on this machine")
    assert engine._noiseprint_for(x) is engine.blocked
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert engine._noiseprint_for(x) is engine.noiseprint
    assert EfficientTruFor(net, blocked_noiseprint=False).blocked is None
    with torch.no_grad():  # weights changed in place after the engine was built: the copy follows
        net.dncnn[0].weight.mul_(1.5)
        bn = next(m for m in net.dncnn if isinstance(m, torch.nn.BatchNorm2d))
        bn.running_var.mul_(2.0)
    with torch.inference_mode():
        assert torch.equal(engine(x).noiseprint, net.dncnn(x))


def test_heap_reuse_nests_and_can_be_switched_off(monkeypatch):
    with allocator.heap_reuse() as outer:
        with allocator.heap_reuse() as inner:
            assert inner == outer
            buf = torch.empty(64 << 20, dtype=torch.uint8)  # a large block, served either way
            buf.fill_(1)
        assert allocator._depth == (1 if outer else 0)
    assert allocator._depth == 0
    monkeypatch.setattr(allocator, "_libc", None)
    monkeypatch.setenv("TRUFOR_KEEP_HEAP", "0")
    with allocator.heap_reuse() as active:
        assert active is False
