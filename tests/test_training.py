"""Training: losses on hand-computed cases, configs and overrides, data sources, the three phases on
tiny images, exact resume, export to safetensors, and DistributedDataParallel on CPU (Gloo)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from trufor.training import ConfigError, TrainingError, config_from_dict, load_config, train
from trufor.training import losses as L
from trufor.training.data import build_image_level_dataset, build_pair_dataset, crop_pair, folder_pairs, held_out, list_pairs
from trufor.training.loop import EpochBatchSampler, load_training_checkpoint, poly_lr
from trufor.training.noiseprint_phase import History, apply_history, edited_patch

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """6 small JPEG photos with EXIF (3 camera models), an image/mask folder pair and a list file."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for sub in ("photos", "imgs", "masks"):
        (root / sub).mkdir()
    lines = []
    for i in range(6):
        a = rng.integers(0, 256, (72, 88, 3), dtype=np.uint8)
        exif = Image.Exif()
        exif[0x010F], exif[0x0110] = "TestCam", f"Model {i % 3}"
        Image.fromarray(a).save(root / "photos" / f"p{i}.jpg", quality=90, exif=exif)
        Image.fromarray(a).save(root / "imgs" / f"i{i}.png")
        if i % 2 == 0:
            m = np.zeros((72, 88), np.uint8)
            m[16:48, 24:64] = 255
            Image.fromarray(m).save(root / "masks" / f"i{i}_gt.png")
            lines.append(f"imgs/i{i}.png,masks/i{i}_gt.png")
        else:
            lines.append(f"imgs/i{i}.png,None")
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    return root


def phase_config(phase: str, data: Path, out: Path, **sections) -> dict:
    """A tiny config of ``phase`` (64 px crops, 32 px patches, batch 2, 2 steps per epoch)."""
    pairs = {"type": "folder", "images": str(data / "imgs"), "masks": str(data / "masks"), "mask_suffix": "_gt",
             "pristine": True}
    cfg: dict = {
        "phase": phase,
        "model": {"variant": "trufor_small"},
        "data": {"train": [pairs], "val": [pairs], "crop_size": 64},
        "train": {"epochs": 1, "steps_per_epoch": 2, "batch_size": 2, "progress": False, "threads": 1},
        "val": {"batches": 2},
        "noiseprint": {"patch_size": 32, "histories": 2, "offsets": 2, "patches": 2},
        "loss": {"border": 4},
        "output": {"dir": str(out)},
    }
    if phase == "noiseprint":
        photos = {"type": "pristine", "folders": [str(data / "photos")], "holdout": 0.5}
        cfg["data"] = {"train": [photos], "val": [photos]}
        cfg["train"]["optimizer"] = "adam"
        cfg["train"]["lr"] = 1e-3
    for name, values in sections.items():
        cfg.setdefault(name, {}).update(values)
    return cfg


def run(cfg: dict):
    return train(config_from_dict(cfg), log=lambda s: None)


# ----------------------------------------------------------------------------------------- losses
def test_weighted_cross_entropy_hand_computed():
    # two valid pixels (forged with p1 = sigmoid(2), pristine with p0 = 1/2) and one ignored pixel
    logits = torch.tensor([[0.0, 2.0], [0.0, 0.0], [5.0, -5.0]]).T.reshape(1, 2, 1, 3)
    target = torch.tensor([[[1, 0, -1]]])
    l1 = -math.log(1 / (1 + math.exp(-2)))
    l0 = math.log(2)
    expected = (2.5 * l1 + 0.5 * l0) / (2.5 + 0.5)
    assert L.weighted_cross_entropy(logits, target, (0.5, 2.5)).item() == pytest.approx(expected, rel=1e-6)
    assert L.weighted_cross_entropy(logits, torch.full_like(target, -1), (0.5, 2.5)).item() == 0.0


def test_dice_loss_hand_computed():
    # p(forged) = 0.5 everywhere (zero logits), 4 pixels: 2 forged, 1 pristine, 1 ignored
    logits = torch.zeros(1, 2, 2, 2)
    target = torch.tensor([[[1, 1], [0, -1]]])
    inter = 0.5 + 0.5
    denom = 3 * 0.25 + 2  # sum p^2 over 3 valid pixels + sum t^2
    expected = 1 - (2 * inter + 1) / (denom + 1)
    assert L.dice_loss(logits, target).item() == pytest.approx(expected, rel=1e-6)
    # a perfect, confident prediction has Dice loss ~0
    perfect = torch.stack([torch.tensor([[-20.0, -20.0], [20.0, 0.0]]), torch.tensor([[20.0, 20.0], [-20.0, 0.0]])])[None]
    assert L.dice_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-6)


def test_localization_loss_is_weighted_sum_and_ignores_padding():
    torch.manual_seed(0)
    logits = torch.randn(2, 2, 8, 8)
    target = torch.randint(0, 2, (2, 8, 8))
    target[:, :, 6:] = -1
    loss, parts = L.localization_loss(logits, target)
    assert loss.item() == pytest.approx(0.3 * parts["ce"] + 0.7 * parts["dice"], rel=1e-6)
    changed = logits.clone()
    changed[:, :, :, 6:] = 100 * torch.randn(2, 2, 8, 2)
    assert L.localization_loss(changed, target)[0].item() == pytest.approx(loss.item(), rel=1e-6)


def test_image_level_loss_hand_computed():
    """The top 25 % of a 2x2 map is one pixel: the loss is the BCE of its logit difference against the label."""
    logits = torch.zeros(2, 2, 2, 2)
    logits[0, 1] = torch.tensor([[3.0, -1.0], [0.0, -2.0]])  # image 0: forged-minus-pristine logits, top one 3
    logits[1, 0] = torch.tensor([[1.0, 2.0], [0.5, 4.0]])  # image 1: all negative, top one -0.5
    label = torch.tensor([1, 0])
    loss, pooled = L.image_level_loss(logits, label, topk=0.25)
    assert pooled.tolist() == pytest.approx([3.0, -0.5])
    expected = (math.log1p(math.exp(-3.0)) + math.log1p(math.exp(-0.5))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # half the pixels: the mean of the top two; a map firing harder on a fake costs less, on an authentic more
    assert L.image_level_loss(logits, label, topk=0.5)[1].tolist() == pytest.approx([1.5, -0.75])
    hotter = logits.clone()
    hotter[:, 1] += 1.0
    assert L.image_level_loss(hotter[:1], label[:1], 0.25)[0] < L.image_level_loss(logits[:1], label[:1], 0.25)[0]
    assert L.image_level_loss(hotter[1:], label[1:], 0.25)[0] > L.image_level_loss(logits[1:], label[1:], 0.25)[0]
    with pytest.raises(ValueError, match="topk"):
        L.image_level_loss(logits, label, topk=0.0)


def test_confidence_loss_hand_computed():
    # loc logits: p1 = 0.8 everywhere; conf logit 0 -> 0.5. Forged pixel: TCP 0.8, pristine: 0.2
    p1 = 0.8
    loc = torch.zeros(1, 2, 1, 3)
    loc[:, 1] = math.log(p1 / (1 - p1))
    conf = torch.zeros(1, 1, 1, 3)
    target = torch.tensor([[[1, 0, -1]]])
    expected = ((0.5 - 0.8) ** 2 + (0.5 - 0.2) ** 2) / 2
    got = L.confidence_loss(loc, conf, target, erode=1, dilate=1)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_boundary_free_targets():
    target = torch.zeros(1, 7, 7, dtype=torch.long)
    target[0, 1:6, 1:6] = 1
    core_f, core_p = L.boundary_free_targets(target, erode=3, dilate=3)
    assert core_f[0].nonzero().tolist() == [[y, x] for y in range(2, 5) for x in range(2, 5)]
    assert int(core_p.sum()) == 0  # every pixel of a 7x7 image is within 1 px of the 5x5 square
    core_f1, core_p1 = L.boundary_free_targets(target, erode=1, dilate=1)
    assert torch.equal(core_f1[0], target[0] == 1) and torch.equal(core_p1[0], target[0] == 0)


def test_detection_loss_and_targets_hand_computed():
    logits = torch.tensor([[0.0], [2.0]])
    labels = torch.tensor([0.0, 1.0])
    w0, w1 = 0.5 / 0.3, 0.5 / 0.7
    expected = (w0 * math.log(2) + w1 * -math.log(1 / (1 + math.exp(-2)))) / 2
    assert L.detection_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)
    masks = torch.zeros(3, 4, 4, dtype=torch.long)
    masks[1, 0, :3] = 1
    masks[2, :2, :2] = 1
    masks[0] = -1
    assert L.detection_targets(masks, min_pixels=4).tolist() == [0.0, 0.0, 1.0]


def test_contrastive_loss_hand_computed():
    # three 1-D "fingerprints" 0, 0.5, 2 (no centering): anchors 0 and 1 are positives of each other
    x = torch.tensor([0.0, 0.5, 2.0]).reshape(3, 1, 1, 1)
    d = L.pairwise_sq_distances(x, center=False)
    assert d.flatten().tolist() == pytest.approx([0, 0.25, 4, 0.25, 0, 2.25, 4, 2.25, 0])
    labels = torch.tensor([0, 0, 1])
    la = -math.log(math.exp(-0.25) / (math.exp(-0.25) + math.exp(-4)))
    lb = -math.log(math.exp(-0.25) / (math.exp(-0.25) + math.exp(-2.25)))
    got = L.contrastive_loss_from_distances(d, labels, temperature=1.0)
    assert got.item() == pytest.approx((la + lb) / 2, rel=1e-6)  # anchor 2 has no positive
    assert L.contrastive_loss_from_distances(d, torch.tensor([0, 1, 2])).item() == 0.0


