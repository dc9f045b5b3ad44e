"""Model pieces: shapes of every variant, the pooling statistics, tiny images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trufor.modeling import VARIANTS, build_model
from trufor.modeling.detection import weighted_statistics_pooling


@pytest.mark.parametrize("variant", ["trufor_b0", "trufor_small"])
def test_output_shapes(variant):
    net = build_model(variant).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 70, 45))
    assert out.loc_logits.shape == (2, 2, 70, 45)
    assert out.conf_logits.shape == (2, 1, 70, 45)
    assert out.det_logit.shape == (2, 1)
    assert out.noiseprint.shape == (2, 1, 70, 45)


@pytest.mark.parametrize("variant", ["trufor_small", "trufor_lite0"])
def test_forward_is_the_composition_of_its_parts(variant):
    """features -> localize / confidence_logits -> detect, as the training phases call them, is forward exactly."""
    torch.manual_seed(0)
    net = build_model(variant).eval()
    image = torch.rand(2, 3, 48, 40)
    with torch.no_grad():
        out = net(image)
        noiseprint = net.extract_noiseprint(image)
        feats = net.features(image)
        assert all(torch.equal(a, b) for a, b in zip(feats, net.features(image, noiseprint)))
        loc = net.localize(feats, image.shape[-2:])
        conf = net.confidence_logits(feats, image.shape[-2:])
        det = net.detect(loc, conf)
    for got, want in ((noiseprint, out.noiseprint), (loc, out.loc_logits), (conf, out.conf_logits), (det, out.det_logit)):
        assert torch.equal(got, want)


def test_every_variant_builds():
    for name in VARIANTS:
        if name in ("trufor_b4", "trufor_b5"):
            continue  # large; same code path as b3
        build_model(name)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(2, 40), st.integers(0, 2**31 - 1))
def test_pooling_matches_definition(b, c, n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, 1, n, generator=g, dtype=torch.float64) * 3
    logw = torch.randn(b, 1, 1, n, generator=g, dtype=torch.float64)
    got = weighted_statistics_pooling(x, logw)
    w = torch.softmax(logw.reshape(b, 1, n), -1)
    xs = x.reshape(b, c, n)
    expected = torch.cat([
        -torch.log((w * torch.exp(-xs)).sum(-1)),
        torch.log((w * torch.exp(xs)).sum(-1)),
        (w * xs).sum(-1),
        (w * xs * xs).sum(-1),
    ], dim=1)
    assert torch.allclose(got, expected, atol=1e-9)
    # Soft extremes bound the weighted mean: min <= mean <= max.
    assert torch.all(got[:, :c] <= got[:, 2 * c:3 * c] + 1e-9)
    assert torch.all(got[:, 2 * c:3 * c] <= got[:, c:2 * c] + 1e-9)


def test_uniform_pooling_is_plain_mean():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    stats = weighted_statistics_pooling(x)
    assert stats[0, 2].item() == pytest.approx(5.5)
    assert stats[0, 3].item() == pytest.approx(float((x**2).mean()))


@pytest.mark.parametrize("h,w", [(1, 1), (5, 80), (28, 28), (29, 29), (40, 3)])
def test_tiny_images_keep_their_size(small_weights, h, w):
    from trufor import load_model

    model = load_model(small_weights)
    rng = np.random.default_rng(h * 100 + w)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    res = model.analyze(img)
    assert res.map.shape == (h, w) and res.conf.shape == (h, w) and res.noiseprint.shape == (h, w)
    assert 0.0 <= res.score <= 1.0
    assert bool(res.warnings) == (min(h, w) < 29)


def test_padding_only_pools_real_pixels(small_weights):
    """For a padded tiny image the score is pooled over the original pixels only."""
    from trufor import load_model

    model = load_model(small_weights)
    img = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    res = model.analyze(img, keep_logits=True)
    loc = torch.from_numpy(res.loc_logits)[None]
    conf = torch.from_numpy(res.conf_logits)[None]
    with torch.no_grad():
        det = model.net.detection(loc, conf)
    assert res.score == pytest.approx(torch.sigmoid(det).item(), abs=1e-6)


_NET: list = []


def _random_small_net():
    if not _NET:
        torch.manual_seed(0)
        net = build_model("trufor_small").eval()
        for m in net.modules():  # non-trivial BatchNorm statistics
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        _NET.append(net)
    return _NET[0]


@settings(max_examples=5, deadline=None)
@given(st.integers(29, 100), st.integers(29, 100), st.integers(16, 64), st.integers(1, 12))
def test_efficient_engine_equals_reference(h, w, tile, band_kb):
    """Tiled Noiseprint++ and fused, banded decoders compute the same function as the plain forward."""
    from trufor.modeling.engine import EfficientTruFor

    net = _random_small_net()
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h * w + tile))
    with torch.inference_mode():
        ref = net(x)
        eff = EfficientTruFor(net, tile=tile, band_bytes=band_kb * 1024)(x)
    # Tiles are the same arithmetic per pixel; only the convolution kernel's blocking may differ.
    assert torch.allclose(eff.noiseprint, ref.noiseprint, atol=1e-5, rtol=0)
    assert torch.allclose(eff.loc_logits, ref.loc_logits, atol=1e-4, rtol=1e-5)
    assert torch.allclose(eff.conf_logits, ref.conf_logits, atol=1e-4, rtol=1e-5)
    assert torch.allclose(eff.det_logit, ref.det_logit, atol=1e-4)


def test_fold_batchnorm_is_close():
    from trufor.modeling.engine import fold_batchnorm

    torch.manual_seed(0)
    dncnn = build_model("trufor_small").dncnn.eval()
    x = torch.rand(1, 3, 40, 40)
    with torch.inference_mode():
        assert torch.allclose(fold_batchnorm(dncnn)(x), dncnn(x), atol=1e-4)


def test_banded_feed_forward_equals_whole():
    from trufor.modeling.mit import MixFFN

    torch.manual_seed(0)
    ffn = MixFFN(8, 32).eval()
    h, w = 13, 7
    x = torch.randn(2, h * w, 8)
    with torch.no_grad():
        whole = ffn(x, h, w)
        for rows in (1, 2, 5, 12):
            ffn.band_bytes = rows * 4 * 32 * w * 2
            assert torch.allclose(ffn(x, h, w), whole, atol=1e-6), rows
