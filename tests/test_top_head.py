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


# ------------------------------------------------------------------ the mixed head (trufor train top-head --mix)
def test_the_mixed_head_is_a_linear_mix_of_the_top_and_the_statistics_logit():
    from trufor.modeling.detection import DetectionHead, MixedHead

    torch.manual_seed(0)
    statistics = DetectionHead().eval()
    head = MixedHead(0.25, statistics).eval()
    loc, pooled = torch.randn(2, 2, 8, 8), torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        t = top_fraction_mean(loc[:, 1] - loc[:, 0], 0.25)
        s = statistics(loc, pooled)[:, 0]
        assert torch.allclose(head(loc, pooled)[:, 0], t, atol=1e-6)  # until fitted: t alone
        head.out.weight.copy_(torch.tensor([[0.7, -1.3]]))
        head.out.bias.fill_(0.2)
        assert torch.allclose(head(loc, pooled)[:, 0], 0.7 * t - 1.3 * s + 0.2, atol=1e-5)
    with pytest.raises(ValueError, match="fraction"):
        MixedHead(0.0)


def test_the_mixed_config_takes_a_detection_decoder_and_is_read_from_the_tensors(tmp_path):
    config = get_config("trufor_small", detection_pool="top_fraction_statistics", detection_decoder=True,
                        detection_top_fraction=0.02)
    net = _net(config)
    keys = [k for k in net.state_dict() if k.startswith("detection.")]
    assert "detection.statistics.0.weight" in keys and "detection.out.weight" in keys
    assert net.state_dict()["detection.out.weight"].shape == (1, 2)
    path = save_safetensors(net.state_dict(), tmp_path / "mixed.safetensors", net.config, provenance="t", licence="t")
    assert config_of(read_weights(path)) == config
    assert get_config("trufor_lite0_mixed").detection_pool == "top_fraction_statistics"
    x = torch.rand(1, 3, 96, 80)
    from trufor.deploy.onnx_export import ExportableTruFor

    with torch.no_grad():
        ref = net(x)
        eff = EfficientTruFor(net)(x)
        _, _, score, _ = ExportableTruFor(net, "float32")(x)
    assert torch.allclose(ref.det_logit, eff.det_logit, atol=1e-5)
    assert torch.allclose(score, torch.sigmoid(ref.det_logit[:, 0]), atol=1e-6)


def _mix_set(n: int = 200, seed: int = 0):
    """Two noisy logits of a label: t informative on group a, s on group b."""
    from trufor.training.top_head import MixSet

    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.5
    groups = np.where(np.arange(n) % 2 == 0, "a/x", "b/y")
    signal = np.where(labels, 1.0, -1.0)
    t = np.where(groups == "a/x", 2 * signal, 0.0) + rng.normal(size=n)
    s = np.where(groups == "b/y", 2 * signal, 0.0) + rng.normal(size=n)
    return MixSet(np.stack([t, s], axis=1), labels, list(groups), [f"{i}.png" for i in range(n)])


def test_fit_mix_uses_both_logits_where_each_carries_a_part_of_the_truth():
    from trufor.training.head_refit import _auc, sample_weights
    from trufor.training.top_head import fit_mix, mix_report

    data = _mix_set()
    mix = fit_mix(data)
    assert mix.w_top > 0.3 and mix.w_statistics > 0.3
    w = sample_weights(data.labels, data.groups)
    both = _auc(mix(data.inputs), data.labels, w)
    assert both > _auc(data.inputs[:, 0], data.labels, w) + 0.05
    assert both > _auc(data.inputs[:, 1], data.labels, w) + 0.05
    lines = mix_report(data, mix, folds=4)
    assert lines[0].startswith("all (200 images") and "mix out of fold" in lines[0] and len(lines) == 3
    few = data.subset(np.arange(len(data)) < 3)
    with pytest.raises(TrainingError, match="at least 2 manipulated and 2 authentic"):
        fit_mix(few.subset(few.labels) if few.labels.sum() >= 2 else few.subset(~few.labels))


