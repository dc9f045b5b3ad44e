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
        assert 0 < dev.max() < 0.15 and dev.mean() < 0.02  # lower precision moved it, a little
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