# ---------------------------------------------------------------------------------------- config
def test_config_overrides_and_validation(tmp_path, tiny_data):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(phase_config("localization", tiny_data, tmp_path / "o")
                                   | {"model": {"variant": "trufor_small", "noiseprint_init": "x.pt"}}))
    cfg = load_config(path, ["train.lr=0.01", "data.train.0.mask_suffix=_m", "loss.class_weights=[1, 3]",
                             "val.batches=null", "phase=2", "output.dir=${repo}/out/x"])
    assert cfg.train.lr == 0.01 and isinstance(cfg.train.lr, float)
    assert cfg.data.train[0]["mask_suffix"] == "_m"
    assert cfg.loss.class_weights == [1.0, 3.0] and cfg.val.batches is None
    assert cfg.phase == "localization" and cfg.output.dir == f"{REPO}/out/x"
    with pytest.raises(ConfigError, match="did you mean 'lr'"):
        load_config(path, ["train.lrr=0.1"])
    with pytest.raises(ConfigError, match="expected an integer"):
        load_config(path, ["train.epochs=1.5"])
    with pytest.raises(ConfigError, match="unknown variant"):
        load_config(path, ["model.variant=nope"])
    with pytest.raises(ConfigError, match="out of range"):
        load_config(path, ["data.train.3.images=x"])
    with pytest.raises(ConfigError, match="noiseprint_init"):
        load_config(path, ["model.noiseprint_init=null"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(path, ["train.lr"])


def test_phase3_draws_have_one_owner():
    """Runs 11-14 draw phase 3 three times through one script: run 3's recipe, three seed pairs, then the average."""
    helper = (REPO / "scripts" / "phase3_draws.sh").read_text()
    assert 'configs/lite0_run10_phase3.yaml}")' in helper and 'trufor train "$config" ' in helper  # the default recipe
    assert "trufor train average" in helper
    assert '[d1]="33 23" [d2]="34 24" [d3]="35 25"' in helper
    for run, name in (("11", "run11"), ("12", "run12"), ("13", "run13b"), ("14", "run14"), ("15", '"$run"'),
                      ("16", '"$run"'), ("18", "run18")):
        script = (REPO / "scripts" / f"train_lite0_run{run}.sh").read_text()
        assert f"scripts/phase3_draws.sh {name} " in script and "lite0_run10_phase3.yaml" not in script.split("\nset ")[1]
    usage = subprocess.run(["bash", str(REPO / "scripts" / "phase3_draws.sh")], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: scripts/phase3_draws.sh NAME TRUNK HEADS" in usage.stderr
    missing = subprocess.run(["bash", str(REPO / "scripts" / "phase3_draws.sh"), "x", "/nonexistent/last.pt", __file__],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "/nonexistent/last.pt: no such file" in missing.stderr
    config = subprocess.run(["bash", str(REPO / "scripts" / "phase3_draws.sh"), "x", __file__, __file__,
                             "/nonexistent/phase3.yaml"], capture_output=True, text=True)
    assert config.returncode == 2 and "/nonexistent/phase3.yaml: no such file" in config.stderr
    run15 = (REPO / "scripts" / "train_lite0_run15.sh").read_text()  # 15p: run 14's network, 15q: run 15's
    assert "[run15p]=out/train/lite0_run12d_phase2/last.pt" in run15 and "[run15q]=out/train/lite0_run15_phase2/last.pt" in run15
    assert "[run15p]=configs/lite0_run15p_phase3.yaml [run15q]=configs/lite0_run15p_phase3.yaml" in run15
    assert 'scripts/phase3_draws.sh "$run" "$trunk" "$run2" "configs/lite0_${run}_phase3.yaml"' \
        in (REPO / "scripts" / "train_lite0_run16.sh").read_text()


def test_phase2_maps_have_one_owner():
    """Runs 12 and 14 evaluate a phase-2 network's maps through one script, on the sets the map probes read."""
    helper = (REPO / "scripts" / "evaluate_maps.sh").read_text()
    for report in ("heldout_$name", "calibpart_$name", "synthetic_holdout_$name"):
        assert f'-o "out/reports/{report}"' in helper
    assert "--allow-phase2" in helper
    assert 'scripts/evaluate_maps.sh "$1" "$2"' in (REPO / "scripts" / "train_lite0_run12.sh").read_text()
    assert "scripts/evaluate_maps.sh run14b_maps lite0_run14b_phase2" in (REPO / "scripts" / "train_lite0_run14.sh").read_text()
    run15 = (REPO / "scripts" / "train_lite0_run15.sh").read_text()
    assert "scripts/evaluate_maps.sh run15c_maps lite0_run15_control_phase2" in run15
    assert "scripts/evaluate_maps.sh run15_maps lite0_run15_phase2" in run15
    assert "scripts/evaluate_maps.sh run15b_maps lite0_run15b_phase2" in run15
    usage = subprocess.run(["bash", str(REPO / "scripts" / "evaluate_maps.sh"), "x"], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: scripts/evaluate_maps.sh NAME RUN" in usage.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
def test_bundled_configs_load(name, monkeypatch, tmp_path):
    monkeypatch.setenv("TRUFOR_SHARED", str(tmp_path / "shared"))
    cfg = load_config(REPO / "configs" / name)
    # the fine-tuning templates and runs 28, 30a, 39, 42, 43, 44, 47, 49 and 50 start from the bundled model, which
    # reads its score from the map's top (run 27); run 25's phase 3 has a detection decoder
    expected = "trufor_lite0_top" if name.startswith(("finetune_", "lite0_run28_", "lite0_run30a_", "lite0_run39_",
                                                      "lite0_run42_", "lite0_run43_", "lite0_run44_", "lite0_run47_",
                                                      "lite0_run49_", "lite0_run50_")) \
        else "trufor_lite0_detdec" \
        if name.startswith("lite0_run25_") else "trufor_lite0" if name.startswith("lite0_") else "trufor_small"
    assert cfg.model.variant == expected
    assert str(tmp_path / "shared") in str(cfg.data.train)  # data located from ${shared}, never hard-coded
    assert "casia" not in yaml.safe_dump(cfg.to_dict()).lower()  # CASIA is evaluation only
    if name.startswith("bundled_"):  # the pipeline that made the first bundled model runs every bundled config
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_bundled.sh").read_text()
    if name.startswith("lite0_continue_"):  # run 3 and later: continued from the committed bundled model
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_bundled_lite0_run3.sh").read_text()
        assert cfg.model.init.endswith(("bundled/trufor_lite0.safetensors", "lite0_run3_phase2/best.pt"))
    elif name.startswith("lite0_arm_") or name == "lite0_run4_phase3_long.yaml":  # equal-budget arms beside run 4
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_lite0_run4_arms.sh").read_text()
        assert cfg.model.init.endswith(("bundled/trufor_lite0.safetensors", "_phase2/best.pt"))
    elif name.startswith("lite0_run5_"):  # run 5: the GPU recipe, also run on CPU at run 4's budget
        for script in ("train_lite0_run5_gpu.sh", "train_lite0_run5_cpu.sh"):
            assert f"trufor train configs/{name}" in (REPO / "scripts" / script).read_text()
        assert cfg.model.init.endswith(("bundled/trufor_lite0.safetensors", "lite0_run5_gpu_phase2/best.pt"))
        assert all(s.get("donor_jpeg") == 0.5 for s in cfg.data.train if s["type"] == "synthetic")
    elif name.startswith("lite0_run9_"):  # run 9: synthetic edits at web scale, from the bundled model
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_lite0_run9.sh").read_text()
        assert cfg.model.init.endswith(("bundled/trufor_lite0.safetensors", "lite0_run9b_phase2/best.pt"))
        web = [s.get("web_scale") for s in cfg.data.train + cfg.data.val if s["type"] == "synthetic"]
        assert web == ([None, None] if name == "lite0_run9_phase3c.yaml" else [0.5, 0.5])  # 9c: 9a's control
    elif name.startswith("lite0_run10_"):  # run 10: run 3's phase 3 drawn again on the bundled model's network
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_lite0_run10.sh").read_text()
        assert cfg.phase == "confidence" and cfg.model.init.endswith("bundled/trufor_lite0.safetensors")
        run3 = load_config(REPO / "configs" / "lite0_continue_phase3.yaml")
        assert (cfg.data.train, cfg.train.lr, cfg.train.epochs, cfg.train.steps_per_epoch, cfg.loss) == \
            (run3.data.train, run3.train.lr, run3.train.epochs, run3.train.steps_per_epoch, run3.loss)
    elif name.startswith("lite0_run11_"):  # run 11: phase 2 from the bundled model with real-life photos weighted up
        control = name == "lite0_run11_control_phase2.yaml"  # ... and its control, run 3's weighting
        script = (REPO / "scripts" / ("train_lite0_run11_control.sh" if control else "train_lite0_run11.sh")).read_text()
        assert f"trufor train configs/{name}" in script
        assert control or "scripts/phase3_draws.sh run11 " in script  # run 3's phase 3 drawn three times, averaged
        assert cfg.phase == "localization" and cfg.model.init.endswith("bundled/trufor_lite0.safetensors")
        imd = [s for s in cfg.data.train if s["type"] == "list"]
        assert [(s["repeat"], s.get("web_copies", 0), s["holdout"], s["calibration"]) for s in imd] == \
            ([(12, 0, 0.4, 0.4), (3, 0, 0.4, 0.4)] if control else [(36, 0.5, 0.4, 0.4), (12, 0.5, 0.4, 0.4)])
        main = load_config(REPO / "configs" / "lite0_run11_phase2.yaml")  # the control differs only there
        assert (cfg.data.train[0], cfg.train, cfg.loss) == (main.data.train[0], main.train, main.loss)
    elif name.startswith("lite0_run16_"):  # run 16: run 14's phase 3 with the detection gradient kept out of the confidence
        assert name == "lite0_run16_phase3.yaml" and "run=run16 " in (REPO / "scripts" / "train_lite0_run16.sh").read_text()
        run10 = load_config(REPO / "configs" / "lite0_run10_phase3.yaml")
        assert cfg.loss.det_detach_conf and not run10.loss.det_detach_conf
        cfg.loss.det_detach_conf = False
        assert (cfg.phase, cfg.data, cfg.train, cfg.loss) == ("confidence", run10.data, run10.train, run10.loss)
    elif name.startswith("lite0_run16b_"):  # run 16b: run 14's phase 3 with the confidence loss weighted 25x
        assert name == "lite0_run16b_phase3.yaml" and "run=run16b" in (REPO / "scripts" / "train_lite0_run16.sh").read_text()
        run10 = load_config(REPO / "configs" / "lite0_run10_phase3.yaml")
        assert (cfg.loss.conf_weight, run10.loss.conf_weight, cfg.loss.det_detach_conf) == (25.0, 1.0, False)
        cfg.loss.conf_weight = 1.0
        assert (cfg.phase, cfg.data, cfg.train, cfg.loss) == ("confidence", run10.data, run10.train, run10.loss)
    elif name.startswith(("lite0_run17_", "lite0_run17b_")):  # run 17: run 16's detached phase 3 for a graft; 17b balanced
        script = (REPO / "scripts" / "train_lite0_run17.sh").read_text()
        assert name in ("lite0_run17_phase3.yaml", "lite0_run17b_phase3.yaml")
        assert 'scripts/phase3_draws.sh "$run" "$run14" "$run2" "configs/lite0_${run}_phase3.yaml"' in script
        assert ("run=run17b" if "17b" in name else "run=run17 ") in script
        assert "trufor train graft-confidence" in script
        run16 = load_config(REPO / "configs" / "lite0_run16_phase3.yaml")
        assert (cfg.val.best_metric, cfg.val.best_mode, run16.val.best_metric) == ("conf_mse", "min", "det_auc")
        assert cfg.loss.conf_balance == ("flagged" if "17b" in name else "none")
        cfg.loss.conf_balance, cfg.val.best_metric, cfg.val.best_mode = "none", "det_auc", None
        cfg.output.dir = run16.output.dir
        assert (cfg.phase, cfg.data, cfg.train, cfg.loss, cfg.val) == ("confidence", run16.data, run16.train, run16.loss,
                                                                        run16.val)
    elif name.startswith("lite0_run26_"):  # run 26: runs 21 and 23's data together, new seeds (a soup ingredient)
        assert name == "lite0_run26_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run26.sh").read_text()
        assert f"trufor train configs/{name}" in script
        assert "scripts/phase3_draws.sh run26 $soup $run17 configs/lite0_run25_phase3.yaml" in script
        run21 = load_config(REPO / "configs" / "lite0_run21_phase2.yaml")
        run23 = load_config(REPO / "configs" / "lite0_run23_phase2.yaml")
        assert cfg.data.train[4] == run23.data.train[4]  # the training fakes with derived masks, as in run 23
        del cfg.data.train[4]
        assert (cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"]) == (190, 190, 191)
        cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"] = 180, 180, 181
        assert cfg.output.dir.endswith("lite0_run26_phase2")
        cfg.output.dir = run21.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (run21.model, run21.data, run21.train,
                                                                       run21.loss, run21.val)
    elif name.startswith("lite0_run27"):  # run 27: runs 21 / 26 without the camera calibration part as whole images
        assert name in ("lite0_run27a_phase2.yaml", "lite0_run27b_phase2.yaml")
        script = (REPO / "scripts" / "train_lite0_run27.sh").read_text()
        assert "trufor train configs/lite0_run${r}_phase2.yaml" in script and "for r in 27a 27b" in script
        assert "out/lists/calib_groups_camera_real.txt" in script
        base = load_config(REPO / "configs" / ("lite0_run21_phase2.yaml" if "27a" in name else "lite0_run26_phase2.yaml"))
        camera = [s for s in cfg.data.image_level if s.get("images", "").endswith("pristine/camera")]
        assert [s["holdout"] for s in camera] == [0.3]  # the camera calibration part is never a whole-image negative
        camera[0]["holdout"] = 0.1
        assert cfg.output.dir.endswith(name.removesuffix(".yaml"))
        cfg.output.dir = base.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (base.model, base.data, base.train, base.loss,
                                                                       base.val)
    elif name.startswith("lite0_run28_"):  # run 28: run 27b's config continued from run 27's shipped file, new seeds
        assert name == "lite0_run28_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run28.sh").read_text()
        assert f"trufor train configs/{name}" in script
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # run 27's ship commit
        assert "out/lists/calib_groups_camera_real.txt" in script and "--allow-phase2" in script
        run29 = (REPO / "scripts" / "train_lite0_run29.sh").read_text()  # run 29: run 27 and 28 averaged, same groups
        assert "trufor train average $run27 \\\n        out/lite0_run28_uncalibrated.safetensors" in run29
        assert "out/lists/calib_groups_camera_real.txt" in run29 and "scripts/train_lite0_run28.sh phase2 export" in run29
        base = load_config(REPO / "configs" / "lite0_run27b_phase2.yaml")
        assert cfg.model.init.endswith("out/run27_bundled.safetensors")
        assert base.model.init.endswith("run14_bundled.safetensors")
        cfg.model.init, cfg.model.variant = base.model.init, base.model.variant
        assert (cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"]) == (280, 280, 281)
        cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"] = 190, 190, 191
        assert cfg.output.dir.endswith("lite0_run28_phase2")
        cfg.output.dir = base.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (base.model, base.data, base.train, base.loss,
                                                                       base.val)
    elif name.startswith("lite0_run30a_"):  # run 30a: run 28 drawn again with other seeds; run 30 averages the two
        assert name == "lite0_run30a_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run30.sh").read_text()
        assert f"trufor train configs/{name}" in script and "--allow-phase2" in script
        assert "out/lite0_run28_uncalibrated.safetensors out/lite0_run30a_uncalibrated.safetensors" in script
        for out in ("lite0_run30", "lite0_run30a"):  # run 30 and run 30a are calibrated on run 27's groups
            assert f"out/{out}.safetensors out/lists/calib_groups_camera_real.txt" in script
        base = load_config(REPO / "configs" / "lite0_run28_phase2.yaml")
        assert (cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"]) == (300, 300, 301)
        cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"] = 280, 280, 281
        assert cfg.output.dir.endswith("lite0_run30a_phase2")
        cfg.output.dir = base.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (base.model, base.data, base.train, base.loss,
                                                                       base.val)
    elif name.startswith("lite0_run36f"):  # run 36: run 31c's config on a cross-validation fold's IMD2020 lists
        k = name[len("lite0_run36f")]
        assert name == f"lite0_run36f{k}_phase2.yaml" and k in "12"
        script = (REPO / "scripts" / "train_lite0_run36.sh").read_text()
        assert "trufor train configs/lite0_run36f${k}_phase2.yaml" in script and "--allow-phase2" in script
        assert "python scripts/imd2020_cv_folds.py out/lists --folds 2 --seed 36" in script
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # run 27's heads
        control = load_config(REPO / "configs" / "lite0_run31c_phase2.yaml")
        subset = f"{tmp_path / 'shared'}/data/forgeries/imd2020_subset"

        def fold_list(kind: str, **extra) -> dict:
            return {"type": "list", "file": f"{REPO}/out/lists/cv/fold{k}_train_{kind}.txt", "root": subset, **extra}

        # the six IMD2020 list sources, in 31c's places (so every other source keeps its seed), read the fold's lists
        assert [s for s in cfg.data.train if s["type"] == "list"] == [
            fold_list("masked", repeat=12), fold_list("real", repeat=3), fold_list("derived", repeat=12)]
        assert cfg.data.image_level[:3] == [fold_list("masked", label="fake", repeat=6),
                                            fold_list("nomask", label="fake", repeat=6),
                                            fold_list("real", label="real")]
        cfg.data.train = [s for s in cfg.data.train if s["type"] != "list"]
        control.data.train = [s for s in control.data.train if s["type"] != "list"]
        assert len(cfg.data.train) == 2 and cfg.data.image_level[3:] == control.data.image_level[3:]
        cfg.data.image_level = control.data.image_level
        assert cfg.output.dir.endswith(f"lite0_run36f{k}_phase2")
        cfg.output.dir = control.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (control.model, control.data, control.train,
                                                                       control.loss, control.val)
    elif name.startswith("lite0_run38a_"):  # run 38a: run 31c's config with mirrored crops and whole images
        assert name == "lite0_run38a_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run38.sh").read_text()
        assert f"trufor train configs/{name}" in script and "--allow-phase2" in script
        assert "git show 44fea4a:src/trufor/bundled/trufor_lite0.safetensors > $run14" in script  # run 14's ship commit
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # run 27's heads
        assert "out/lite0_run38a_uncalibrated.safetensors --parts backbone,decode_head" in script
        control = load_config(REPO / "configs" / "lite0_run31c_phase2.yaml")
        assert cfg.data.mirror == 0.5 and control.data.mirror == 0.0
        cfg.data.mirror = 0.0
        assert cfg.output.dir.endswith("lite0_run38a_phase2")
        cfg.output.dir = control.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (control.model, control.data, control.train,
                                                                       control.loss, control.val)
    elif name.startswith("lite0_run39_"):  # run 39: run 28 with every BatchNorm layer frozen, nothing else changed
        assert name == "lite0_run39_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run39.sh").read_text()
        assert f"trufor train configs/{name}" in script and "--allow-phase2" in script
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # its init
        assert "for arm in run39 run39h; do" in script and "out/lists/calib_groups_camera_real.txt" in script
        assert "trufor train average $run27 \\\n        out/lite0_run39_uncalibrated.safetensors --parts backbone,decode_head" \
            in script
        control = load_config(REPO / "configs" / "lite0_run28_phase2.yaml")
        assert cfg.train.batchnorm == "frozen" and control.train.batchnorm == "train"
        cfg.train.batchnorm = "train"
        assert cfg.output.dir.endswith("lite0_run39_phase2")
        cfg.output.dir = control.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (control.model, control.data, control.train,
                                                                       control.loss, control.val)
    elif name.startswith("lite0_run42_"):  # run 42: run 39 drawn again with other seeds; 42h averages 27, 39 and 42
        assert name == "lite0_run42_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run42.sh").read_text()
        assert f"trufor train configs/{name}" in script and "--allow-phase2" in script
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # its init
        assert "out/lite0_run39_uncalibrated.safetensors out/lite0_run42_uncalibrated.safetensors --parts " \
            "backbone,decode_head \\\n        --coefficients 2,1,1" in script
        assert "out/lite0_run42h.safetensors out/lists/calib_groups_camera_real.txt" in script
        base = load_config(REPO / "configs" / "lite0_run39_phase2.yaml")
        assert cfg.train.batchnorm == "frozen"
        assert (cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"]) == (420, 420, 421)
        cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"] = 280, 280, 281
        assert cfg.output.dir.endswith("lite0_run42_phase2")
        cfg.output.dir = base.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (base.model, base.data, base.train, base.loss,
                                                                       base.val)
    elif name.startswith("lite0_run47_"):  # run 47: run 39 with the Noiseprint++ extractor trained, nothing else changed
        assert name == "lite0_run47_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run47.sh").read_text()
        assert f"trufor train configs/{name}" in script and "--allow-phase2" in script
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # its init
        assert "trufor train average $run27 \\\n        out/lite0_run47_uncalibrated.safetensors --parts " \
            "dncnn,backbone,decode_head" in script
        assert "out/lite0_run47h.safetensors out/lists/calib_groups_camera_real.txt" in script
        base = load_config(REPO / "configs" / "lite0_run39_phase2.yaml")
        assert cfg.train.noiseprint == "trained" and base.train.noiseprint == "frozen"
        cfg.train.noiseprint = "frozen"
        assert cfg.output.dir.endswith("lite0_run47_phase2")
        cfg.output.dir = base.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (base.model, base.data, base.train, base.loss,
                                                                       base.val)
    elif name.startswith("lite0_run49_"):  # run 49: run 39, IMD2020 originals as often as its fakes
        assert name == "lite0_run49_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run49.sh").read_text()
        assert f"trufor train configs/{name}" in script and "--allow-phase2" in script
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # its init
        assert "trufor train average $run27 \\\n        out/lite0_run49_uncalibrated.safetensors --parts " \
            "backbone,decode_head" in script
        assert "out/lite0_run49h.safetensors out/lists/calib_groups_camera_real.txt" in script
        base = load_config(REPO / "configs" / "lite0_run39_phase2.yaml")
        originals = [s for s in cfg.data.image_level if s.get("file", "").endswith("imd2020_subset/real_list.txt")]
        fakes = [s for s in cfg.data.image_level if s.get("label") == "fake"]
        assert len(originals) == 1 and originals[0].pop("repeat") == 6 == fakes[0]["repeat"] == fakes[1]["repeat"]
        assert cfg.output.dir.endswith("lite0_run49_phase2")
        cfg.output.dir = base.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (base.model, base.data, base.train, base.loss,
                                                                       base.val)
    elif name.startswith("lite0_run50_"):  # run 50: run 39 with an image-level stream of training-side pairs only
        assert name == "lite0_run50_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run50.sh").read_text()
        assert f"trufor train configs/{name}" in script and "--allow-phase2" in script
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # its init
        assert "python scripts/imd2020_pairs.py out/lists --from-csv" in script  # writes the two pair lists
        assert "trufor train average $run27 \\\n        out/lite0_run50_uncalibrated.safetensors --parts " \
            "backbone,decode_head" in script
        assert "out/lite0_run50h.safetensors out/lists/calib_groups_camera_real.txt" in script
        base = load_config(REPO / "configs" / "lite0_run39_phase2.yaml")
        subset = str(tmp_path / "shared" / "data" / "forgeries" / "imd2020_subset")
        assert cfg.data.image_level == [
            {"type": "list", "file": f"{REPO}/out/lists/imd2020_training_pair_{kind}s.txt", "root": subset,
             "label": label, "holdout": 0.4, "calibration": 0.4}
            for kind, label in (("fake", "fake"), ("original", "real"))]
        cfg.data.image_level = base.data.image_level
        assert cfg.output.dir.endswith("lite0_run50_phase2")
        cfg.output.dir = base.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (base.model, base.data, base.train, base.loss,
                                                                       base.val)
    elif name.startswith("lite0_run44_"):  # run 44: run 43 with the web-scale synthetic items pristine 45 % of the time
        assert name == "lite0_run44_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run44.sh").read_text()
        assert f"trufor train configs/{name}" in script and "--allow-phase2" in script
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # its init
        assert "trufor train average $run27 \\\n        out/lite0_run44_uncalibrated.safetensors --parts " \
            "backbone,decode_head" in script
        assert "out/lite0_run44h.safetensors out/lists/calib_groups_camera_real.txt" in script
        base = load_config(REPO / "configs" / "lite0_run43_phase2.yaml")
        assert (cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"]) == (440, 440, 441)
        cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"] = 430, 430, 431
        for source in cfg.data.train[:2]:  # both synthetic sources, and only they: a balanced web history
            assert source.pop("web_pristine") == 0.45 and source["web_scale"] == 0.5
        assert not any("web_pristine" in s for s in cfg.data.train + cfg.data.val + cfg.data.image_level)
        assert cfg.output.dir.endswith("lite0_run44_phase2")
        cfg.output.dir = base.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (base.model, base.data, base.train, base.loss,
                                                                       base.val)
    elif name.startswith("lite0_run43_"):  # run 43: run 39 with web copies of authentic photos only, web-scale edits
        assert name == "lite0_run43_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run43.sh").read_text()
        assert f"trufor train configs/{name}" in script and "--allow-phase2" in script
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # its init
        assert "trufor train average $run27 \\\n        out/lite0_run43_uncalibrated.safetensors --parts " \
            "backbone,decode_head" in script
        assert "out/lite0_run43h.safetensors out/lists/calib_groups_camera_real.txt" in script
        base = load_config(REPO / "configs" / "lite0_run39_phase2.yaml")
        assert cfg.train.batchnorm == "frozen"
        assert (cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"]) == (430, 430, 431)
        cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"] = 280, 280, 281
        for source in cfg.data.train[:2]:  # both synthetic sources: half of the items edited at web scale
            assert source.pop("web_scale") == 0.5
        # web copies on the authentic sources only; never on a fake (a web copy erases the traces, the label stays)
        authentic = [s for s in cfg.data.train if s.get("file", "").endswith("real_list.txt")] + \
            [s for s in cfg.data.image_level if s.get("label") == "real"]
        assert len(authentic) == 4
        for source in authentic:
            assert source.pop("web_copies") == 0.5
        assert not any("web_copies" in s for s in cfg.data.train + cfg.data.image_level)
        assert cfg.output.dir.endswith("lite0_run43_phase2")
        cfg.output.dir = base.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (base.model, base.data, base.train, base.loss,
                                                                       base.val)
    elif name.startswith("lite0_run40a_"):  # run 40a: run 31c's config with every BatchNorm layer frozen
        assert name == "lite0_run40a_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run40.sh").read_text()
        assert f"trufor train configs/{name}" in script and "--allow-phase2" in script
        assert "git show 44fea4a:src/trufor/bundled/trufor_lite0.safetensors > $run14" in script  # run 14's ship commit
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # run 27's heads
        assert "out/lite0_run40a_uncalibrated.safetensors --parts backbone,decode_head" in script
        control = load_config(REPO / "configs" / "lite0_run31c_phase2.yaml")
        assert cfg.train.batchnorm == "frozen" and control.train.batchnorm == "train"
        cfg.train.batchnorm = "train"
        assert cfg.output.dir.endswith("lite0_run40a_phase2")
        cfg.output.dir = control.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (control.model, control.data, control.train,
                                                                       control.loss, control.val)
    elif name.startswith("lite0_run35a_"):  # run 35a: run 31c's config, the IMD2020 crops a third as often
        assert name == "lite0_run35a_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run35.sh").read_text()
        assert f"trufor train configs/{name}" in script and "--allow-phase2" in script
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # run 27's heads
        assert "out/lite0_run35a_uncalibrated.safetensors --parts backbone,decode_head" in script
        control = load_config(REPO / "configs" / "lite0_run31c_phase2.yaml")
        lists = [s for s in cfg.data.train if s["type"] == "list"]
        assert [s.pop("repeat") for s in lists] == [4, 1, 4]  # masked fakes, originals, derived-mask fakes
        assert [s.pop("repeat") for s in control.data.train if s["type"] == "list"] == [12, 3, 12]
        assert cfg.output.dir.endswith("lite0_run35a_phase2")
        cfg.output.dir = control.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (control.model, control.data, control.train,
                                                                       control.loss, control.val)
    elif name.startswith("lite0_run34a_"):  # run 34a: run 31c's config plus the matched originals (focus crops)
        assert name == "lite0_run34a_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run34.sh").read_text()
        assert f"trufor train configs/{name}" in script and "--allow-phase2" in script
        assert "git show 44fea4a:src/trufor/bundled/trufor_lite0.safetensors > $run14" in script  # run 14's ship commit
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # run 27's
        assert "out/lite0_run34a_uncalibrated.safetensors --parts backbone,decode_head" in script
        assert "out/lite0_run34.safetensors out/lists/calib_groups_camera_real.txt" in script
        assert "python scripts/imd2020_pairs.py out/lists --from-csv" in script
        control = load_config(REPO / "configs" / "lite0_run31c_phase2.yaml")
        matched = cfg.data.train.pop()  # the one new source, last: the others keep 31c's places and seeds
        assert matched == {"type": "list", "file": f"{REPO}/out/lists/imd2020_matched_originals.txt",
                           "root": f"{tmp_path / 'shared'}/data/forgeries/imd2020_subset", "holdout": 0.4,
                           "calibration": 0.4, "repeat": 12, "focus": True}
        assert cfg.output.dir.endswith("lite0_run34a_phase2")
        cfg.output.dir = control.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (control.model, control.data, control.train,
                                                                       control.loss, control.val)
    elif name.startswith("lite0_run32b_"):  # run 33's ingredient 32b: run 32a's config with other seeds
        assert name == "lite0_run32b_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run33.sh").read_text()
        assert f"trufor train configs/{name}" in script and "--allow-phase2" in script
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # run 27's
        assert "--parts backbone,decode_head --coefficients 4,1,1,1" in script
        assert "out/lite0_run33.safetensors out/lists/calib_groups_camera_real.txt" in script
        run32a = load_config(REPO / "configs" / "lite0_run32a_phase2.yaml")
        assert (cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"]) == (320, 320, 321)
        cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"] = 310, 310, 311
        assert cfg.output.dir.endswith("lite0_run32b_phase2")
        cfg.output.dir = run32a.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (run32a.model, run32a.data, run32a.train,
                                                                       run32a.loss, run32a.val)
    elif name.startswith("lite0_run32a_"):  # run 32a: run 31c's config, half of the synthetic items edited at web scale
        assert name == "lite0_run32a_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run32.sh").read_text()
        assert f"trufor train configs/{name}" in script and "--allow-phase2" in script
        assert "git show 44fea4a:src/trufor/bundled/trufor_lite0.safetensors > $run14" in script  # run 14's ship commit
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # run 27's
        assert "out/lite0_run32a_uncalibrated.safetensors --parts backbone,decode_head" in script
        assert "out/lite0_run32.safetensors out/lists/calib_groups_camera_real.txt" in script
        control = load_config(REPO / "configs" / "lite0_run31c_phase2.yaml")
        synthetic = [s for s in cfg.data.train if s["type"] == "synthetic"]
        assert len(synthetic) == 2 and [s.pop("web_scale") for s in synthetic] == [0.5] * 2  # both synthetic sources
        assert all("web_copies" not in s for s in cfg.data.train + cfg.data.image_level)  # real photos as they are
        assert cfg.output.dir.endswith("lite0_run32a_phase2")
        cfg.output.dir = control.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (control.model, control.data, control.train,
                                                                       control.loss, control.val)
    elif name.startswith("lite0_run31c_"):  # run 31c: run 31a's control, without the web copies
        assert name == "lite0_run31c_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run31.sh").read_text()
        assert f"trufor train configs/{name}" in script
        run31a = load_config(REPO / "configs" / "lite0_run31a_phase2.yaml")
        for spec in run31a.data.train + run31a.data.image_level:
            spec.pop("web_copies", None)
        assert cfg.output.dir.endswith("lite0_run31c_phase2")
        cfg.output.dir = run31a.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (run31a.model, run31a.data, run31a.train,
                                                                       run31a.loss, run31a.val)
    elif name.startswith("lite0_run31a_"):  # run 31a: run 27b's config, the real-life photos half of the time web copies
        assert name == "lite0_run31a_phase2.yaml"
        script = (REPO / "scripts" / "train_lite0_run31.sh").read_text()
        assert f"trufor train configs/{name}" in script and "--allow-phase2" in script
        assert "git show 44fea4a:src/trufor/bundled/trufor_lite0.safetensors > $run14" in script  # run 14's ship commit
        assert "git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27" in script  # run 27's
        assert "out/lite0_run31a_uncalibrated.safetensors --parts backbone,decode_head" in script
        assert "out/lite0_run31.safetensors out/lists/calib_groups_camera_real.txt" in script
        base = load_config(REPO / "configs" / "lite0_run27b_phase2.yaml")
        lists = [s for s in cfg.data.train if s["type"] == "list"]
        assert len(lists) == 3 and [s.pop("web_copies") for s in lists] == [0.5] * 3  # the IMD2020 crop lists
        assert [s.pop("web_copies") for s in cfg.data.image_level] == [0.5] * 5  # every whole image
        assert all("web_copies" not in s for s in cfg.data.train)  # the synthetic sources are unchanged
        assert (cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"]) == (310, 310, 311)
        cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"] = 190, 190, 191
        assert cfg.output.dir.endswith("lite0_run31a_phase2")
        cfg.output.dir = base.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (base.model, base.data, base.train, base.loss,
                                                                       base.val)
    elif name.startswith("lite0_run25_"):  # run 25: run 14's phase 3 with a detection decoder on run 22a's network
        assert name == "lite0_run25_phase3.yaml"
        assert "scripts/phase3_draws.sh run25 $soup $run17 configs/lite0_run25_phase3.yaml" in \
            (REPO / "scripts" / "train_lite0_run25.sh").read_text()
        run10 = load_config(REPO / "configs" / "lite0_run10_phase3.yaml")
        assert cfg.phase == "confidence" and cfg.output.dir.endswith("lite0_run25_phase3")
        assert (cfg.data, cfg.train, cfg.loss, cfg.val) == (run10.data, run10.train, run10.loss, run10.val)
    elif name.startswith("lite0_run23_"):  # run 23: run 20 plus the training fakes with masks derived from originals
        assert name == "lite0_run23_phase2.yaml"
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_lite0_run23.sh").read_text()
        run20 = load_config(REPO / "configs" / "lite0_run20_phase2.yaml")
        derived = cfg.data.train.pop(4)
        assert (derived["file"].rsplit("/", 3)[1:], derived["root"].rsplit("/", 2)[1:]) == (
            ["out", "lists", "imd2020_derived_list.txt"], ["forgeries", "imd2020_subset"])
        assert (derived["type"], derived["holdout"], derived["calibration"], derived["repeat"]) == ("list", 0.4, 0.4, 12)
        assert cfg.output.dir.endswith("lite0_run23_phase2")
        cfg.output.dir = run20.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (run20.model, run20.data, run20.train,
                                                                       run20.loss, run20.val)
    elif name.startswith("lite0_run21_"):  # run 21: run 20 plus the training side's authentic photos as whole images
        assert name == "lite0_run21_phase2.yaml"
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_lite0_run21.sh").read_text()
        run20 = load_config(REPO / "configs" / "lite0_run20_phase2.yaml")
        imd, photos = cfg.data.image_level[:3], cfg.data.image_level[3:]
        assert [s.pop("repeat", 1) for s in imd] == [6, 6, 1] and imd == run20.data.image_level
        assert [(s["type"], s["images"].rsplit("/", 2)[1:], s["label"], s["holdout"]) for s in photos] == [
            ("folder", ["pristine", "camera"], "real", 0.1), ("folder", ["pristine", "bsds500"], "real", 0.1)]
        assert cfg.output.dir.endswith("lite0_run21_phase2")  # the training parts only: the held-out 10 % as evaluated
        cfg.data.image_level, cfg.output.dir = imd, run20.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (run20.model, run20.data, run20.train,
                                                                       run20.loss, run20.val)
    elif name.startswith("lite0_run20b_"):  # run 20b: run 20 continued 600 steps with its recipe, new seeds
        assert name == "lite0_run20b_phase2.yaml"
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_lite0_run20.sh").read_text()
        run20 = load_config(REPO / "configs" / "lite0_run20_phase2.yaml")
        assert cfg.model.init.endswith("lite0_run20_phase2/last.pt") and cfg.output.dir.endswith("lite0_run20b_phase2")
        assert (cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"]) == (182, 182, 183)
        cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"] = 180, 180, 181
        assert (cfg.data, cfg.train, cfg.loss, cfg.val) == (run20.data, run20.train, run20.loss, run20.val)
    elif name.startswith("lite0_run20_"):  # run 20: run 18's control plus whole real-life images with their label
        assert name == "lite0_run20_phase2.yaml"
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_lite0_run20.sh").read_text()
        control = load_config(REPO / "configs" / "lite0_run18_control_phase2.yaml")
        assert (cfg.train.image_level_every, cfg.data.image_level_max_side) == (2, 1024)
        assert [(s["file"].rsplit("/", 1)[1], s["label"], s["holdout"], s["calibration"]) for s in cfg.data.image_level] \
            == [("fake_list.txt", "fake", 0.4, 0.4), ("fake_without_mask_list.txt", "fake", 0.4, 0.4),
                ("real_list.txt", "real", 0.4, 0.4)]  # the training part only, split as the list sources
        assert cfg.output.dir.endswith("lite0_run20_phase2")
        cfg.train.image_level_every, cfg.data.image_level, cfg.output.dir = 0, [], control.output.dir
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (control.model, control.data, control.train,
                                                                       control.loss, control.val)
    elif name.startswith("lite0_run19_"):  # run 19: run 18's control with the encoder frozen
        assert name == "lite0_run19_phase2.yaml"
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_lite0_run19.sh").read_text()
        control = load_config(REPO / "configs" / "lite0_run18_control_phase2.yaml")
        assert cfg.train.freeze == ["backbone"] and cfg.output.dir.endswith("lite0_run19_phase2")
        cfg.train.freeze = []
        assert (cfg.model, cfg.data, cfg.train, cfg.loss, cfg.val) == (control.model, control.data, control.train,
                                                                       control.loss, control.val)
    elif name.startswith("lite0_run18b_"):  # run 18b: run 18 continued 2400 steps with its own recipe
        assert name == "lite0_run18b_phase2.yaml"
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_lite0_run18.sh").read_text()
        run18 = load_config(REPO / "configs" / "lite0_run18_phase2.yaml")
        assert cfg.model.init.endswith("lite0_run18_phase2/last.pt") and cfg.output.dir.endswith("lite0_run18b_phase2")
        assert (cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"], cfg.train.epochs) == (182, 182, 183, 8)
        cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"], cfg.train.epochs = 180, 180, 181, 2
        assert (cfg.data, cfg.train, cfg.loss) == (run18.data, run18.train, run18.loss)
    elif name.startswith("lite0_run18_"):  # run 18: run 15's recipe from run 14's network; gradient-domain pastes
        script = (REPO / "scripts" / "train_lite0_run18.sh").read_text()
        assert name in ("lite0_run18_phase2.yaml", "lite0_run18_control_phase2.yaml") and f"configs/{name}" in script
        assert cfg.model.init.endswith("out/run14_bundled.safetensors") and "44fea4a" in script
        synthetic = [s for s in cfg.data.train if s["type"] == "synthetic"]
        assert [s.get("gradient_blend") for s in synthetic] == ([None, None] if "control" in name else [0.5, 0.5])
        run15 = load_config(REPO / "configs" / "lite0_run15_phase2.yaml")
        assert (cfg.train.seed, synthetic[0]["seed"], synthetic[1]["seed"]) == (180, 180, 181)
        for s in synthetic:
            s.pop("gradient_blend", None)
        cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"] = 116, 116, 117
        assert (cfg.data, cfg.train, cfg.loss) == (run15.data, run15.train, run15.loss)
    elif name.startswith("lite0_run15p_"):  # run 15p: run 3's phase 3 plus synthetic edits in real-life originals
        assert f"configs/{name}" in (REPO / "scripts" / "train_lite0_run15.sh").read_text()
        run10 = load_config(REPO / "configs" / "lite0_run10_phase3.yaml")
        real = cfg.data.train.pop(1)
        assert real["type"] == "synthetic" and real["sources"][0].endswith("imd2020_subset/real_list.txt")
        assert (real["holdout"], real["calibration"], real["pristine_fraction"]) == (0.4, 0.4, 0.3)
        assert (cfg.phase, cfg.data, cfg.train, cfg.loss) == ("confidence", run10.data, run10.train, run10.loss)
    elif name.startswith("lite0_run15b_"):  # run 15b: run 15 continued 600 steps with its own recipe
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_lite0_run15.sh").read_text()
        run15 = load_config(REPO / "configs" / "lite0_run15_phase2.yaml")
        assert cfg.model.init.endswith("lite0_run15_phase2/last.pt") and cfg.model.noiseprint_init is None
        assert (cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"]) == (119, 119, 120)
        cfg.train.seed, cfg.data.train[0]["seed"], cfg.data.train[1]["seed"] = 116, 116, 117
        assert (cfg.data, cfg.train, cfg.loss) == (run15.data, run15.train, run15.loss)
    elif name.startswith("lite0_run15_"):  # run 15: 12d continued 600 steps; synthetic edits in real-life originals
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_lite0_run15.sh").read_text()
        run12d = load_config(REPO / "configs" / "lite0_run12d_phase2.yaml")
        assert cfg.model.init.endswith("lite0_run12d_phase2/last.pt") and cfg.model.noiseprint_init is None
        assert cfg.train.seed == cfg.data.train[0]["seed"] == 116
        if name == "lite0_run15_phase2.yaml":  # against its control: one more synthetic source, the training originals
            real = cfg.data.train.pop(1)
            assert real["type"] == "synthetic" and real["sources"][0].endswith("imd2020_subset/real_list.txt")
            lists = [s for s in cfg.data.train if s["type"] == "list"]  # split exactly as the list sources
            assert (real["holdout"], real["calibration"]) == (lists[1]["holdout"], lists[1]["calibration"])
            assert real["shapes"] == cfg.data.train[0]["shapes"] and real.get("split", "train") == "train"
            assert lists[1]["file"] == real["sources"][0]
        cfg.train.seed = cfg.data.train[0]["seed"] = 114
        assert (cfg.data, cfg.train, cfg.loss) == (run12d.data, run12d.train, run12d.loss)
    elif name.startswith("lite0_run14b_"):  # run 14b: 12d's network continued 1200 steps as 12d was trained
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_lite0_run14.sh").read_text()
        run12d = load_config(REPO / "configs" / "lite0_run12d_phase2.yaml")
        assert cfg.model.init.endswith("lite0_run12d_phase2/last.pt") and cfg.model.noiseprint_init is None
        assert cfg.train.seed == cfg.data.train[0]["seed"] == 115 and cfg.data.train[0]["shapes"] == ["polygon", "blob"]
        assert (cfg.train.epochs, cfg.train.steps_per_epoch) == (4, 300)
        cfg.train.seed = cfg.data.train[0]["seed"] = 114
        cfg.train.epochs = 2
        assert (cfg.data, cfg.train, cfg.loss) == (run12d.data, run12d.train, run12d.loss)
    elif name.startswith(("lite0_run12_", "lite0_run12b_", "lite0_run12c_", "lite0_run12d_")):  # run 12: run 11's control, run 6's extractor
        script = (REPO / "scripts" / "train_lite0_run12.sh").read_text()
        assert f"trufor train configs/{name}" in script and "scripts/phase3_draws.sh run12 " in script
        control = load_config(REPO / "configs" / "lite0_run11_control_phase2.yaml")  # the one change: the extractor
        if name.startswith(("lite0_run12b_", "lite0_run12c_", "lite0_run12d_")):  # 12b-12d: continued, a new synthetic stream and seed;
            starts = {"12b": ("lite0_run11_control_phase2", "lite0_run12_phase2", 112),  # their controls: the control's
                      "12c": ("lite0_run12b_control_phase2", "lite0_run12b_phase2", 113),
                      "12d": ("lite0_run12c_control_phase2", "lite0_run12c_control_phase2", 114)}[name[9:12]]
            start = starts[0] if "control" in name else starts[1]
            assert cfg.model.init.endswith(f"{start}/last.pt") and cfg.model.noiseprint_init is None
            assert cfg.train.seed == cfg.data.train[0]["seed"] == starts[2]
            cfg.train.seed = cfg.data.train[0]["seed"] = 111
            if name == "lite0_run12d_phase2.yaml":  # 12d against its control: no content-following synthetic regions
                assert cfg.data.train[0].pop("shapes") == ["polygon", "blob"]
        else:
            assert cfg.model.init == control.model.init and control.model.noiseprint_init is None
            assert cfg.model.noiseprint_init.endswith("lite0_run6_phase1/best.pt")
        assert (cfg.data, cfg.train, cfg.loss) == (control.data, control.train, control.loss)
    elif name.startswith("lite0_run8_"):  # run 8b: run 3's phase 3 with web copies of the IMD2020 items
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_lite0_run8.sh").read_text()
        assert cfg.model.init.endswith("lite0_run3_phase2/best.pt")
        assert [s.get("web_copies", 0) for s in cfg.data.train if s["type"] == "list"] == [0.5, 0.5]
    elif name.startswith("lite0_run7_cpu_"):  # run 7d: run 3's phase 3 on a network of run 7's GPU call
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_lite0_run7_cpu.sh").read_text()
        assert cfg.phase == "confidence" and cfg.model.init.endswith(".safetensors")
    elif name.startswith("lite0_run7_"):  # run 7: the GPU recipe (phase 1 from run 6; phases 2-3 from the bundled model)
        assert f"configs/{name}" in (REPO / "scripts" / "train_lite0_run7_gpu.sh").read_text()
        assert cfg.model.init.endswith(("bundled/trufor_lite0.safetensors", "lite0_run7_gpu_phase2/best.pt",
                                        "lite0_run6_phase1/best.pt", "lite0_run7_gpu_phase1/best.pt"))
        assert cfg.phase != "noiseprint" or cfg.val.best_metric == "camera_auc"
    elif name.startswith("lite0_run6_"):  # run 6: run 4's camera-trained phase 1 continued
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_lite0_run6_phase1.sh").read_text()
        assert cfg.phase == "noiseprint" and cfg.val.best_metric == "camera_auc"
        assert cfg.model.init.endswith("lite0_phase1_cameras/best.pt")
    elif name.startswith("lite0_run4_"):  # run 4: phase 1 with camera positives, then phases 2-3 from the bundled model
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_bundled_lite0_run4.sh").read_text()
        assert cfg.model.init.endswith(("bundled/trufor_lite0.safetensors", "lite0_run4_phase2/best.pt"))
        if cfg.phase == "noiseprint":
            assert cfg.val.best_metric == "camera_auc"
            assert any("digicam" in str(s.get("folders")) for s in cfg.data.train)
    elif name.startswith("lite0_"):  # the second generation: its own script, ImageNet-initialised encoder
        assert f"trufor train configs/{name}" in (REPO / "scripts" / "train_bundled_lite0.sh").read_text()
        assert cfg.phase != "localization" or cfg.model.pretrained == "efficientnet_lite0"
    if name.startswith("finetune_"):  # fine-tuning templates start from the bundled model or from each other
        assert cfg.model.init.endswith(("trufor_lite0.safetensors", "finetune_phase2/best.pt"))
        assert Path(cfg.model.init).suffix != ".safetensors" or Path(cfg.model.init).is_file()
        if Path(cfg.model.init).suffix == ".safetensors":  # its variant fits the bundled file's tensors
            from trufor.weights import config_of, read_weights
            from trufor.modeling import get_config

            assert config_of(read_weights(cfg.model.init)) == get_config(cfg.model.variant)


def test_poly_lr_and_sampler():
    assert poly_lr(0, 100, 0.01, 0.9) == pytest.approx(0.01)
    assert poly_lr(50, 100, 0.01, 0.9) == pytest.approx(0.01 * 0.5 ** 0.9)
    assert poly_lr(0, 100, 0.01, 0.9, warmup=4) == pytest.approx(0.0025)
    s0 = EpochBatchSampler(10, 2, 4, seed=1, epoch=0, rank=0, world=2)
    s1 = EpochBatchSampler(10, 2, 4, seed=1, epoch=0, rank=1, world=2)
    order = s0.order()  # 16 indices: a permutation of the 10 items, then 6 of the next one
    assert len(order) == 16 and sorted(order[:10]) == list(range(10))
    assert sorted(i for s in (s0, s1) for b in s for i in b) == sorted(order)
    rank0 = list(EpochBatchSampler(10, 2, 4, seed=1, epoch=0, rank=0, world=2))
    assert list(EpochBatchSampler(10, 2, 4, seed=1, epoch=0, rank=0, world=2, skip=2)) == rank0[2:]
    assert list(EpochBatchSampler(10, 2, 4, seed=1, epoch=1)) != list(EpochBatchSampler(10, 2, 4, seed=1, epoch=0))


# ------------------------------------------------------------------------------------------- data
def test_pair_sources(tiny_data):
    pairs = folder_pairs(str(tiny_data / "imgs"), str(tiny_data / "masks"), "_gt", pristine=True)
    assert [p.mask is not None for p in pairs] == [True, False] * 3
    listed = list_pairs(str(tiny_data / "list.txt"))
    assert [Path(p.image).name for p in listed] == [Path(p.image).name for p in pairs]
    assert [p.mask is None for p in listed] == [p.mask is None for p in pairs]
    with pytest.raises(ConfigError, match="no mask"):
        folder_pairs(str(tiny_data / "imgs"), str(tiny_data / "masks"), "_gt", pristine=False)
    ds = build_pair_dataset([{"type": "list", "file": str(tiny_data / "list.txt")}], 80, seed=0, default_split="train")
    item = ds[0]
    assert item["image"].shape == (3, 80, 80) and item["mask"].shape == (80, 80) and item["label"] == 1
    assert set(item["mask"].unique().tolist()) == {-1, 0, 1}  # 72 px high: padded rows are ignored
    assert float(item["image"].max()) < 1.0  # uint8 / 256


def test_image_level_sources_draw_every_image_once_per_cycle(tiny_data, tmp_path):
    """data.image_level: whole images with a label; each cycle of draws visits every item once, in a new order;
    the same draw is the same window; a large image gives a window of at most max_side, cut to the stride."""
    specs = [{"type": "list", "file": str(tiny_data / "list.txt"), "label": "fake"},
             {"type": "folder", "images": str(tiny_data / "photos"), "label": "real", "holdout": 0.5}]
    ds = build_image_level_dataset(specs, 64, seed=3)
    n_fake = 6
    assert [im.label for im in ds.images] == [1] * n_fake + [0] * (len(ds) - n_fake) and len(ds) > n_fake
    cycles = [[ds.index_of_draw(d) for d in range(c * len(ds), (c + 1) * len(ds))] for c in range(2)]
    assert all(sorted(c) == list(range(len(ds))) for c in cycles) and cycles[0] != cycles[1]
    item = ds.draw(5)
    assert item["image"].shape == (3, 64, 64) and item["label"] == ds.images[ds.index_of_draw(5)].label
    assert torch.equal(item["image"], ds.draw(5)["image"])
    whole = build_image_level_dataset(specs, 1024, seed=3).draw(0)["image"]
    assert whole.shape == (3, 64, 64)  # 72 x 88 px cut down to multiples of 32
    (tmp_path / "tiny").mkdir()
    Image.fromarray(np.zeros((20, 40, 3), np.uint8)).save(tmp_path / "tiny" / "small.png")
    with pytest.raises(ConfigError, match=r"small.png: 40x20 px is too small"):
        build_image_level_dataset([{"type": "folder", "images": str(tmp_path / "tiny"), "label": "real"}], 64,
                                  seed=0).draw(0)
    for bad, match in (({"label": "forged"}, "fake or real"), ({"label": "fake", "masks": "x"}, "unknown key"),
                       ({"label": "fake", "type": "synthetic"}, "folder or a list")):
        with pytest.raises(ConfigError, match=match):
            build_image_level_dataset([{**specs[0], **bad}], 64, seed=0)


def test_web_copies_of_list_items(tmp_path):
    """``web_copies``: the item is a downscaled, re-saved copy before cropping (mask following), on its own random
    stream; 0 leaves items exactly as before; the key is checked."""
    big = np.random.default_rng(1).integers(0, 256, (1400, 2000, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png")
    m = np.zeros((1400, 2000), np.uint8)
    m[200:1200, 300:1700] = 255  # most of the image: every crop holds forged pixels
    Image.fromarray(m).save(tmp_path / "big_gt.png")
    (tmp_path / "l.txt").write_text("big.png,big_gt.png\n")
    spec = {"type": "list", "file": str(tmp_path / "l.txt")}
    plain = build_pair_dataset([spec], 256, seed=3, default_split="all")
    again = build_pair_dataset([{**spec, "web_copies": 0.0}], 256, seed=3, default_split="all")
    web = build_pair_dataset([{**spec, "web_copies": 1.0}], 256, seed=3, default_split="all")
    a, b, c = plain[0], again[0], web[0]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    assert c["image"].shape == (3, 256, 256) and not torch.equal(a["image"], c["image"])
    assert set(c["mask"].unique().tolist()) <= {-1, 0, 1} and int((c["mask"] == 1).sum()) > 0 and c["label"] == 1
    assert torch.equal(web[0]["image"], c["image"])  # a function of (seed, epoch, index)
    for bad in (1.5, -0.1, "often"):
        with pytest.raises(ConfigError, match="web_copies"):
            build_pair_dataset([{**spec, "web_copies": bad}], 256, seed=3, default_split="all")
    with pytest.raises(ConfigError, match="web_copies"):  # synthetic sources have their own processing chain
        build_pair_dataset([{"type": "synthetic", "sources": [str(tmp_path)], "web_copies": 0.5}], 64, seed=0,
                           default_split="all")


def test_focus_crops_of_authentic_list_items(tmp_path):
    """``focus: true``: the list's second column is a region to crop around, not forged pixels: every crop holds a
    pixel of it, the target is all pristine and the label 0; with web copies the region follows the copy; a line
    without a region and a focus that is not true or false are errors naming the source."""
    img = np.zeros((600, 900, 3), np.uint8)
    img[440:470, 700:740] = 255  # the only bright pixels: where the region is
    Image.fromarray(img).save(tmp_path / "orig.png")
    region = np.zeros((600, 900), np.uint8)
    region[440:470, 700:740] = 255
    Image.fromarray(region).save(tmp_path / "region.png")
    (tmp_path / "l.txt").write_text("orig.png,region.png\n")
    spec = {"type": "list", "file": str(tmp_path / "l.txt"), "focus": True, "repeat": 40}
    for web in (0.0, 1.0):
        ds = build_pair_dataset([{**spec, "web_copies": web}], 256, seed=4, default_split="all")
        for i in range(len(ds)):
            item = ds[i]
            assert item["label"] == 0 and set(item["mask"].unique().tolist()) <= {-1, 0}
            assert float(item["image"].max()) > 0.5, (web, i)  # the crop holds the region
    plain = build_pair_dataset([{**spec, "focus": False}], 256, seed=4, default_split="all")
    assert plain[0]["label"] == 1  # without focus, the second column is a mask of forged pixels, as before
    misses = sum(float(plain[i]["image"].max()) < 0.5 for i in range(len(plain)))
    assert misses > 10  # without focus, random windows mostly miss a small region
    (tmp_path / "bad.txt").write_text("orig.png,region.png\norig.png\n")
    with pytest.raises(ConfigError, match=r"data.train.0: focus: true needs a region on every line; 'orig.png'"):
        build_pair_dataset([{**spec, "file": str(tmp_path / "bad.txt")}], 256, seed=4, default_split="all")
    with pytest.raises(ConfigError, match="focus is true or false"):
        build_pair_dataset([{**spec, "focus": "yes"}], 256, seed=4, default_split="all")
    with pytest.raises(ConfigError, match="unknown key"):  # whole images are not cropped around anything
        build_image_level_dataset([{**spec, "label": "real"}], 256, seed=0)


@settings(max_examples=200, deadline=None)
@given(h=st.integers(8, 700), w=st.integers(8, 700), size=st.sampled_from([32, 64, 256]),
       fy=st.floats(0, 0.999), fx=st.floats(0, 0.999), seed=st.integers(0, 2**16), grid=st.booleans())
def test_crop_pair_holds_its_focus(h, w, size, fy, fx, seed, grid):
    """For every image and window size, a focused window holds the focus pixel, or on the 8-px grid misses it by at
    most 7 px at a bottom or right edge; its offsets stay on the grid and inside the image."""
    py, px = int(fy * h), int(fx * w)
    focus = np.zeros((h, w), bool)
    focus[py, px] = True
    image = np.zeros((h, w, 3), np.uint8)
    image[py, px] = 255
    img, tgt = crop_pair(image, np.zeros((h, w), np.int64), size, np.random.default_rng(seed), grid, focus=focus)
    assert img.shape == (size, size, 3) and tgt.shape == (size, size)
    ys, xs = np.nonzero(img[..., 0])
    if len(ys) == 0:  # missed: only possible on the grid, at the last 7 px of a side
        last_y, last_x = (h - size) // 8 * 8 + size - 1, (w - size) // 8 * 8 + size - 1  # last rows the grid reaches
        assert grid and ((h > size and py > last_y) or (w > size and px > last_x))
        assert py - last_y <= 7 and px - last_x <= 7


def test_web_copies_of_image_level_items(tmp_path):
    """``web_copies`` on an image-level source: a draw is, that often, the image's web copy (downscaled to a longer side
    of at most 1024 px, JPEG-decoded) before the window, whatever the label; other draws are exactly as without the
    option; the same draw is the same copy; the key is checked."""
    big = np.random.default_rng(2).integers(0, 256, (1400, 2000, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png")
    (tmp_path / "l.txt").write_text("big.png\n")
    spec = {"type": "list", "file": str(tmp_path / "l.txt"), "label": "real", "holdout": 0.0}
    plain = build_image_level_dataset([spec], 2048, seed=5)
    never = build_image_level_dataset([{**spec, "web_copies": 0.0}], 2048, seed=5)
    always = build_image_level_dataset([{**spec, "web_copies": 1.0, "label": "fake"}], 2048, seed=5)
    half = build_image_level_dataset([{**spec, "web_copies": 0.5}], 2048, seed=5)
    a, b, c = plain.draw(0), never.draw(0), always.draw(0)
    assert torch.equal(a["image"], b["image"]) and a["image"].shape == (3, 1376, 1984) and not a["web_copy"]
    assert c["web_copy"] and c["label"] == 1 and max(c["image"].shape[1:]) <= 1024
    assert c["image"].shape[1] % 32 == 0 and c["image"].shape[2] % 32 == 0
    assert torch.equal(always.draw(0)["image"], c["image"]) and not torch.equal(always.draw(1)["image"], c["image"])
    draws = [half.draw(d) for d in range(12)]
    assert 0 < sum(d["web_copy"] for d in draws) < 12
    for d, item in enumerate(draws):  # the plain draws are the plain windows
        if not item["web_copy"]:
            assert torch.equal(item["image"], plain.draw(d)["image"])
    for bad in (2, -1, "often"):
        with pytest.raises(ConfigError, match="web_copies"):
            build_image_level_dataset([{**spec, "web_copies": bad}], 64, seed=0)


def test_mirrored_crops_and_whole_images(tmp_path):
    """``data.mirror``: a crop (image and mask alike) and a drawn whole image are mirrored left-right and, independently,
    top-bottom with that probability, on a stream of their own: unmirrored items are exactly as without the option, the
    same item in the same epoch gets the same mirrors, and all four views occur."""
    from trufor.training.data import Mirrored

    rng = np.random.default_rng(4)
    Image.fromarray(rng.integers(0, 256, (300, 420, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    m = np.zeros((300, 420), np.uint8)
    m[40:200, 60:150] = 255
    Image.fromarray(m).save(tmp_path / "a_gt.png")
    (tmp_path / "l.txt").write_text("a.png,a_gt.png\n" * 40)
    spec = {"type": "list", "file": str(tmp_path / "l.txt")}
    plain = build_pair_dataset([spec], 128, seed=3, default_split="all")
    mirrored = Mirrored(build_pair_dataset([spec], 128, seed=3, default_split="all"), 0.5, seed=11)
    mirrored.set_epoch(2)
    plain.set_epoch(2)
    seen = set()
    for i in range(40):
        a, b = plain[i], mirrored[i]
        dims = mirrored.mirror_dims(i)
        seen.add(dims)
        assert torch.equal(b["image"], a["image"].flip(dims) if dims else a["image"])
        assert torch.equal(b["mask"], a["mask"].flip(dims) if dims else a["mask"]) and b["label"] == a["label"]
        assert torch.equal(mirrored[i]["image"], b["image"])
    assert seen == {(), (-1,), (-2,), (-1, -2)}
    never = Mirrored(plain, 0.0, seed=11)
    assert all(torch.equal(never[i]["image"], plain[i]["image"]) for i in range(5))

    whole_spec = {"type": "list", "file": str(tmp_path / "l.txt"), "label": "fake", "holdout": 0.0}
    straight = build_image_level_dataset([whole_spec], 256, seed=5)
    flipped = build_image_level_dataset([whole_spec], 256, seed=5, mirror=0.5)
    kinds = set()
    for d in range(24):
        a, b = straight.draw(d)["image"], flipped.draw(d)["image"]
        views = {(): a, (-1,): a.flip(-1), (-2,): a.flip(-2), (-1, -2): a.flip((-1, -2))}
        match = [k for k, v in views.items() if torch.equal(b, v)]
        assert match, d
        kinds.add(match[0])
    assert len(kinds) == 4


def test_mirror_is_checked(tiny_data, tmp_path):
    def with_mirror(phase: str, value: float) -> dict:
        cfg = phase_config(phase, tiny_data, tmp_path / "x")
        cfg["data"]["mirror"] = value
        return cfg

    for bad in (1.5, -0.1):
        with pytest.raises(ConfigError, match="data.mirror"):
            config_from_dict(with_mirror("localization", bad))
    with pytest.raises(ConfigError, match="phases 2 and 3 only"):
        config_from_dict(with_mirror("noiseprint", 0.5))


def test_crop_pair_grid_and_padding():
    yy, xx = np.mgrid[0:40, 0:40]
    img = np.stack([yy, xx, np.zeros_like(yy)], axis=-1).astype(np.uint8)  # pixel value = its coordinates
    tgt = np.ones((40, 40), np.int64)
    rng = np.random.default_rng(3)
    tops = set()
    for _ in range(20):
        c, t = crop_pair(img, tgt, 16, rng)
        y, x = int(c[0, 0, 0]), int(c[0, 0, 1])
        assert y % 8 == 0 and x % 8 == 0 and t.shape == (16, 16)
        tops.add(y)
    assert len(tops) > 1
    c, t = crop_pair(img, tgt, 48, rng)
    assert (t[40:] == -1).all() and (t[:, 40:] == -1).all() and (c[40:] == 0).all()


def test_holdout_is_stable():
    names = [f"img{i}.jpg" for i in range(1000)]
    frac = np.mean([held_out(n, 0.1) for n in names])
    assert 0.06 < frac < 0.14
    assert [held_out(n, 0.1) for n in names] == [held_out(n, 0.1) for n in names]


def test_editing_history_and_grid_position():
    rng = np.random.default_rng(0)
    pixels = np.random.default_rng(1).integers(0, 256, (100, 100, 3), dtype=np.uint8)
    assert np.array_equal(apply_history(pixels, History()), pixels)
    edited = apply_history(pixels, History(scale=0.5, gamma=1.2, contrast=0.9, brightness=0.05, quality=80))
    assert edited.shape == (50, 50, 3) and edited.dtype == np.uint8
    # without editing, the patch at offset (dy, dx) starts dy, dx px after an 8 px grid point
    patch = edited_patch(rng, pixels, History(), (3, 5), 16)
    ys, xs = np.nonzero((pixels[..., 0] == patch[0, 0, 0]) & (pixels[..., 1] == patch[0, 0, 1])
                        & (pixels[..., 2] == patch[0, 0, 2]))
    assert any(y % 8 == 3 and x % 8 == 5 for y, x in zip(ys, xs))


# ----------------------------------------------------------------------------------------- phases
@pytest.fixture(scope="module")
def chain(tiny_data, tmp_path_factory):
    """Phase 1 -> 2 -> 3 on tiny data, a few steps each; returns the output folders."""
    out = tmp_path_factory.mktemp("runs")
    r1 = run(phase_config("noiseprint", tiny_data, out / "p1"))
    r2 = run(phase_config("localization", tiny_data, out / "p2",
                          model={"noiseprint_init": str(out / "p1" / "best.pt")}))
    r3 = run(phase_config("confidence", tiny_data, out / "p3", model={"init": str(out / "p2" / "best.pt")}))
    return out, (r1, r2, r3)


def test_three_phases_run_and_report(chain):
    out, results = chain
    for name, r, keys in zip(("p1", "p2", "p3"), results,
                             (["val_pair_auc", "val_history_auc", "val_grid_auc"], ["val_f1", "val_iou"],
                              ["val_det_auc", "val_conf_mse"])):
        assert r.finished and r.step == 2
        assert {"last.pt", "best.pt", "metrics.csv", "config.yaml", "train.log"} <= {p.name for p in (out / name).iterdir()}
        header = (out / name / "metrics.csv").read_text().splitlines()[0].split(",")
        assert {"epoch", "step", "train_loss", "sec_per_step", *keys} <= set(header)
        assert math.isfinite(r.history[0]["train_loss"])
    assert 0.0 <= results[0].history[0]["val_pair_auc"] <= 1.0


def test_phase2_with_whole_images_reports_the_image_level_loss(chain, tiny_data, tmp_path):
    """Phase 2 with data.image_level: a whole image every step beside the batch, its loss a part of its own; the
    options go together and belong to phase 2."""
    out, _ = chain
    whole = [{"type": "list", "file": str(tiny_data / "list.txt"), "label": "fake"},
             {"type": "folder", "images": str(tiny_data / "photos"), "label": "real"}]

    def config(phase: str, folder: str, every: int, sources: list) -> dict:
        cfg = phase_config(phase, tiny_data, tmp_path / folder, model={"init": str(out / "p2" / "best.pt")},
                           train={"image_level_every": every})
        cfg["data"].update(image_level=sources, image_level_max_side=64)
        return cfg

    result = run(config("localization", "whole", 1, whole))
    assert result.finished and math.isfinite(result.history[0]["train_image_level"])
    log = (tmp_path / "whole" / "train.log").read_text()
    assert "12 whole images with an image-level label (6 fake), one every 1 steps" in log
    for every, sources in ((0, whole), (2, [])):
        with pytest.raises(ConfigError, match="go together"):
            config_from_dict(config("localization", "bad", every, sources))
    with pytest.raises(ConfigError, match="phase 2"):
        config_from_dict(config("confidence", "p3", 1, whole))
    mirrored = config("localization", "mirrored", 1, whole)
    mirrored["data"]["mirror"] = 0.5  # crops and whole images mirrored: the loop runs as without
    assert run(mirrored).finished


def test_frozen_parts_do_not_change(chain):
    out, _ = chain
    p1 = load_training_checkpoint(out / "p1" / "best.pt")["model"]
    p2 = load_training_checkpoint(out / "p2" / "best.pt")["model"]
    p3 = load_training_checkpoint(out / "p3" / "best.pt")["model"]
    for k, v in p1.items():  # phase 2 keeps phase 1's Noiseprint++ (BatchNorm statistics included)
        assert torch.equal(p2[k], v), k
    frozen = [k for k in p2 if k.startswith(("dncnn.", "backbone.", "decode_head."))]
    assert all(torch.equal(p2[k], p3[k]) for k in frozen)
    assert any(not torch.equal(p2[k], p3[k]) for k in p3 if k.startswith("decode_head_conf."))
    assert any(not torch.equal(p2[k], p3[k]) for k in p3 if k.startswith("detection."))


def test_train_freeze_keeps_a_part_bit_for_bit(chain, tiny_data, tmp_path):
    """train.freeze: phase 2 with both encoder branches kept; only the localization decoder moves, and the
    encoder's BatchNorm statistics stay as loaded (its modules run in eval mode)."""
    out, _ = chain
    start = load_training_checkpoint(out / "p2" / "best.pt")["model"]
    assert any(k.startswith("backbone.") and k.endswith("running_mean") for k in start)  # there are statistics to keep
    cfg = phase_config("localization", tiny_data, tmp_path / "frozen", model={"init": str(out / "p2" / "best.pt")},
                       train={"freeze": ["backbone"]})
    assert run(cfg).finished
    after = load_training_checkpoint(tmp_path / "frozen" / "last.pt")["model"]
    assert all(torch.equal(after[k], v) for k, v in start.items() if k.startswith(("backbone.", "dncnn.")))
    assert any(not torch.equal(after[k], v) for k, v in start.items() if k.startswith("decode_head."))
    # a part the phase does not train (Noiseprint++ is frozen in phase 2 anyway) or a typo is an error, not a no-op
    for part in ("dncnn", "backbone.block"):
        bad = phase_config("localization", tiny_data, tmp_path / f"bad_{part}", model={"init": str(out / "p2" / "best.pt")},
                           train={"freeze": [part]})
        with pytest.raises(TrainingError, match="holds none of the parameters this phase trains"):
            run(bad)
    with pytest.raises(ConfigError, match="train.freeze"):
        run(phase_config("localization", tiny_data, tmp_path / "dot", train={"freeze": ["backbone."]}))


def test_train_batchnorm_frozen_keeps_statistics(chain, tiny_data, tmp_path):
    """train.batchnorm: frozen: every BatchNorm layer normalises with its running statistics, which stay bit for bit,
    while the trained weights (BatchNorm scale and shift among them) move; the default moves the statistics."""
    out, _ = chain
    init = str(out / "p2" / "best.pt")
    start = load_training_checkpoint(init)["model"]
    stats = [k for k in start if k.startswith(("backbone.", "decode_head.")) and k.endswith(("running_mean", "running_var"))]
    assert stats
    after = {}
    for mode in ("frozen", "train"):
        cfg = phase_config("localization", tiny_data, tmp_path / mode, model={"init": init}, train={"batchnorm": mode})
        assert run(cfg).finished
        after[mode] = load_training_checkpoint(tmp_path / mode / "last.pt")["model"]
    assert all(torch.equal(after["frozen"][k], start[k]) for k in stats)
    assert any(not torch.equal(after["train"][k], start[k]) for k in stats)
    scales = [k for k in stats if k.endswith("running_mean")]
    assert any(not torch.equal(after["frozen"][k.replace("running_mean", "weight")], start[k.replace("running_mean",
                                                                                                       "weight")])
               for k in scales)
    with pytest.raises(ConfigError, match="train.batchnorm: choose train or frozen"):
        run(phase_config("localization", tiny_data, tmp_path / "bad", train={"batchnorm": "eval"}))
    with pytest.raises(ConfigError, match="without model.init there are none to keep"):
        run(phase_config("localization", tiny_data, tmp_path / "fresh", train={"batchnorm": "frozen"}))


def test_train_noiseprint_trained_moves_the_extractor_and_keeps_its_statistics(chain, tiny_data, tmp_path):
    """train.noiseprint: trained: phase 2 trains the Noiseprint++ extractor's weights beside the encoder (its
    BatchNorm statistics stay as loaded); the default keeps it bit for bit; other phases refuse the option."""
    out, _ = chain
    init = str(out / "p2" / "best.pt")
    start = load_training_checkpoint(init)["model"]
    after = {}
    for mode in ("trained", "frozen"):
        cfg = phase_config("localization", tiny_data, tmp_path / mode, model={"init": init}, train={"noiseprint": mode})
        assert run(cfg).finished
        after[mode] = load_training_checkpoint(tmp_path / mode / "last.pt")["model"]
    dncnn = [k for k in start if k.startswith("dncnn.")]
    stats = [k for k in dncnn if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(after["frozen"][k], start[k]) for k in dncnn)
    assert any(not torch.equal(after["trained"][k], start[k]) for k in dncnn if k.endswith("weight"))
    assert all(torch.equal(after["trained"][k], start[k]) for k in stats)
    assert any(not torch.equal(after["trained"][k], start[k]) for k in start if k.startswith("backbone."))
    with pytest.raises(ConfigError, match="train.noiseprint: choose frozen or trained"):
        run(phase_config("localization", tiny_data, tmp_path / "bad", train={"noiseprint": "yes"}))
    with pytest.raises(ConfigError, match="applies to phase 2"):
        run(phase_config("confidence", tiny_data, tmp_path / "p3", model={"init": init}, train={"noiseprint": "trained"}))


def test_batchnorm_to_eval_sets_every_batchnorm():
    from trufor.training.freezing import batchnorm_to_eval

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Sequential(nn.BatchNorm1d(4), nn.Dropout()))
    net.train()
    assert batchnorm_to_eval(net) == 2
    assert not net[1].training and not net[2][0].training and net[2][1].training and net[0].training


def test_export_and_detect(chain, tiny_data, tmp_path):
    from trufor import load_model
    from trufor.training import export_checkpoint
    from trufor.weights import read_weights

    out, _ = chain
    path = export_checkpoint(out / "p3" / "best.pt", tmp_path / "m.safetensors", half=True)
    meta = read_weights(path).metadata
    assert "phase noiseprint" in meta["provenance"] and "phase confidence" in meta["provenance"]
    assert meta["licence"].startswith("Apache-2.0") and meta["training_phase"] == "confidence"
    result = load_model(path).analyze(str(tiny_data / "imgs" / "i0.png"))
    assert 0.0 <= result.score <= 1.0 and result.map.shape == (72, 88)
    with pytest.raises(TrainingError, match="untrained"):
        export_checkpoint(out / "p2" / "best.pt", tmp_path / "x.safetensors")
    from trufor.cli import main

    rc = main(["train", "export", str(out / "p3" / "best.pt"), str(tmp_path / "c.safetensors")])
    assert rc == 0 and (tmp_path / "c.safetensors").is_file()
    assert main(["detect", str(tiny_data / "imgs" / "i1.png"), "--weights", str(tmp_path / "c.safetensors"),
                 "-o", str(tmp_path / "det")]) == 0


def test_only_our_checkpoints_initialise(tiny_data, tmp_path):
    foreign = tmp_path / "noiseprint++.th"
    torch.save({"network": {"0.weight": torch.zeros(1)}}, foreign)
    cfg = phase_config("localization", tiny_data, tmp_path / "o", model={"noiseprint_init": str(foreign)})
    with pytest.raises(TrainingError, match="never from the authors"):
        run(cfg)


def test_fine_tune_from_an_exported_model(chain, tiny_data, tmp_path):
    """Phases 2 and 3 start from a model of ours exported to .safetensors; its history is kept."""
    from trufor.modeling import build_model
    from trufor.modeling.variants import get_config
    from trufor.training import export_checkpoint
    from trufor.weights import read_weights, save_safetensors

    from trufor.training.export import own_licence

    out, _ = chain
    # as the bundled model: its encoder started from openly licensed ImageNet weights, which its licence names
    credited = own_licence([{"encoder": "efficientnet_lite0", "licence": "Apache-2.0 (test record)"}])
    exported = export_checkpoint(out / "p3" / "best.pt", tmp_path / "ours.safetensors", licence=credited)
    ckpt = load_training_checkpoint(exported)
    assert ckpt["phase"] == "confidence" and ckpt["config"]["model"]["variant"] == "trufor_small"
    ref = load_training_checkpoint(out / "p3" / "best.pt")["model"]
    assert ckpt["model"].keys() == ref.keys() and all(torch.equal(ckpt["model"][k], ref[k]) for k in ref)

    r = run(phase_config("localization", tiny_data, tmp_path / "ft2", model={"init": str(exported)}))
    assert r.finished
    ft = load_training_checkpoint(tmp_path / "ft2" / "last.pt")
    assert all(torch.equal(ft["model"][k], ref[k]) for k in ref if k.startswith(("dncnn.", "decode_head_conf.")))
    assert any(not torch.equal(ft["model"][k], ref[k]) for k in ref if k.startswith("decode_head."))
    run(phase_config("confidence", tiny_data, tmp_path / "ft3", model={"init": str(tmp_path / "ft2" / "best.pt")}))
    fine_tuned = read_weights(export_checkpoint(tmp_path / "ft3" / "best.pt", tmp_path / "ft.safetensors"))
    assert fine_tuned.licence == credited  # fine-tuning keeps the credit of the pretrained weights it descends from
    lines = fine_tuned.provenance
    # and its summary says so: not "from scratch", which the chain's own records (no pretrained entry) would give
    from trufor.training.export import FROM_SCRATCH_SUMMARY, summary_line

    assert lines.split("\n")[0] == summary_line([], credited) != FROM_SCRATCH_SUMMARY
    assert read_weights(exported).provenance.split("\n")[0] == FROM_SCRATCH_SUMMARY  # the tiny chain used none
    # the whole chain: phases 1-3 of the exported model, the file itself, then the fine-tuning phases
    order = [lines.index(s) for s in ("phase noiseprint", "phase confidence", "next phase starts from exported weights file ours.safetensors (sha256")]
    assert order == sorted(order)
    assert lines.count("phase localization (trufor_small)") == 2 and lines.count("phase confidence") == 2
    assert lines.rindex("phase localization") > order[-1]

    # a file that `trufor convert` made from the authors' weights (their licence, no training phase) is refused
    net = build_model(get_config("trufor_small"))
    converted = save_safetensors(net.state_dict(), tmp_path / "converted.safetensors", get_config("trufor_small"),
                                 provenance="official TruFor checkpoint (trufor.pth.tar)",
                                 licence="TruFor weights by GRIP: research and non-commercial use only")
    with pytest.raises(TrainingError, match="not a model exported by `trufor train export`"):
        load_training_checkpoint(converted)
    with pytest.raises(TrainingError, match="corrupt"):
        (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
        load_training_checkpoint(tmp_path / "bad.safetensors")


def test_resume_continues_exactly(tiny_data, tmp_path, chain):
    out, _ = chain
    base = dict(model={"noiseprint_init": str(out / "p1" / "best.pt")},
                train={"epochs": 2, "steps_per_epoch": 2, "checkpoint_every": 1})
    full = run(phase_config("localization", tiny_data, tmp_path / "full", **base))
    cfg = phase_config("localization", tiny_data, tmp_path / "cut", **base)
    cfg["train"]["stop_after"] = 3  # stop mid-epoch 2
    first = run(cfg)
    assert not first.finished and first.step == 3
    cfg["train"]["stop_after"] = None
    second = run(cfg)
    assert second.resumed_from == 3 and second.finished and second.step == 4
    a = load_training_checkpoint(tmp_path / "full" / "last.pt")
    b = load_training_checkpoint(tmp_path / "cut" / "last.pt")
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for ra, rb in zip(a["history"], b["history"]):
        assert ra["train_loss"] == rb["train_loss"] and ra["val_f1"] == rb["val_f1"]


def test_cli_print_config(tiny_data, tmp_path, capsys):
    from trufor.cli import main

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(phase_config("noiseprint", tiny_data, tmp_path / "o")))
    assert main(["train", str(path), "train.lr=0.02", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["train"]["lr"] == 0.02
    assert main(["train", str(path), "train.nope=1"]) == 1


def test_noiseprint_figure(chain, tiny_data, tmp_path):
    from trufor.cli import main

    out, _ = chain
    png = tmp_path / "np.png"
    assert main(["train", "noiseprint-figure", str(out / "p1" / "best.pt"), str(tiny_data / "imgs" / "i0.png"),
                 "-o", str(png), "--mask", str(tiny_data / "masks" / "i0_gt.png")]) == 0
    assert png.stat().st_size > 1000


def test_synthetic_source(tmp_path, tiny_data):
    pytest.importorskip("trufor.synthesis")
    ds = build_pair_dataset([{"type": "synthetic", "sources": [str(tiny_data / "photos")], "length": 4}], 64,
                            seed=0, default_split="train")
    item = ds[1]
    assert item["image"].shape == (3, 64, 64) and item["mask"].dtype == torch.long
    assert set(item["mask"].unique().tolist()) <= {-1, 0, 1}


def test_synthetic_source_from_a_list_file_splits_as_the_list_source(tmp_path, tiny_data):
    """Hosts read from a list file are named as written, so holdout/calibration pick the same photos as a list source."""
    pytest.importorskip("trufor.synthesis")
    from trufor.training.data import SyntheticSource

    real = tiny_data / "real_list.txt"
    real.write_text("".join(f"photos/p{i}.jpg\n" for i in range(6)))
    split = dict(holdout=0.4, calibration=0.4)
    for part in ("train", "val", "calib"):
        listed = build_pair_dataset([{"type": "list", "file": str(real), "split": part, **split}], 64, seed=0,
                                    default_split="train")
        names = sorted(set(p.name for p in listed.datasets[0].pairs))
        synth = SyntheticSource([str(real)], 64, length=4, seed=0, split=part, **split)
        assert sorted(s.name for s in synth.inner.generator.sources) == names
        if part == "train":
            first = synth.inner.generator.sources[0]  # photos/pN.jpg: EXIF "TestCam", "Model N % 3"
            assert first.camera == f"testcam model {int(first.name[8]) % 3}"
            item = synth[0]
            assert item["image"].shape == (3, 64, 64)
    with pytest.raises(ConfigError, match="has a mask"):  # manipulated photos are no hosts
        build_pair_dataset([{"type": "synthetic", "sources": [str(tiny_data / "list.txt")]}], 64, seed=0,
                           default_split="train")
    with pytest.raises(ConfigError, match="not a folder of pristine photos or a list file"):
        build_pair_dataset([{"type": "synthetic", "sources": [str(tmp_path / "absent")]}], 64, seed=0,
                           default_split="train")


def test_ddp_two_processes_on_cpu(tiny_data, tmp_path, chain):
    out, _ = chain
    cfg = phase_config("localization", tiny_data, tmp_path / "ddp", model={"noiseprint_init": str(out / "p1" / "best.pt")})
    cfg["train"]["batch_size"] = 1
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "trufor", "train", str(path)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = load_training_checkpoint(tmp_path / "ddp" / "last.pt")
    assert ckpt["step"] == 2 and "2 rank(s)" in (tmp_path / "ddp" / "train.log").read_text()


def test_killed_run_resumes_to_the_same_weights(tiny_data, tmp_path, chain):
    """SIGKILL a CLI run once its first checkpoint exists; the rerun ends with the weights of an uninterrupted run."""
    import signal
    import time

    out, _ = chain
    base = dict(model={"noiseprint_init": str(out / "p1" / "best.pt")},
                train={"epochs": 3, "steps_per_epoch": 2, "checkpoint_every": 1})
    full = run(phase_config("localization", tiny_data, tmp_path / "full", **base))
    cfg = phase_config("localization", tiny_data, tmp_path / "killed", **base)
    path = tmp_path / "k.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "trufor", "train", str(path)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "killed" / "last.pt"
    deadline = time.time() + 120
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_training_checkpoint(last)["step"]
    resumed = run(cfg)
    assert resumed.finished and resumed.step == full.step == 6
    if killed_at < 6:
        assert resumed.resumed_from == killed_at
    a = load_training_checkpoint(tmp_path / "full" / "best.pt")["model"]
    b = load_training_checkpoint(tmp_path / "killed" / "best.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------- phase-1 warm start, phase-2 metric
def test_denoising_warm_start_targets_the_added_noise(tiny_data, tmp_path):
    from trufor.training.noiseprint_phase import DENOISE_UNIT, NoiseprintPhase

    cfg = config_from_dict(phase_config("noiseprint", tiny_data, tmp_path / "o",
                                        noiseprint={"denoise_steps": 3, "denoise_sigma": [2.0, 9.0]}))
    phase = NoiseprintPhase(cfg)
    clean = torch.rand(4, 3, 32, 32)
    seen = {}

    def oracle(image):  # a perfect denoiser: outputs exactly the noise added to the clean patches
        seen["image"] = image
        return ((image - clean) * 255.0 / DENOISE_UNIT)[:, :1]

    labels = torch.tensor([0, 0, 1, 1])
    phase.begin_step(2)
    batch = {"image": clean, "labels": labels}
    out = phase.forward(oracle, batch)
    noise = (seen["image"] - clean) * 255.0
    assert torch.allclose(noise[:, 0], noise[:, 1], atol=1e-3) and torch.allclose(noise[:, 0], noise[:, 2], atol=1e-3)
    stds = noise[:, 0].flatten(1).std(dim=1)
    assert bool(((stds > 1.0) & (stds < 11.0)).all())  # within denoise_sigma, with sampling slack
    loss, _ = phase.loss(out, batch)
    assert loss.item() == pytest.approx(0.0, abs=1e-8)  # the oracle predicts the grey noise exactly
    assert phase.loss(torch.zeros_like(out), {"image": clean, "labels": labels,
                                              "noise_target": out.detach()})[0].item() > 0.01

    phase.begin_step(3)  # warm start over: the contrastive loss on the untouched patches
    batch = {"image": clean, "labels": labels}
    out = phase.forward(oracle, batch)
    assert torch.equal(seen["image"], clean) and "noise_target" not in batch
    expected = L.fingerprint_contrastive_loss(out, labels, temperature=cfg.loss.temperature, border=4)
    assert phase.loss(out, batch)[0].item() == pytest.approx(expected.item())

    with pytest.raises(ConfigError, match="denoise"):
        config_from_dict(phase_config("noiseprint", tiny_data, tmp_path / "o", noiseprint={"denoise_sigma": [5, 1]}))


def test_denoising_warm_start_runs_in_phase_1(tiny_data, tmp_path):
    res = run(phase_config("noiseprint", tiny_data, tmp_path / "o", noiseprint={"denoise_steps": 1},
                           train={"epochs": 1, "steps_per_epoch": 3}))
    assert res.step == 3 and res.finished and math.isfinite(res.best_value)


def test_best_threshold_f1_matches_brute_force():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from trufor.training.localization_phase import best_threshold_f1

    def brute(p, t):
        best = 0.0
        for th in [-1.0] + sorted(set(p.tolist())):
            pred = p > th
            tp = int((pred & t).sum())
            fp = int((pred & ~t).sum())
            fn = int((~pred & t).sum())
            best = max(best, 2 * tp / max(2 * tp + fp + fn, 1))
        return best

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.7, 1.0]), st.booleans()), min_size=1, max_size=40))
    def check(pairs):
        p = torch.tensor([a for a, _ in pairs])
        t = torch.tensor([b for _, b in pairs])
        assert best_threshold_f1(p, t) == pytest.approx(brute(p, t))

    check()
    # a map below 0.5 everywhere: F1 at 0.5 is 0, the best threshold still sees the ranking
    p = torch.tensor([0.1, 0.2, 0.3, 0.4])
    t = torch.tensor([False, False, True, True])
    assert best_threshold_f1(p, t) == 1.0


def test_history_and_grid_pairs_come_from_one_photo(tiny_data):
    from trufor.training.config import NoiseprintSection
    from trufor.training.data import build_photo_sources
    from trufor.training.noiseprint_phase import NoiseprintPatches, collate_patches, pair_metrics

    # every patch names its source photo: the anchor for the first patch of a class, else a photo
    # of the anchor's camera
    photos = build_photo_sources([{"type": "pristine", "folders": [str(tiny_data / "photos")]}],
                                 default_split="train", where="t")
    ds = NoiseprintPatches(photos, NoiseprintSection(patch_size=32, histories=2, offsets=2, patches=3), seed=5)
    for index in range(len(ds)):
        item = ds[index]
        cams = {photos[int(s)].camera for s in item["source"]}
        assert cams == {photos[index].camera}
        assert (item["source"][::3] == index).all()

    # pairs of the same item but different photos never enter the history / grid figures
    batch = {"labels": torch.tensor([0, 0, 1, 2]), "item": torch.zeros(4, dtype=torch.long),
             "history": torch.tensor([0, 0, 1, 0]), "offset": torch.tensor([0, 0, 0, 1]),
             "source": torch.tensor([7, 9, 7, 7])}
    dist = torch.tensor([[0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 4.0, 5.0], [2.0, 4.0, 0.0, 6.0], [3.0, 5.0, 6.0, 0.0]])
    m = pair_metrics(dist, batch)
    assert len(m["pair_auc"][0]) == 6
    # history: photo 7 at offset 0 -> patches 0 and 2 only (patch 1 is photo 9)
    assert m["history_auc"][0].tolist() == [False] and m["history_auc"][1].tolist() == [-2.0]
    # grid: photo 7 with history 0 -> patches 0 and 3
    assert m["grid_auc"][0].tolist() == [False] and m["grid_auc"][1].tolist() == [-3.0]
    assert collate_patches([ds[0], ds[1]])["source"].shape == (24,)


def test_validate_checkpoint_reproduces_the_run(chain, tmp_path, capsys):
    import json

    from trufor.cli import main
    from trufor.training.loop import validate_checkpoint

    out, results = chain
    for name, r, key in zip(("p1", "p2", "p3"), results, ("pair_auc", "f1_best", "det_auc")):
        again = validate_checkpoint(out / name / "best.pt", device="cpu")
        reported = r.history[0][f"val_{key}"]
        assert again[key] == pytest.approx(reported, abs=1e-6, nan_ok=True)
    assert main(["train", "validate", str(out / "p1" / "best.pt"), "val.batches=1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"loss", "pair_auc", "history_auc", "grid_auc"} <= set(printed)
    assert main(["train", "validate", str(tmp_path / "missing.pt")]) == 1
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["train", "validate", str(out / "p1" / "best.pt"), "val.nope=1"]) == 1


def test_denoise_weight_keeps_the_residual_term_after_the_warm_start(tiny_data, tmp_path):
    from trufor.training.noiseprint_phase import DENOISE_UNIT, NoiseprintPhase

    cfg = config_from_dict(phase_config("noiseprint", tiny_data, tmp_path / "o",
                                        noiseprint={"denoise_steps": 1, "denoise_weight": 0.5}))
    phase = NoiseprintPhase(cfg)
    clean = torch.rand(6, 3, 32, 32)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])

    def residual(image):  # a perfect denoiser of the noisy copies; on clean patches: a fixed fingerprint
        n = image.shape[0] - 6
        out = torch.cat([clean[:, :1] * 3.0, ((image[6:] - clean[::2]) * 255.0 / DENOISE_UNIT)[:, :1]])
        assert n == 3
        return out

    phase.begin_step(1)
    batch = {"image": clean, "labels": labels}
    out = phase.forward(residual, batch)
    assert out.shape[0] == 9  # 6 clean patches + noisy copies of every other one
    loss, parts = phase.loss(out, batch)
    expected = L.fingerprint_contrastive_loss(out[:6], labels, temperature=cfg.loss.temperature, border=4)
    assert parts["contrastive"] == pytest.approx(expected.item()) and parts["denoise"] == pytest.approx(0.0, abs=1e-8)
    assert loss.item() == pytest.approx(expected.item())
    # a wrong residual costs denoise_weight x its MSE
    batch = {"image": clean, "labels": labels}
    out = phase.forward(residual, batch)
    loss, parts = phase.loss(torch.cat([out[:6], torch.zeros_like(out[6:])]), batch)
    assert parts["denoise"] > 0.01
    assert loss.item() == pytest.approx(parts["contrastive"] + 0.5 * parts["denoise"], rel=1e-5)
    with pytest.raises(ConfigError, match="denoise_weight"):
        config_from_dict(phase_config("noiseprint", tiny_data, tmp_path / "o", noiseprint={"denoise_weight": -1}))
    # end to end, with the per-part epoch means of the metrics file
    res = run(phase_config("noiseprint", tiny_data, tmp_path / "run", noiseprint={"denoise_steps": 1, "denoise_weight": 1.0},
                           train={"epochs": 1, "steps_per_epoch": 3}))
    row = res.history[0]
    assert math.isfinite(row["train_denoise"]) and math.isfinite(row["train_contrastive"])
    # a part present in only some steps is averaged over those steps
    res = run(phase_config("noiseprint", tiny_data, tmp_path / "run0", noiseprint={"denoise_steps": 1},
                           train={"epochs": 1, "steps_per_epoch": 3}))
    row = res.history[0]
    assert 3 * row["train_loss"] == pytest.approx(row["train_denoise"] + 2 * row["train_contrastive"], rel=1e-5)


def test_amp_autocasts_the_forward_pass_on_cpu(tiny_data, tmp_path, chain):
    """train.amp on CPU: the forward pass runs in bfloat16, weights and checkpoints stay float32."""
    out, _ = chain
    init = {"noiseprint_init": str(out / "p1" / "best.pt")}
    plain = run(phase_config("localization", tiny_data, tmp_path / "fp32", model=init))
    mixed = run(phase_config("localization", tiny_data, tmp_path / "bf16", model=init, train={"amp": True}))
    a, b = plain.history[0]["train_loss"], mixed.history[0]["train_loss"]
    assert math.isfinite(b) and math.isfinite(mixed.history[0]["val_loss"])
    assert a != b and b == pytest.approx(a, rel=0.05)  # bf16 rounding moves the loss, a little
    sd = load_training_checkpoint(tmp_path / "bf16" / "last.pt")["model"]
    assert all(v.dtype == torch.float32 for v in sd.values() if v.is_floating_point())
    assert "bfloat16 autocast" in (tmp_path / "bf16" / "train.log").read_text()


def test_phase1_validation_reports_a_highpass_baseline(chain):
    from trufor.training.noiseprint_phase import highpass_residual

    # the residual of a linear ramp is 0 inside; a single bright pixel gives the kernel back
    ramp = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(1, 3, 16, 16)
    assert highpass_residual(ramp)[..., 1:-1, 1:-1].abs().max() < 1e-4
    dot = torch.zeros(1, 3, 9, 9)
    dot[..., 4, 4] = 1.0
    r = highpass_residual(dot)[0, 0]
    assert r[4, 4] == pytest.approx(-255.0) and r[3, 4] == pytest.approx(127.5) and r[3, 3] == pytest.approx(-63.75)
    _, (r1, _, _) = chain
    row = r1.history[-1]
    for key in ("pair_auc", "history_auc", "grid_auc"):
        assert f"val_baseline_{key}" in row
    assert 0.0 <= row["val_baseline_pair_auc"] <= 1.0


def test_cli_init_file_that_does_not_fit_is_one_error_line(chain, tiny_data, tmp_path, capsys):
    """`trufor train` whose model.init does not fit the phase or variant: exit 1 and one error line
    naming the file and the problem, no traceback (these were bare RuntimeErrors of load_state_dict)."""
    from trufor.cli import main

    out, _ = chain
    p1, p3 = out / "p1" / "best.pt", out / "p3" / "best.pt"
    cases = [
        (phase_config("localization", tiny_data, tmp_path / "a", model={"init": str(p1)}),
         p1, "a phase-1 (noiseprint) checkpoint cannot be model.init of phase 2; give it as model.noiseprint_init"),
        (phase_config("noiseprint", tiny_data, tmp_path / "b", model={"variant": "trufor_b0", "init": str(p1)}),
         p1, "its Noiseprint++ does not fit variant 'trufor_b0' (78 of another shape, e.g. dncnn.0.weight: "
             "32x3x3x3 in the file, 64x3x3x3 here)"),
        (phase_config("confidence", tiny_data, tmp_path / "c", model={"variant": "trufor_b0", "init": str(p3)}),
         p3, "its weights do not fit variant 'trufor_b0'"),
    ]
    for i, (cfg, init, problem) in enumerate(cases):
        path = tmp_path / f"bad{i}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        assert main(["train", str(path)]) == 1
        err = capsys.readouterr().err
        assert f"error: {init}: {problem}" in err, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_phase_table_follows_the_protocol():
    from trufor.training.config import PHASES as PHASE_NAMES
    from trufor.training.config import ModelSection, TrainingConfig
    from trufor.training.phases import PHASES, Phase, PhaseBase, make_phase

    assert tuple(PHASES) == PHASE_NAMES
    for name in PHASE_NAMES:
        phase = make_phase(TrainingConfig(phase=name, model=ModelSection(variant="trufor_small")))
        assert isinstance(phase, Phase) and isinstance(phase, PhaseBase) and phase.name == name
        assert phase.begin_step(5) is None  # an optional hook: a no-op unless the phase needs it
    with pytest.raises(ConfigError, match="unknown phase"):
        make_phase(TrainingConfig(phase="nope"))


def test_phase3_heads_from_random_or_another_file(chain, tiny_data, tmp_path):
    """model.heads_from: where the two parts phase 3 trains start; everything else always comes from init."""
    from trufor.training.phases import make_phase

    from conftest import random_weights

    out, _ = chain
    init = load_training_checkpoint(out / "p3" / "best.pt")["model"]
    from trufor.training import export_checkpoint

    cfg = phase_config("confidence", tiny_data, tmp_path / "o3", model={"init": str(out / "p2" / "best.pt")})
    cfg["train"]["seed"] = 7
    run(cfg)  # another phase 3 from the same phase 2: other heads
    other_path = export_checkpoint(tmp_path / "o3" / "best.pt", tmp_path / "other.safetensors")
    other = load_training_checkpoint(other_path)["model"]
    heads = ("decode_head_conf.", "detection.")

    def start(heads_from):
        model = {"init": str(out / "p3" / "best.pt"), "heads_from": heads_from}
        phase = make_phase(config_from_dict(phase_config("confidence", tiny_data, tmp_path / "x", model=model)))
        torch.manual_seed(5)
        net = phase.build_model()
        built = {k: v.clone() for k, v in net.state_dict().items()}
        info = phase.init_weights(net)
        return net.state_dict(), built, info

    def same(a, b, keys):
        return all(torch.equal(a[k], b[k]) for k in keys)

    trunk = [k for k in init if not k.startswith(heads)]
    head_keys = [k for k in init if k.startswith(heads) and init[k].is_floating_point()]
    state, _, info = start(None)
    assert same(state, init, init) and "heads_from" not in info
    state, built, info = start("random")
    assert same(state, init, trunk) and same(state, built, head_keys) and not same(state, init, head_keys)
    assert info["heads_from"] == "random"
    state, _, info = start(str(other_path))
    assert same(state, init, trunk) and same(state, other, head_keys) and not same(state, init, head_keys)
    assert info["heads_from"]["path"] == str(other_path)
    with pytest.raises(TrainingError, match="only from our own weights"):  # the same guard as model.init
        start(str(random_weights("trufor_small", tmp_path / "foreign.safetensors")))
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(other_path), "pt") as f:  # our own file, one tensor of its detection head missing
        meta = f.metadata()
    tensors = load_file(str(other_path))
    dropped = sorted(k for k in tensors if k.startswith("detection."))[-1]
    partial = {k: v for k, v in tensors.items() if k != dropped}
    save_file(partial, str(tmp_path / "partial.safetensors"), metadata=meta)
    with pytest.raises(TrainingError, match="do not fit variant 'trufor_small'"):
        start(str(tmp_path / "partial.safetensors"))
    for phase, model in (("localization", {"noiseprint_init": "x.pt"}), ("noiseprint", {})):
        with pytest.raises(ConfigError, match="heads_from: phase 3"):
            config_from_dict(phase_config(phase, tiny_data, tmp_path / "y", model={**model, "heads_from": "random"}))


@pytest.mark.parametrize("detach", [False, True])
def test_phase3_detection_gradient_reaches_the_confidence_decoder_unless_detached(chain, tiny_data, tmp_path, detach):
    from trufor.training.phases import make_phase

    out, _ = chain
    cfg = config_from_dict(phase_config("confidence", tiny_data, tmp_path / "g", model={"init": str(out / "p2" / "best.pt")},
                                        loss={"det_detach_conf": detach}))
    phase = make_phase(cfg)
    net = phase.build_model()
    phase.init_weights(net)
    phase.set_train_mode(net)
    net.detection.eval()  # no dropout: the same forward twice
    module = phase.training_module(net)
    torch.manual_seed(0)
    batch = {"image": torch.rand(2, 3, 64, 64), "mask": torch.zeros(2, 64, 64, dtype=torch.long)}
    batch["mask"][0, 8:40, 8:40] = 1
    loc, conf, det = module(batch["image"])
    labels = L.detection_targets(batch["mask"])
    L.detection_loss(det, labels).backward(retain_graph=True)
    conf_params = [p for p in net.decode_head_conf.parameters() if p.requires_grad]
    det_grad = sum(float(p.grad.abs().sum()) for p in conf_params if p.grad is not None)
    assert (det_grad == 0.0) is detach
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in net.detection.parameters())
    net.zero_grad(set_to_none=True)
    L.confidence_loss(loc, conf, batch["mask"]).backward()  # the confidence's own loss trains it either way
    assert sum(float(p.grad.abs().sum()) for p in conf_params if p.grad is not None) > 0


def test_phase3_with_a_detection_decoder_trains_it_by_detection_and_the_confidence_by_its_target(
        chain, tiny_data, tmp_path, monkeypatch):
    from trufor.modeling import get_config
    from trufor.modeling.variants import VARIANTS
    from trufor.training.phases import make_phase

    monkeypatch.setitem(VARIANTS, "trufor_small_detdec", get_config("trufor_small", detection_decoder=True))
    out, _ = chain  # phase 2's network has no detection decoder: it starts as a copy of the confidence decoder
    cfg = config_from_dict(phase_config("confidence", tiny_data, tmp_path / "d",
                                        model={"variant": "trufor_small_detdec", "init": str(out / "p2" / "best.pt"),
                                               "heads_from": str(out / "p3" / "best.pt")}))
    phase = make_phase(cfg)
    net = phase.build_model()
    phase.init_weights(net)
    heads = load_training_checkpoint(out / "p3" / "best.pt")["model"]
    for key, value in net.decode_head_det.state_dict().items():
        assert torch.equal(value, heads[f"decode_head_conf.{key}"]), key
    assert {id(p) for p in phase.trainable_parameters(net)} == {
        id(p) for part in (net.decode_head_conf, net.decode_head_det, net.detection) for p in part.parameters()}
    phase.set_train_mode(net)
    assert net.decode_head_det.training and not net.decode_head.training
    net.detection.eval()
    module = phase.training_module(net)
    torch.manual_seed(0)
    batch = {"image": torch.rand(2, 3, 64, 64), "mask": torch.zeros(2, 64, 64, dtype=torch.long)}
    batch["mask"][0, 8:40, 8:40] = 1
    loc, conf, det = module(batch["image"])

    def grad(part) -> float:
        return sum(float(p.grad.abs().sum()) for p in part.parameters() if p.grad is not None)

    L.detection_loss(det, L.detection_targets(batch["mask"])).backward(retain_graph=True)
    assert grad(net.decode_head_conf) == 0.0 and grad(net.decode_head_det) > 0 and grad(net.detection) > 0
    net.zero_grad(set_to_none=True)
    L.confidence_loss(loc, conf, batch["mask"]).backward()
    assert grad(net.decode_head_conf) > 0 and grad(net.decode_head_det) == 0.0


def test_phase3_validation_reports_the_variance_of_the_confidence_target(chain, tiny_data, tmp_path):
    from trufor.training.phases import make_phase

    out, _ = chain
    cfg = config_from_dict(phase_config("confidence", tiny_data, tmp_path / "v", model={"init": str(out / "p2" / "best.pt")}))
    phase = make_phase(cfg)
    net = phase.build_model()
    phase.init_weights(net)
    net.eval()
    torch.manual_seed(1)
    batches = []
    for _ in range(2):
        mask = torch.zeros(2, 64, 64, dtype=torch.long)
        mask[0, 4:50, 10:60] = 1
        mask[1, :, :3] = -1
        batches.append({"image": torch.rand(2, 3, 64, 64), "mask": mask})
    phase.validation_begin()
    targets = []
    with torch.no_grad():
        for b in batches:
            phase.validation_batch(net, b, torch.device("cpu"))
            loc, conf, _ = phase.training_module(net)(b["image"])
            tcp, valid = L.confidence_targets(loc, b["mask"], erode=cfg.loss.conf_erode, dilate=cfg.loss.conf_dilate)
            targets.append(tcp[valid].double())
    metrics = phase.validation_end()
    t = torch.cat(targets)
    assert metrics["conf_var"] == pytest.approx(float(t.var(unbiased=False)), rel=1e-6)
    # it is the MSE of the best constant confidence: every other constant does worse
    best = float(((t - t.mean()) ** 2).mean())
    assert metrics["conf_var"] == pytest.approx(best, rel=1e-6) and float(((t - 0.5) ** 2).mean()) >= best
