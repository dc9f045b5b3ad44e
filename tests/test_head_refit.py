"""Re-fitting the detection head on whole images (trufor.training.head_refit, `trufor train fit-head`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import random_weights, variant_images
from trufor.errors import TrainingError
from trufor.modeling.detection import DetectionHead
from trufor.training.head_refit import (FitSettings, PooledSet, cross_validate, fit_head, head_logits, load_cache,
                                        pooled_features, sample_weights, save_cache, trunk_digest, write_refitted)
from trufor.weights import read_weights


@pytest.fixture(scope="module")
def lite_weights(tmp_path_factory):
    return random_weights("trufor_lite0", tmp_path_factory.mktemp("head") / "lite.safetensors")


def _separable(n: int = 120, seed: int = 0) -> PooledSet:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 8)) * np.array([1, 10, 0.1, 5, 1, 100, 2, 0.01]) + np.arange(8)
    y = x[:, 5] / 100 + x[:, 1] / 10 > 1.5  # a rule across features of very different scales
    return PooledSet(x, y, ["a" if i % 3 else "b" for i in range(n)], [f"p{i}" for i in range(n)])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from("abc")), min_size=4, max_size=60))
def test_weights_give_each_class_half_and_each_group_its_share(items):
    labels = np.array([y for y, _ in items])
    groups = [g for _, g in items]
    w = sample_weights(labels, groups)
    assert math.isclose(w.sum(), 1.0 * labels.any() * 0.5 + 1.0 * (~labels).any() * 0.5, abs_tol=1e-9)
    for cls in (True, False):
        names = {g for (y, g) in items if y == cls}
        for name in names:
            share = w[(labels == cls) & (np.array(groups) == name)].sum()
            assert math.isclose(share, 0.5 / len(names), abs_tol=1e-9)


def test_fit_learns_a_rule_and_folds_the_standardisation_exactly():
    data = _separable()
    state = fit_head(data, FitSettings(steps=400, lr=1e-2))
    logits = head_logits(state, data.features)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(data.labels, logits) > 0.97
    # The folded state dict runs on raw features through the real module: same logits as head_logits.
    head = DetectionHead()
    head.load_state_dict(state)
    head.eval()
    with torch.no_grad():
        direct = torch.nn.Sequential.forward(head, torch.from_numpy(data.features).float())[:, 0].numpy()
    assert np.allclose(direct, logits, rtol=1e-4, atol=1e-3)


def test_fit_is_deterministic_and_leaves_the_global_rng_alone():
    data = _separable(seed=1)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = fit_head(data, FitSettings(steps=50, seed=4))
    after = torch.rand(1)
    b = fit_head(data, FitSettings(steps=50, seed=4))
    assert torch.equal(before, after)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cross_validation_scores_out_of_fold():
    data = _separable(seed=2)
    assert cross_validate(data, FitSettings(steps=300, lr=1e-2), folds=4) > 0.9
    noise = PooledSet(np.random.default_rng(5).normal(size=(80, 8)), np.arange(80) % 2 == 0, ["g"] * 80,
                      [str(i) for i in range(80)])
    assert cross_validate(noise, FitSettings(steps=300, lr=1e-2), folds=4) < 0.75  # no rule: near chance


def test_too_few_images_is_a_clear_error():
    data = PooledSet(np.zeros((3, 8)), np.array([True, True, False]), ["a"] * 3, ["x", "y", "z"])
    with pytest.raises(TrainingError, match="at least 2"):
        fit_head(data)


def _images(tmp_path, n=6):
    rng = np.random.default_rng(3)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (48 + 8 * i, 56, 3), dtype=np.uint8)).save(tmp_path / f"x{i}.png")
    mask = np.zeros((48, 56), np.uint8)
    mask[10:30, 10:30] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")


def test_recorded_features_are_the_heads_input_and_the_refit_file_scores_with_them(lite_weights, tmp_path):
    from trufor import load_model
    from trufor.evaluation.datasets import load_dataset

    _images(tmp_path)
    (tmp_path / "fake.txt").write_text("x0.png,m.png\nx1.png\nx2.png,None\n")
    (tmp_path / "real.txt").write_text("x3.png\nx4.png\nx5.png\n")
    model = load_model(lite_weights)
    samples = load_dataset("list:fake.txt,real.txt", str(tmp_path)).samples
    cache: dict[str, np.ndarray] = {}
    data = pooled_features(model, samples, group=lambda p: "g", cache=cache)
    assert data.features.shape == (6, 8) and data.labels.tolist() == [True] * 3 + [False] * 3
    # The recorded statistics are exactly what the head pools from the model's own outputs.
    res = model.analyze(str(tmp_path / "x3.png"), keep_logits=True)
    pooled = DetectionHead.pool(torch.from_numpy(res.loc_logits)[None], torch.from_numpy(res.conf_logits)[None])[0].numpy()
    assert np.allclose(data.features[3], pooled, rtol=1e-4, atol=1e-4)
    # A cached rerun does not run the network.
    calls = []
    model.analyze = lambda *a, **k: calls.append(a)  # type: ignore[method-assign]
    again = pooled_features(model, samples, group=lambda p: "g", cache=cache)
    assert not calls and np.array_equal(again.features, data.features)

    state = fit_head(data, FitSettings(steps=30))
    refit = write_refitted(lite_weights, tmp_path / "refit.safetensors", state, data_note="a test", half=False)
    new = load_model(refit)
    for i, path in enumerate(data.paths[:2]):
        want = 1 / (1 + math.exp(-head_logits(state, data.features[i:i + 1])[0]))
        assert abs(new.analyze(path).score - want) < 1e-4
    meta = read_weights(refit).metadata
    assert "re-fitted on whole images" in meta["provenance"]
    # Everything but the head is unchanged.
    a, b = read_weights(lite_weights).state_dict, read_weights(refit).state_dict
    assert trunk_digest(a) == trunk_digest(b)
    assert not torch.equal(a["detection.0.weight"].float(), b["detection.0.weight"].float())


def test_cache_is_tied_to_the_network(tmp_path):
    cache = {"a.png": np.arange(8.0), "b.png": np.ones(8)}
    save_cache(tmp_path / "f.npz", "digest1", cache)
    loaded = load_cache(tmp_path / "f.npz", "digest1")
    assert set(loaded) == {"a.png", "b.png"} and np.array_equal(loaded["a.png"], np.arange(8.0))
    assert load_cache(tmp_path / "f.npz", "another network") == {}
    assert load_cache(tmp_path / "missing.npz", "digest1") == {}


def test_fit_head_command(lite_weights, tmp_path):
    from trufor.cli import main

    _images(tmp_path)
    (tmp_path / "fake.txt").write_text("x0.png,m.png\nx1.png,m.png\nx2.png,None\n")
    (tmp_path / "real.txt").write_text("x3.png\nx4.png\nx5.png\n")
    rc = main(["train", "fit-head", str(lite_weights), "-d", "list:fake.txt,real.txt", str(tmp_path),
               "-o", str(tmp_path / "h.safetensors"), "--cache", str(tmp_path / "c.npz"), "--folds", "0",
               "--steps", "20", "--device", "cpu"])
    assert rc == 0 and (tmp_path / "c.npz").exists()
    assert "fit-head" in read_weights(tmp_path / "h.safetensors").metadata["provenance"]
    rc = main(["train", "fit-head", str(lite_weights), "-d", "list:nothere.txt,real.txt", str(tmp_path),
               "-o", str(tmp_path / "h2.safetensors"), "--device", "cpu"])
    assert rc != 0 and not (tmp_path / "h2.safetensors").exists()


# ------------------------------------------------------------------ phase-3 variants scored in one pass
def _variant(base: Path, path: Path, *, trunk_too: bool = False, seed: int = 1) -> Path:
    """``base`` with its confidence decoder and detection head perturbed (and a trunk tensor when asked)."""
    from trufor.weights import load_network, save_safetensors

    net = load_network(base).net
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.startswith(("decode_head_conf.", "detection.")) or (trunk_too and name.startswith("decode_head.")):
                p.add_(0.2 * torch.randn(p.shape, generator=g) * p.abs().mean().clamp_min(0.05))
    save_safetensors(net.state_dict(), path, net.config, provenance="test variant", licence="test only")
    return path



def test_score_heads_gives_each_variant_its_own_score(small_weights, tmp_path):
    from trufor import load_model
    from trufor.training.head_refit import same_trunk
    from trufor.weights import load_network

    variants = [_variant(small_weights, tmp_path / f"v{i}.safetensors", seed=i) for i in (1, 2)]
    base = load_model(small_weights)
    nets = [load_network(v).net for v in variants]
    assert all(same_trunk(base.net.state_dict(), n.state_dict()) for n in nets)
    assert not same_trunk(base.net.state_dict(),
                          load_network(_variant(small_weights, tmp_path / "t.safetensors", trunk_too=True)).net.state_dict())
    alone = [load_model(v) for v in variants]
    for image in variant_images(tmp_path / "img"):
        score, scores = base.score_heads(image, nets)
        assert score == pytest.approx(base.analyze(image).score, abs=1e-6)
        expected = [m.analyze(image).score for m in alone]
        assert scores == pytest.approx(expected, abs=1e-5)
        assert len({round(s, 6) for s in (score, *scores)}) == 3  # the variants really score differently
    with pytest.raises(ValueError, match="efficient engine in fp32"):
        load_model(small_weights, precision="bf16").score_heads(image, nets)


def test_head_variants_benchmark_writes_the_variants_reports(small_weights, tmp_path, capsys):
    """benchmarks/head_variants.py: the variant's report equals a `trufor eval` of the variant (detection)."""
    import csv
    import importlib.util
    import json
    import sys

    from trufor.cli import main as cli

    spec = importlib.util.spec_from_file_location("head_variants", Path(__file__).resolve().parents[1]
                                                  / "benchmarks" / "head_variants.py")
    hv = importlib.util.module_from_spec(spec)
    sys.modules["head_variants"] = hv
    spec.loader.exec_module(hv)

    images = variant_images(tmp_path / "data" / "img")
    mask = np.zeros((80, 96), np.uint8)
    mask[20:40, 24:48] = 255
    Image.fromarray(mask).save(tmp_path / "data" / "m0.png")
    (tmp_path / "data" / "fake.txt").write_text(f"img/{images[0].name},m0.png\nimg/{images[2].name}\n")
    (tmp_path / "data" / "real.txt").write_text(f"img/{images[1].name}\n")
    variant = _variant(small_weights, tmp_path / "v.safetensors")
    reports = tmp_path / "reports"
    for weights, name in ((small_weights, "base"), (variant, "direct")):
        assert cli(["eval", "list:fake.txt,real.txt", "--root", str(tmp_path / "data"), "-o",
                    str(reports / f"toy_{name}"), "--weights", str(weights), "--no-plots", "-q"]) == 0
    assert hv.main([str(small_weights), "base", f"hv={variant}", "--reports", str(reports), "--sets", "toy"]) == 0

    def scores(name):
        with open(reports / f"toy_{name}" / "per_image.csv", newline="") as f:
            return {r["name"]: float(r["score"]) for r in csv.DictReader(f)}

    direct, derived = scores("direct"), scores("hv")
    assert derived.keys() == direct.keys() and all(abs(derived[k] - direct[k]) < 1e-5 for k in direct)
    assert any(abs(derived[k] - scores("base")[k]) > 1e-4 for k in direct)
    m_direct, m_hv = (json.loads((reports / f"toy_{n}" / "metrics.json").read_text()) for n in ("direct", "hv"))
    assert m_hv["detection"]["auc"] == pytest.approx(m_direct["detection"]["auc"])
    assert m_hv["localization"] == json.loads((reports / "toy_base" / "metrics.json").read_text())["localization"]
    # resumes from its progress file: nothing is scored again, the same report comes out
    assert hv.main([str(small_weights), "base", f"hv={variant}", "--reports", str(reports), "--sets", "toy"]) == 0
    assert scores("hv") == derived
    # a variant of another network is refused; a report of other weights is caught
    other = _variant(small_weights, tmp_path / "t.safetensors", trunk_too=True)
    with pytest.raises(SystemExit):
        hv.main([str(small_weights), "base", f"x={other}", "--reports", str(reports), "--sets", "toy"])
    with pytest.raises(SystemExit, match="not a report of the base weights"):
        hv.main([str(small_weights), "direct", f"y={variant}", "--reports", str(reports), "--sets", "toy"])


def test_same_trunk_ignores_what_phase3_trains_and_the_sign_of_zero():
    from trufor.training.head_refit import same_trunk

    a = {"backbone.w": torch.tensor([0.0, 1.0]), "detection.0.weight": torch.ones(2),
         "decode_head_conf.linear_pred.bias": torch.zeros(1), "decode_head.linear_pred.bias": torch.zeros(1)}
    # a weight average writes 0.0 where its inputs held -0.0: the same network
    b = {**a, "backbone.w": torch.tensor([-0.0, 1.0]), "detection.0.weight": torch.zeros(2),
         "decode_head_conf.linear_pred.bias": torch.ones(1)}
    assert same_trunk(a, b)
    assert not same_trunk(a, {**a, "backbone.w": torch.tensor([0.0, 1.5])})
    assert not same_trunk(a, {**a, "decode_head.linear_pred.bias": torch.ones(1)})  # the localization decoder is trunk
