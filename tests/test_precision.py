"""Opt-in lower precisions: which parts each one lowers, that the mixed splits keep Noiseprint++ exact, and
that the CLI, the schema and the API agree on the names."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest
import torch
from PIL import Image

from trufor import load_model
from trufor.inference import PRECISIONS, precision_parts
from trufor.modeling.engine import PARTS

from conftest import PARITY, require_shared


@pytest.fixture(scope="module")
def photo():
    require_shared("parity")
    return np.asarray(Image.open(PARITY / "images" / "c_splice_384x256.jpg").convert("RGB"))


@pytest.fixture(scope="module")
def exact_result(photo):
    return load_model(None).analyze(photo)  # the bundled model: real weights, not a random net


def test_parts_of_each_precision():
    assert precision_parts("fp32") == dict.fromkeys(PARTS)
    assert precision_parts("bf16") == dict.fromkeys(PARTS, torch.bfloat16)
    assert precision_parts("fp16") == dict.fromkeys(PARTS, torch.float16)
    assert precision_parts("bf16-mixed") == {"noiseprint": None, "encoder": torch.bfloat16,
                                             "decoders": torch.bfloat16}
    assert precision_parts("fp16-mixed")["noiseprint"] is None
    with pytest.raises(ValueError, match="precision must be one of"):
        precision_parts("int8")


def test_mixed_keeps_noiseprint_exact(photo, exact_result):
    mixed = load_model(None, precision="bf16-mixed")
    assert mixed.describe()["precision"] == "bf16-mixed"
    out = mixed.analyze(photo)
    np.testing.assert_array_equal(out.noiseprint, exact_result.noiseprint)  # the float32 DnCNN, bit for bit
    for got, ref in ((out.map, exact_result.map), (out.conf, exact_result.conf)):
        assert got.dtype == np.float32 and got.shape == ref.shape
        dev = np.abs(got - ref)
        # lower precision moved it, a little: a few hundredths on average; where the map is steep (the edge of a
        # detection) one pixel moves more (run 27's file: map max 0.168, mean 0.008; docs/PERFORMANCE.md)
        assert 0 < dev.max() < 0.25 and dev.mean() < 0.02
    assert abs(out.score - exact_result.score) < 0.05


def test_bf16_lowers_every_part(photo, exact_result):
    out = load_model(None, precision="bf16").analyze(photo)
    dev = np.abs(out.noiseprint - exact_result.noiseprint)
    assert 0 < dev.max() < 0.5  # the fingerprint itself is now approximate
    assert np.abs(out.map - exact_result.map).mean() < 0.02
    assert 0.0 <= out.score <= 1.0


def test_reference_engine_refuses_a_split():
    with pytest.raises(ValueError, match="needs the efficient engine"):
        load_model(None, engine="reference", precision="bf16-mixed")


def test_cli_and_schema_know_every_precision():
    from trufor.cli import build_parser

    sub = next(a for a in build_parser()._actions if getattr(a, "choices", None) and "detect" in a.choices)
    action = next(a for a in sub.choices["detect"]._actions if "--precision" in a.option_strings)
    assert tuple(action.choices) == PRECISIONS
    schema = json.loads(resources.files("trufor").joinpath("schemas", "results.schema.json").read_text())
    text = json.dumps(schema)
    assert all(f'"{p}"' in text for p in PRECISIONS)


def test_low_precision_blocked_dncnn_approximates_the_exact_one():
    from trufor.modeling.blocked_dncnn import LowPrecisionNoiseprint
    from trufor.modeling.engine import fold_batchnorm

    model = load_model(None)
    blocked = LowPrecisionNoiseprint.build(fold_batchnorm(model.net.dncnn))
    if blocked is None:
        pytest.skip("oneDNN has no bf16 convolutions on this CPU (bf16 then autocasts the plain DnCNN)")
    x = torch.rand((1, 3, 96, 101), generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        exact = model.net.dncnn(x)
    got = blocked(x)
    assert got.dtype == torch.float32 and got.shape == exact.shape
    rel = (got - exact).abs().max() / exact.abs().max()
    assert 0 < rel < 0.05  # bf16 keeps ~3 significant digits per layer; 17 layers
    model_bf16 = load_model(None, precision="bf16")
    model_bf16.analyze(np.zeros((200, 240, 3), np.uint8) + 90)
    assert model_bf16._efficient._low[torch.bfloat16][1] is not None  # the bf16 run took the blocked path


# --------------------------------------------------------------------------- native low-precision encoder

def test_fold_conv_bn_is_the_same_function_for_any_stride_and_groups():
    from trufor.modeling.low_precision import fold_conv_bn

    g = torch.Generator().manual_seed(5)
    for stride, groups, bias in ((1, 1, False), (2, 1, True), (2, 8, False), (1, 8, True)):
        conv = torch.nn.Conv2d(8, 16, 3, stride=stride, padding=1, groups=groups, bias=bias)
        bn = torch.nn.BatchNorm2d(16, eps=1e-3)
        with torch.no_grad():
            for t in (bn.weight, bn.bias, bn.running_mean):
                t.copy_(torch.randn(16, generator=g))
            bn.running_var.copy_(torch.rand(16, generator=g) + 0.1)
        bn.eval()
        x = torch.randn(2, 8, 21, 17, generator=g)
        with torch.no_grad():
            torch.testing.assert_close(fold_conv_bn(conv, bn)(x), bn(conv(x)), rtol=1e-5, atol=1e-5)


def test_low_precision_encoder_approximates_the_float32_one():
    from trufor.modeling.low_precision import LowPrecisionEncoder

    model = load_model(None)
    encoder = model.net.backbone
    low = LowPrecisionEncoder.build(encoder)
    if low is None:
        pytest.skip("no bf16 kernels for the encoder on this CPU")
    assert low.folded > 0 and all(p.dtype == torch.bfloat16 for p in low.inner.parameters())
    assert all(p.dtype == torch.float32 for p in encoder.parameters())  # the model itself is untouched
    g = torch.Generator().manual_seed(4)
    rgb, npp = torch.randn(1, 3, 96, 130, generator=g), torch.randn(1, 3, 96, 130, generator=g)
    with torch.inference_mode():
        exact = encoder(rgb, npp)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            auto = [f.float() for f in encoder(rgb, npp)]
    got = low(rgb, npp)
    for e, a, o in zip(exact, auto, got):
        assert o.dtype == torch.float32 and o.shape == e.shape and o.is_contiguous()
        dev = float((o - e).abs().mean() / e.abs().mean())
        dev_auto = float((a - e).abs().mean() / e.abs().mean())
        assert 0 < dev < max(0.05, 2 * dev_auto)  # of the order of autocast's rounding


def test_bf16_engine_takes_the_native_encoder(photo):
    model = load_model(None, precision="bf16")
    model.analyze(photo)
    cached = model._efficient._low_encoder.get(torch.bfloat16)
    assert cached is not None and cached[1] is not None
    mixed = load_model(None, precision="bf16-mixed")  # the encoder is lowered there too
    mixed.analyze(photo)
    assert mixed._efficient._low_encoder[torch.bfloat16][1] is not None
    exact = load_model(None)
    exact.analyze(photo)
    assert exact._efficient._low_encoder == {}  # never built in the exact default


@pytest.mark.parametrize("block", [1 << 30, 3000])  # one block, and blocks of a few rows
def test_low_precision_attention_is_attention(monkeypatch, block):
    import torch.nn.functional as F

    from trufor.modeling import mit

    monkeypatch.setattr(mit, "ATTENTION_BLOCK_BYTES", block)
    g = torch.Generator().manual_seed(6)
    q, k, v = (torch.randn(2, 3, n, 16, generator=g) for n in (37, 11, 11))
    torch.testing.assert_close(mit.low_precision_attention(q, k, v), F.scaled_dot_product_attention(q, k, v),
                               rtol=1e-5, atol=1e-5)
    qb, kb, vb = q.bfloat16(), k.bfloat16(), v.bfloat16()
    got = mit.low_precision_attention(qb, kb, vb)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), F.scaled_dot_product_attention(q, k, v), rtol=0.05, atol=0.05)