@pytest.fixture(scope="module")
def mix_files(tmp_path_factory):
    """A statistics-head model and a small fitting set: four noisy images with a pasted square (labelled
    manipulated, no mask) and four without."""
    from PIL import Image

    tmp = tmp_path_factory.mktemp("mix")
    torch.manual_seed(5)
    net = TruForNet(get_config("trufor_small")).eval()
    base = save_safetensors(net.state_dict(), tmp / "base.safetensors", net.config, provenance="base model",
                            licence="test only", half=True)
    root = tmp / "set"
    root.mkdir()
    for i in range(8):
        rng = np.random.default_rng(100 + i)
        pixels = np.clip(rng.normal(128, 30, (72, 88, 3)), 0, 255).astype(np.uint8)
        if i < 4:
            pixels[20:44, 30:60] = np.clip(rng.normal(90, 5, (24, 30, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / f"{'fake' if i < 4 else 'real'}{i}.png")
    (root / "fake_list.txt").write_text("".join(f"fake{i}.png\n" for i in range(4)))
    (root / "real_list.txt").write_text("".join(f"real{i}.png\n" for i in range(4, 8)))
    return tmp, base


def test_top_head_mix_records_fits_and_writes_a_file_whose_score_is_the_mix(mix_files, tmp_path, capsys):
    from trufor import load_model
    from trufor.cli import main
    from trufor.training.top_head import Mix

    tmp, base = mix_files
    out, cache = tmp_path / "mixed.safetensors", tmp_path / "cache.npz"
    args = ["train", "top-head", str(base), "--mix", "-d", "list:fake_list.txt,real_list.txt", str(tmp / "set"),
            "--fraction", "0.01", "--cache", str(cache), "--folds", "0", "-o", str(out)]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "logit = " in err and "weighted AUC t " in err and cache.exists()
    loaded = read_weights(out)
    config = config_of(loaded)
    assert config.detection_pool == "top_fraction_statistics" and config.detection_top_fraction == 0.01
    assert "top-head --mix" in loaded.metadata["provenance"] and loaded.metadata["variant"] is not None
    w = loaded.state_dict["detection.out.weight"].float()[0]
    mix = Mix(float(w[0]), float(w[1]), float(loaded.state_dict["detection.out.bias"].float()[0]))
    before, after = load_model(base), load_model(out)
    image = tmp / "set" / "fake0.png"
    ra, rb = before.analyze(image, keep_logits=True), after.analyze(image, keep_logits=True)
    np.testing.assert_array_equal(ra.map, rb.map)
    diff = ra.loc_logits[1].astype(np.float64) - ra.loc_logits[0]
    t = np.sort(diff.ravel())[::-1][:max(1, math.ceil(0.01 * diff.size))].mean()
    s = math.log(ra.score / (1 - ra.score))
    expected = mix(np.array([[t, s]]))[0]
    assert math.log(rb.score / (1 - rb.score)) == pytest.approx(expected, abs=2e-3)
    # the cache makes a rerun instant and gives the same file
    calls = []
    import trufor.inference

    original = trufor.inference.TruFor.analyze
    try:
        trufor.inference.TruFor.analyze = lambda self, *a, **k: calls.append(1) or original(self, *a, **k)
        assert main(args[:-1] + [str(tmp_path / "again.safetensors")]) == 0
    finally:
        trufor.inference.TruFor.analyze = original
    assert calls == []
    assert torch.equal(read_weights(tmp_path / "again.safetensors").state_dict["detection.out.weight"],
                       loaded.state_dict["detection.out.weight"])


def test_a_mixed_file_is_calibrated_grafted_and_refused_where_it_cannot_be(mix_files, tmp_path, capsys):
    from trufor import load_model
    from trufor.cli import main
    from trufor.training.calibration import Calibration, write_calibrated
    from trufor.training.graft import graft_confidence
    from trufor.training.top_head import Mix, mixed_detector

    tmp, base = mix_files
    mixed = mixed_detector(base, tmp_path / "mixed.safetensors", Mix(1.5, 0.5, -0.25), fraction=0.02,
                           data_note="test")
    cal = Calibration(a=2.0, b=-0.5, n_fake=1, n_real=1, fpr_before=0, fpr_after=0, tpr_before=1, tpr_after=1)
    calibrated = write_calibrated(mixed, tmp_path / "cal.safetensors", cal, data_note="test")
    sd = read_weights(calibrated).state_dict
    assert sd["detection.out.weight"].float().tolist() == [[3.0, 1.0]]
    assert sd["detection.out.bias"].float().item() == pytest.approx(-1.0)
    image = variant_images(tmp_path / "img")[0]
    m, c = load_model(mixed).analyze(image), load_model(calibrated).analyze(image)
    logit = math.log(m.score / (1 - m.score))
    assert math.log(c.score / (1 - c.score)) == pytest.approx(2.0 * logit - 0.5, abs=1e-3)
    # a graft gives the mixed head a detection decoder (the confidence decoder it pooled) and keeps its scores
    torch.manual_seed(9)
    donor_sd = read_weights(base).state_dict
    donor_sd = {k: (v.float() + 0.01 * torch.randn_like(v.float()))
                if k.startswith("decode_head_conf.") and v.is_floating_point() else v for k, v in donor_sd.items()}
    donor = save_safetensors(donor_sd, tmp_path / "donor.safetensors", config_of(read_weights(base)),
                             provenance="donor", licence="test only")
    grafted = graft_confidence(calibrated, donor, tmp_path / "grafted.safetensors")
    config = config_of(read_weights(grafted))
    assert config.detection_pool == "top_fraction_statistics" and config.detection_decoder
    g = load_model(grafted).analyze(image)
    assert g.score == pytest.approx(c.score, abs=1e-6) and not np.array_equal(g.conf, c.conf)
    # refused: a mix of a top-fraction head, --mix without --data, a model file that is not there
    with pytest.raises(TrainingError, match="pooled-statistics"):
        mixed_detector(mixed, tmp_path / "twice.safetensors", Mix(1, 1, 0))
    assert main(["train", "top-head", str(base), "--mix", "-o", str(tmp_path / "x.safetensors")]) != 0
    assert "--mix and --data go together" in capsys.readouterr().err
    assert not (tmp_path / "twice.safetensors").exists() and not (tmp_path / "x.safetensors").exists()


@pytest.mark.slow
def test_onnx_export_of_a_mixed_file_gives_the_torch_score(mix_files, tmp_path):
    """The exported graph mixes the map's top (its count of pixels dynamic) with the statistics head: onnxruntime gives
    the torch engine's score and map on images of several sizes."""
    from trufor import load_model
    from trufor.deploy.onnx_export import export_onnx
    from trufor.training.top_head import Mix, mixed_detector

    _, base = mix_files
    mixed = mixed_detector(base, tmp_path / "mixed.safetensors", Mix(1.2, 0.8, -0.3), fraction=0.01, data_note="test")
    runtime = load_model(export_onnx(tmp_path / "mixed.onnx", mixed, opset=18), backend="onnxruntime", mode="exact")
    torch_model = load_model(mixed)
    for image in variant_images(tmp_path / "img"):
        a, b = runtime.analyze(image), torch_model.analyze(image)
        assert abs(a.score - b.score) <= 1e-5
        assert np.max(np.abs(a.map - b.map)) <= 1e-4


# ------------------------------------------------- the map's top measured from the image's median (--reference median)
@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), fraction=st.floats(1e-3, 1.0), shift=st.floats(-50, 50), seed=st.integers(0, 2**16))
def test_the_contrast_is_the_top_minus_the_lower_median_and_ignores_a_shift_of_the_whole_map(n, fraction, shift, seed):
    from trufor.modeling.detection import top_statistic

    values = np.random.default_rng(seed).normal(size=(2, n))
    k = max(1, math.ceil(fraction * n))
    ranked = np.sort(values, axis=1)
    expected = ranked[:, ::-1][:, :k].mean(axis=1) - ranked[:, (n - 1) // 2]  # torch.median: the lower middle value
    got = top_statistic(torch.from_numpy(values), fraction, "median").numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    shifted = top_statistic(torch.from_numpy(values + shift), fraction, "median").numpy()
    np.testing.assert_allclose(shifted, got, atol=1e-9)
    np.testing.assert_array_equal(top_statistic(torch.from_numpy(values), fraction, "none").numpy(),
                                  top_fraction_mean(torch.from_numpy(values), fraction).numpy())


def test_the_reference_is_checked_by_the_heads_and_the_config():
    from trufor.modeling.detection import MixedHead, top_statistic

    for make in (lambda: TopFractionHead(0.1, reference="mean"), lambda: MixedHead(0.1, reference="mean"),
                 lambda: top_statistic(torch.zeros(1, 4), 0.5, "mean")):
        with pytest.raises(ValueError, match="reference must be one of none, median"):
            make()
    with pytest.raises(ValueError, match="detection_top_reference must be one of"):
        get_config("trufor_small", detection_pool="top_fraction", detection_top_reference="max")
    with pytest.raises(ValueError, match="applies to the heads that read the map's top"):
        get_config("trufor_small", detection_top_reference="median")
    contrast = get_config("trufor_lite0_top_contrast")
    assert contrast.detection_pool == "top_fraction" and contrast.detection_top_reference == "median"
    assert get_config("trufor_lite0_top").detection_top_reference == "none"


def test_a_median_head_scores_a_map_raised_all_over_as_the_same_map_unraised():
    net = _net(get_config("trufor_small", detection_pool="top_fraction", detection_top_reference="median"))
    head = net.detection
    assert head.reference == "median" and "reference=median" in repr(head)
    loc = torch.zeros(1, 2, 6, 6)
    loc[0, 1] = torch.linspace(-4, 3, 36).view(6, 6)
    raised = loc.clone()
    raised[0, 1] += 2.5
    with torch.no_grad():
        assert head(raised, None).item() == pytest.approx(head(loc, None).item(), abs=1e-5)
        diff = (loc[0, 1] - loc[0, 0]).flatten()
        top = diff.topk(math.ceil(0.005 * 36)).values.mean() - diff.median()
        assert head(loc, None).item() == pytest.approx(top.item(), abs=1e-5)
        plain = TopFractionHead(0.005)
        assert plain(raised, None).item() == pytest.approx(plain(loc, None).item() + 2.5, abs=1e-5)


def test_the_engines_and_the_onnx_graph_module_read_the_median_as_the_network():
    from trufor.deploy.onnx_export import ExportableTruFor

    net = _net(get_config("trufor_small", detection_pool="top_fraction", detection_top_reference="median"))
    for h, w in ((100, 132), (64, 66), (72, 71)):  # even and odd pixel counts
        x = torch.rand(1, 3, h, w)
        with torch.no_grad():
            ref = net(x)
            eff = EfficientTruFor(net)(x)
            _, _, score, _ = ExportableTruFor(net, "float32")(x)
            diff = (ref.loc_logits[:, 1] - ref.loc_logits[:, 0]).flatten()
            top = diff.topk(math.ceil(0.005 * diff.numel())).values.mean() - diff.median()
        assert ref.det_logit.item() == pytest.approx(top.item(), abs=1e-5)
        assert torch.allclose(ref.det_logit, eff.det_logit, atol=1e-5)
        assert torch.allclose(score, torch.sigmoid(ref.det_logit[:, 0]), atol=1e-6)


def test_weights_files_record_the_reference_and_refuse_a_bad_one(tmp_path):
    config = get_config("trufor_small", detection_pool="top_fraction", detection_top_reference="median")
    net = _net(config)
    path = save_safetensors(net.state_dict(), tmp_path / "median.safetensors", config, provenance="t", licence="t")
    loaded = read_weights(path)
    assert config_of(loaded) == config and infer_config(loaded.state_dict).detection_top_reference == "none"
    loaded.metadata["config"]["detection_top_reference"] = "mode"
    with pytest.raises(WeightsError, match="corrupt metadata"):
        config_of(loaded)
    plain = _net(get_config("trufor_small"))  # a statistics head: a recorded reference cannot apply to it
    path = save_safetensors(plain.state_dict(), tmp_path / "plain.safetensors", plain.config, provenance="t",
                            licence="t")
    loaded = read_weights(path)
    loaded.metadata["config"].update(detection_pool="top_fraction", detection_top_reference="median")
    with pytest.raises(WeightsError, match="disagrees with its tensors"):
        config_of(loaded)
    del loaded.metadata["config"]["detection_top_reference"]  # files written before the key: the absolute level
    loaded.metadata["config"]["detection_pool"] = "statistics"
    assert config_of(loaded).detection_top_reference == "none"


def test_top_head_reference_median_writes_a_contrast_file(top_files, tmp_path, capsys):
    from trufor import load_model
    from trufor.cli import main

    tmp, base, _ = top_files
    out = tmp_path / "contrast.safetensors"
    assert main(["train", "top-head", str(base), "--reference", "median", "-o", str(out)]) == 0
    loaded = read_weights(out)
    assert config_of(loaded).detection_top_reference == "median"
    assert "measured from the image's median logit" in loaded.metadata["provenance"]
    for image in variant_images(tmp / "img")[:2]:
        r = load_model(out).analyze(image, keep_logits=True)
        diff = r.loc_logits[1].astype(np.float64) - r.loc_logits[0]
        k = max(1, math.ceil(0.005 * diff.size))
        flat = np.sort(diff.ravel())
        t = flat[::-1][:k].mean() - flat[(flat.size - 1) // 2]
        assert r.score == pytest.approx(1 / (1 + math.exp(-t)), abs=1e-5)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["train", "top-head", str(base), "--reference", "mean", "-o", str(tmp_path / "bad.safetensors")])
    assert "invalid choice: 'mean'" in capsys.readouterr().err and not (tmp_path / "bad.safetensors").exists()


def test_a_mixed_file_fits_and_reads_its_top_from_the_median(mix_files, tmp_path, capsys):
    from trufor import load_model
    from trufor.cli import main
    from trufor.modeling.detection import top_statistic
    from trufor.training.top_head import Mix, mixed_detector

    tmp, base = mix_files
    out = tmp_path / "mixed.safetensors"
    assert main(["train", "top-head", str(base), "--mix", "-d", "list:fake_list.txt,real_list.txt", str(tmp / "set"),
                 "--fraction", "0.01", "--reference", "median", "--folds", "0", "-o", str(out)]) == 0
    loaded = read_weights(out)
    assert config_of(loaded).detection_top_reference == "median"
    w = loaded.state_dict["detection.out.weight"].float()[0]
    mix = Mix(float(w[0]), float(w[1]), float(loaded.state_dict["detection.out.bias"].float()[0]))
    image = tmp / "set" / "fake1.png"
    r = load_model(base).analyze(image, keep_logits=True)
    diff = torch.from_numpy(r.loc_logits[1].astype(np.float64) - r.loc_logits[0]).unsqueeze(0)
    t, s = float(top_statistic(diff, 0.01, "median")[0]), math.log(r.score / (1 - r.score))
    score = load_model(out).analyze(image).score
    assert math.log(score / (1 - score)) == pytest.approx(mix(np.array([[t, s]]))[0], abs=2e-3)
    with pytest.raises(TrainingError, match="--reference must be one of"):
        mixed_detector(base, tmp_path / "bad.safetensors", Mix(1, 0, 0), reference="mode")
    assert not (tmp_path / "bad.safetensors").exists()


@pytest.mark.slow
def test_onnx_export_of_a_median_head_gives_the_torch_score(top_files, tmp_path):
    """The exported graph reads the median from the sorted map (its rank dynamic): onnxruntime gives the torch engine's
    score on images of several sizes, even and odd pixel counts among them."""
    from trufor import load_model
    from trufor.deploy.onnx_export import export_onnx
    from trufor.training.top_head import top_fraction_detector

    _, base, _ = top_files
    contrast = top_fraction_detector(base, tmp_path / "contrast.safetensors", reference="median")
    runtime = load_model(export_onnx(tmp_path / "contrast.onnx", contrast, opset=18), backend="onnxruntime",
                         mode="exact")
    torch_model = load_model(contrast)
    for image in variant_images(tmp_path / "img"):
        a, b = runtime.analyze(image), torch_model.analyze(image)
        assert abs(a.score - b.score) <= 1e-5


# ------------------------------------------------- benchmarks/top_readings.py: the top read again from cached maps
def _top_readings():
    import importlib.util
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(bench))
    spec = importlib.util.spec_from_file_location("top_readings", bench / "top_readings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 20), window=st.sampled_from([1, 3, 5, 9]), seed=st.integers(0, 2**16))
def test_window_mean_is_the_mean_over_the_square_cut_at_the_border(h, w, window, seed):
    x = np.random.default_rng(seed).normal(size=(h, w))
    got = _top_readings().window_mean(torch.from_numpy(x), window).numpy()
    r = window // 2
    expected = np.array([[x[max(0, i - r):i + r + 1, max(0, j - r):j + r + 1].mean() for j in range(w)]
                         for i in range(h)])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_top_readings_gives_back_the_reports_scores_and_reads_squares(top_files, tmp_path, capsys):
    """With window 1 and the file's own head numbers the scores are `trufor eval`'s; a square changes them, keeps
    the cached maps, and bad arguments are refused."""
    import csv

    from PIL import Image

    from trufor.cli import main

    tr = _top_readings()
    _, _, top = top_files
    data = tmp_path / "data"
    images = variant_images(data / "img")
    mask = np.zeros((80, 96), np.uint8)
    mask[20:40, 24:48] = 255
    Image.fromarray(mask).save(data / "m0.png")
    (data / "fake.txt").write_text(f"img/{images[0].name},m0.png\nimg/{images[2].name}\n")
    (data / "real.txt").write_text(f"img/{images[1].name}\n")
    reports = tmp_path / "reports"
    assert main(["eval", "list:fake.txt,real.txt", "--root", str(data), "-o", str(reports / "toy_base"),
                 "--weights", str(top), "--no-plots", "-q"]) == 0

    def rows(name):
        with open(reports / f"toy_{name}" / "per_image.csv", newline="") as f:
            return {r["name"]: r for r in csv.DictReader(f)}

    for window, name in ((1, "w1"), (9, "w9")):
        assert tr.main(["base", name, "--window", str(window), "--weights", str(top), "--sets", "toy",
                        "--reports", str(reports)]) == 0
    base, w1, w9 = rows("base"), rows("w1"), rows("w9")
    assert all(abs(float(w1[k]["score"]) - float(base[k]["score"])) < 1e-5 for k in base)
    assert any(abs(float(w9[k]["score"]) - float(base[k]["score"])) > 1e-4 for k in base)
    assert all(w9[k]["npz"] == base[k]["npz"] and w9[k]["f1_best"] == base[k]["f1_best"] for k in base)
    for bad in (["--window", "4"], ["--window", "0"], ["--window", "3", "--fraction", "2"]):
        with pytest.raises(SystemExit):
            tr.main(["base", "x", *bad, "--sets", "toy", "--reports", str(reports)])
    with pytest.raises(SystemExit):
        tr.main(["nothing", "x", "--window", "3", "--sets", "toy", "--reports", str(reports)])
