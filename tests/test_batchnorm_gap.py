"""benchmarks/batchnorm_gap.py: the image-level statistic with BatchNorm as an image-level step runs it (train mode)
and as the exported model runs it (eval mode); the network is left as loaded."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from conftest import load_script, random_weights
from trufor.modeling import build_model
from trufor.training.localization_phase import LocalizationModule
from trufor.training.losses import image_level_loss
from trufor.weights import config_of, read_weights


def _photos(root, names):
    rng = np.random.default_rng(0)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (70, 100, 3), dtype=np.uint8)).save(root / name)


def test_statistic_both_ways_leaves_the_network_as_loaded(tmp_path):
    gap = load_script("benchmarks/batchnorm_gap.py")
    weights = random_weights("trufor_lite0", tmp_path / "w.safetensors")
    loaded = read_weights(weights)
    net = build_model(config_of(loaded))
    gap.load_into(net, loaded.state_dict, str(weights))
    _photos(tmp_path, ["a.png"])
    image = gap.whole_image(tmp_path / "a.png", max_side=96)
    assert image.shape == (1, 3, 64, 96)  # a top-left window, sides cut to multiples of 32
    before = {k: v.clone() for k, v in net.state_dict().items()}
    exported, trained = gap.statistic_both_ways(net, image, 0.005)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())  # statistics put back
    assert all(not m.training for m in gap.batchnorms(net))
    with torch.no_grad():
        expect = image_level_loss(LocalizationModule(net.eval())(image).float(), torch.zeros(1, dtype=torch.long),
                                  0.005)[1][0]
    assert exported == float(expect)
    assert trained != exported  # the image's own statistics are not the running ones


def test_main_prints_both_statistics_and_their_agreement(tmp_path, capsys):
    gap = load_script("benchmarks/batchnorm_gap.py")
    weights = random_weights("trufor_lite0", tmp_path / "w.safetensors")
    data = tmp_path / "data"
    data.mkdir()
    _photos(data, ["f1.png", "f2.png", "r1.png", "r2.png"])
    (tmp_path / "fakes.txt").write_text("f1.png,mask.png\nf2.png,mask.png\n")
    (tmp_path / "reals.txt").write_text("r1.png\nr2.png\nr3.png\n")
    assert gap.main([str(weights), "--n", "2", "--fakes", str(tmp_path / "fakes.txt"), "--reals",
                     str(tmp_path / "reals.txt"), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert out.count("| fake |") == 2 and out.count("| real |") == 2 and "r3.png" not in out
    assert "4 images: correlation of the two statistics" in out
    assert gap.main([str(tmp_path / "missing.safetensors")]) == 2
