"""The detector that reads the map's top (TruForConfig.detection_pool = "top_fraction", TopFractionHead) and the
action that gives one to a trained model (trufor train top-head)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import random_weights, variant_images
from trufor.errors import TrainingError, WeightsError
from trufor.modeling import TruForNet, get_config
from trufor.modeling.detection import TopFractionHead, top_fraction_mean
from trufor.modeling.engine import EfficientTruFor
from trufor.weights import config_of, infer_config, read_weights, save_safetensors

SMALL_TOP = get_config("trufor_small", detection_pool="top_fraction")


def _net(config=SMALL_TOP, seed: int = 0) -> TruForNet:
    torch.manual_seed(seed)
    return TruForNet(config).eval()


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), fraction=st.floats(1e-4, 1.0), seed=st.integers(0, 2**16))
def test_top_fraction_mean_is_the_mean_of_the_highest_values(n, fraction, seed):
    values = np.random.default_rng(seed).normal(size=(2, n))
    k = max(1, math.ceil(fraction * n))
    expected = np.sort(values, axis=1)[:, ::-1][:, :k].mean(axis=1)
    got = top_fraction_mean(torch.from_numpy(values), fraction).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_top_fraction_mean_and_the_head_refuse_a_fraction_outside_0_1():
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            top_fraction_mean(torch.zeros(1, 4), bad)
        with pytest.raises(ValueError, match="fraction"):
            TopFractionHead(bad)


def test_the_head_is_a_times_the_top_mean_plus_b_and_ignores_the_confidence():
    head = TopFractionHead(0.25)
    with torch.no_grad():
        head.out.weight.fill_(2.0)
        head.out.bias.fill_(-1.0)
    loc = torch.zeros(1, 2, 4, 4)
    loc[0, 1] = torch.arange(16, dtype=torch.float32).view(4, 4)  # z1 - z0 = 0 .. 15
    loc[0, 0, 0, 0] = 3.0  # the first pixel: z1 - z0 = -3
    expected = 2.0 * (15 + 14 + 13 + 12) / 4 - 1.0
    assert head(loc, torch.randn(1, 1, 4, 4)).item() == pytest.approx(expected)
    assert head(loc, None).item() == pytest.approx(expected)


def test_the_network_score_reads_the_localization_only():
    net = _net()
    x = torch.rand(1, 3, 96, 112)
    with torch.no_grad():
        ref = net(x)
        diff = ref.loc_logits[:, 1] - ref.loc_logits[:, 0]
        k = math.ceil(0.005 * diff.numel())
        assert ref.det_logit.item() == pytest.approx(diff.flatten().topk(k).values.mean().item(), abs=1e-6)
        for p in net.decode_head_conf.parameters():
            p.add_(0.5)
        changed = net(x)
    assert not torch.equal(ref.conf_logits, changed.conf_logits)
    assert torch.equal(ref.det_logit, changed.det_logit)
    assert [k for k in net.state_dict() if k.startswith("detection.")] == ["detection.out.weight", "detection.out.bias"]


def test_the_config_checks_the_detection_pool():
    assert get_config("trufor_lite0_top").detection_pool == "top_fraction"
    with pytest.raises(ValueError, match="detection_pool must be one of"):
        get_config("trufor_small", detection_pool="max")
    with pytest.raises(ValueError, match="detection_top_fraction"):
        get_config("trufor_small", detection_pool="top_fraction", detection_top_fraction=0.0)
    with pytest.raises(ValueError, match="no detection decoder"):
        get_config("trufor_small", detection_pool="top_fraction", detection_decoder=True)


def test_the_efficient_engine_and_the_onnx_graph_module_match_the_network():
    from trufor.deploy.onnx_export import ExportableTruFor

    net = _net()
    for h, w in ((100, 132), (64, 64)):
        x = torch.rand(1, 3, h, w)
        with torch.no_grad():
            ref = net(x)
            eff = EfficientTruFor(net)(x)
            _, _, score, _ = ExportableTruFor(net, "float32")(x)
        assert torch.allclose(ref.det_logit, eff.det_logit, atol=1e-5)
        assert torch.allclose(score, torch.sigmoid(ref.det_logit[:, 0]), atol=1e-6)


def test_weights_files_record_the_head_and_its_fraction(tmp_path):
    net = _net(get_config("trufor_small", detection_pool="top_fraction", detection_top_fraction=0.02))
    path = save_safetensors(net.state_dict(), tmp_path / "top.safetensors", net.config, provenance="t", licence="t")
    loaded = read_weights(path)
    assert config_of(loaded) == net.config  # the fraction from the metadata, the head from the tensors
    assert infer_config(loaded.state_dict).detection_pool == "top_fraction"
    plain = {k: v for k, v in loaded.state_dict.items() if not k.startswith("detection.out.")}
    assert infer_config(plain).detection_pool == "statistics"
    loaded.metadata["config"]["detection_top_fraction"] = 1.5
    with pytest.raises(WeightsError, match="corrupt metadata"):
        config_of(loaded)
    loaded.metadata["config"]["detection_top_fraction"] = 0.02
    loaded.metadata["config"]["detection_pool"] = "statistics"  # the tensors say otherwise
    with pytest.raises(WeightsError, match="disagrees with its tensors"):
        config_of(loaded)
    with_dd = dict(loaded.state_dict)
    with_dd["decode_head_det.linear_fuse.0.weight"] = loaded.state_dict["decode_head_conf.linear_fuse.0.weight"]
    with pytest.raises(WeightsError, match="not a usable TruFor checkpoint"):
        infer_config(with_dd)


# ------------------------------------------------------------------------------------- trufor train top-head
@pytest.fixture(scope="module")
def top_files(tmp_path_factory):
    """A trained-model stand-in with a detection decoder and a calibration record, and its top-head copy."""
    from trufor.training.top_head import top_fraction_detector

    tmp = tmp_path_factory.mktemp("top")
    torch.manual_seed(3)
    base_net = TruForNet(get_config("trufor_small", detection_decoder=True)).eval()
    base = save_safetensors(base_net.state_dict(), tmp / "base.safetensors", base_net.config,
                            provenance="base model\nphase 2", licence="test only", half=True,
                            extra={"calibration": "1.5 -0.25"})
    out = top_fraction_detector(base, tmp / "top.safetensors", fraction=0.01)
    return tmp, base, out


def test_top_head_keeps_the_network_and_replaces_the_detector(top_files):
    from trufor import load_model

    tmp, base, out = top_files
    loaded = read_weights(out)
    config = config_of(loaded)
    assert config.detection_pool == "top_fraction" and config.detection_top_fraction == 0.01
    assert not config.detection_decoder and "calibration" not in loaded.metadata
    assert "top-head" in loaded.metadata["provenance"] and loaded.metadata["provenance"].startswith("base model")
    assert not any(k.startswith("decode_head_det.") for k in loaded.state_dict)
    sd = loaded.state_dict
    assert sd["detection.out.weight"].item() == 1.0 and sd["detection.out.bias"].item() == 0.0
    before = read_weights(base).state_dict
    for key, value in loaded.state_dict.items():
        if not key.startswith("detection."):
            assert torch.equal(value, before[key]), key
    a, b = load_model(base), load_model(out)
    for image in variant_images(tmp / "img"):
        ra, rb = a.analyze(image, keep_logits=True), b.analyze(image, keep_logits=True)
        np.testing.assert_array_equal(ra.map, rb.map)
        np.testing.assert_array_equal(ra.conf, rb.conf)
        diff = rb.loc_logits[1].astype(np.float64) - rb.loc_logits[0]
        k = max(1, math.ceil(0.01 * diff.size))
        top = np.sort(diff.ravel())[::-1][:k].mean()
        assert rb.score == pytest.approx(1 / (1 + math.exp(-top)), abs=1e-5)


def test_calibration_folds_into_the_top_head(top_files, tmp_path):
    from trufor.training.calibration import Calibration, write_calibrated

    _, _, out = top_files
    cal = Calibration(a=2.0, b=-0.5, n_fake=1, n_real=1, fpr_before=0, fpr_after=0, tpr_before=1, tpr_after=1)
    path = write_calibrated(out, tmp_path / "cal.safetensors", cal, data_note="test")
    sd = read_weights(path).state_dict
    assert sd["detection.out.weight"].item() == 2.0 and sd["detection.out.bias"].item() == -0.5
    assert config_of(read_weights(path)).detection_pool == "top_fraction"


def test_fit_head_refuses_the_top_head(top_files):
    from trufor import load_model
    from trufor.training.head_refit import pooled_features

    _, _, out = top_files
    with pytest.raises(TrainingError, match="top_fraction"):
        pooled_features(load_model(out), [], group=str)


def test_a_graft_onto_a_top_head_replaces_the_confidence_only(top_files, tmp_path):
    from trufor import load_model
    from trufor.training.graft import graft_confidence

    tmp, base, out = top_files
    grafted = graft_confidence(out, base, tmp_path / "grafted.safetensors")  # base: same network, its confidence
    config = config_of(read_weights(grafted))
    assert config.detection_pool == "top_fraction" and not config.detection_decoder
    image = variant_images(tmp_path / "img")[0]
    ra, rb = load_model(out).analyze(image), load_model(grafted).analyze(image)
    assert ra.score == rb.score


def test_cli_top_head_writes_the_file_and_names_bad_input(top_files, tmp_path, capsys):
    from trufor.cli import main

    _, base, _ = top_files
    assert main(["train", "top-head", str(base), "-o", str(tmp_path / "a.safetensors")]) == 0
    assert config_of(read_weights(tmp_path / "a.safetensors")).detection_top_fraction == 0.005
    assert "calibrate it" in capsys.readouterr().err
    assert main(["train", "top-head", str(base), "--fraction", "2", "-o", str(tmp_path / "b.safetensors")]) != 0
    assert "--fraction must be in (0, 1]" in capsys.readouterr().err
    missing = tmp_path / "nothere.safetensors"
    assert main(["train", "top-head", str(missing), "-o", str(tmp_path / "c.safetensors")]) != 0
    assert "nothere.safetensors" in capsys.readouterr().err
    assert not (tmp_path / "b.safetensors").exists() and not (tmp_path / "c.safetensors").exists()


def test_top_head_of_the_lite0_variant_is_registered(tmp_path):
    from trufor.training.top_head import top_fraction_detector

    path = random_weights("trufor_lite0_detdec", tmp_path / "dd.safetensors")
    out = top_fraction_detector(path, tmp_path / "top.safetensors")
    assert read_weights(out).metadata["variant"] == "trufor_lite0_top"


@pytest.mark.slow
def test_onnx_export_averages_the_right_count_at_every_size(top_files, tmp_path):
    """The exported graph keeps the count of pixels averaged dynamic: onnxruntime gives the torch engine's score on
    images of other sizes than the one traced (one below the network's smallest side, mirror-padded)."""
    from trufor import load_model
    from trufor.deploy.onnx_export import export_onnx

    _, _, out = top_files
    onnx_file = export_onnx(tmp_path / "top.onnx", out, opset=18)
    runtime = load_model(onnx_file, backend="onnxruntime", mode="exact")
    torch_model = load_model(out)
    for image in variant_images(tmp_path / "img"):
        a, b = runtime.analyze(image), torch_model.analyze(image)
        assert abs(a.score - b.score) <= 1e-5
        assert np.max(np.abs(a.map - b.map)) <= 1e-4
