"""A detection decoder of its own (TruForConfig.detection_decoder), the graft that gives one to a trained model
(trufor train graft-confidence), and the balanced confidence loss (loss.conf_balance)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import variant_images
from trufor.modeling import TruForNet, get_config
from trufor.modeling.engine import EfficientTruFor
from trufor.training import ConfigError, TrainingError, config_from_dict
from trufor.training import losses as L
from trufor.weights import infer_config, load_network, read_weights, save_safetensors

SMALL_DD = get_config("trufor_small", detection_decoder=True)


def _net(config=SMALL_DD, seed: int = 0) -> TruForNet:
    torch.manual_seed(seed)
    return TruForNet(config).eval()


def _perturb(net: TruForNet, prefixes: tuple[str, ...], seed: int, scale: float = 0.3) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.startswith(prefixes):
                p.add_(scale * torch.randn(p.shape, generator=g) * p.abs().mean().clamp_min(0.05))


def test_the_detection_head_pools_the_detection_decoder_not_the_confidence():
    net = _net()
    x = torch.rand(1, 3, 96, 112)
    with torch.no_grad():
        ref = net(x)
        _perturb(net, ("decode_head_conf.",), 1)
        conf_changed = net(x)
        _perturb(net, ("decode_head_det.",), 2)
        det_changed = net(x)
    assert not torch.equal(ref.conf_logits, conf_changed.conf_logits)
    assert torch.equal(ref.det_logit, conf_changed.det_logit)  # the confidence decoder no longer decides the score
    assert torch.equal(conf_changed.conf_logits, det_changed.conf_logits)
    assert not torch.equal(conf_changed.det_logit, det_changed.det_logit)
    plain = _net(get_config("trufor_small"))
    assert plain.decode_head_det is None and not any(k.startswith("decode_head_det.") for k in plain.state_dict())


def test_the_efficient_engine_and_the_onnx_graph_module_match_the_network():
    from trufor.deploy.onnx_export import ExportableTruFor

    net = _net()
    _perturb(net, ("decode_head_det.",), 3)
    x = torch.rand(1, 3, 100, 132)
    with torch.no_grad():
        ref = net(x)
        eff = EfficientTruFor(net)(x)
        heat, conf, score, _ = ExportableTruFor(net, "float32")(x)  # float32 input: already uint8 / 256
    for name in ("loc_logits", "conf_logits", "det_logit"):
        assert torch.allclose(getattr(ref, name), getattr(eff, name), atol=1e-5), name
    assert torch.allclose(score, torch.sigmoid(ref.det_logit[:, 0]), atol=1e-5)
    assert torch.allclose(conf, torch.sigmoid(ref.conf_logits[:, 0]), atol=1e-5)


def test_weights_files_record_the_detection_decoder(tmp_path):
    net = _net(get_config("trufor_lite0_detdec"))
    path = save_safetensors(net.state_dict(), tmp_path / "dd.safetensors", net.config, provenance="t", licence="t")
    loaded = read_weights(path)
    assert loaded.metadata["variant"] == "trufor_lite0_detdec"
    assert infer_config(loaded.state_dict).detection_decoder
    assert load_network(path).net.decode_head_det is not None
    plain = {k: v for k, v in loaded.state_dict.items() if not k.startswith("decode_head_det.")}
    assert not infer_config(plain).detection_decoder


# ------------------------------------------------------------------------------------------- graft
def _file(net: TruForNet, path: Path, **meta) -> Path:
    return save_safetensors(net.state_dict(), path, net.config, provenance="test model\nsecond line", licence="test only",
                            half=True,  # as trained models are exported (the graft writes float16)
                            extra=meta)



@pytest.fixture(scope="module")
def graft_files(tmp_path_factory):
    """A base model (no detection decoder), a phase-3 sibling (other confidence decoder and head), the graft."""
    from trufor.training.graft import graft_confidence

    tmp = tmp_path_factory.mktemp("graft")
    base = _net(get_config("trufor_small"))
    donor = _net(get_config("trufor_small"))
    _perturb(donor, ("decode_head_conf.", "detection."), 5, scale=3.0)
    base_path = _file(base, tmp / "base.safetensors", calibration="1.5 -0.25")
    donor_path = _file(donor, tmp / "donor.safetensors")
    out = graft_confidence(base_path, donor_path, tmp / "grafted.safetensors")
    return tmp, base_path, donor_path, out


def test_the_graft_keeps_the_base_scores_and_maps_and_takes_the_donor_confidence(graft_files):
    from trufor import load_model

    tmp, base_path, donor_path, out = graft_files
    loaded = read_weights(out)
    assert loaded.metadata["calibration"] == "1.5 -0.25" and "graft-confidence" in loaded.metadata["provenance"]
    assert infer_config(loaded.state_dict).detection_decoder
    base, donor, grafted = (load_model(p) for p in (base_path, donor_path, out))
    assert grafted.net.decode_head_det is not None
    for image in variant_images(tmp / "img"):
        b, d, g = base.analyze(image), donor.analyze(image), grafted.analyze(image)
        assert g.score == pytest.approx(b.score, abs=1e-6) and g.score != pytest.approx(d.score, abs=1e-4)
        assert np.array_equal(g.map, b.map)
        assert np.allclose(g.conf, d.conf, atol=1e-6) and not np.allclose(g.conf, b.conf, atol=1e-3)
        ref = load_model(out, engine="reference").analyze(image)  # both engines give the graft's score
        assert ref.score == pytest.approx(g.score, abs=1e-5)


def test_a_graft_of_a_graft_keeps_its_detection_decoder(graft_files, tmp_path):
    from trufor.training.graft import graft_confidence

    _, base_path, donor_path, out = graft_files
    again = graft_confidence(out, base_path, tmp_path / "again.safetensors")
    first, second = read_weights(out).state_dict, read_weights(again).state_dict
    base = read_weights(base_path).state_dict
    for k in first:
        if k.startswith("decode_head_det."):
            assert torch.equal(first[k], second[k]), k  # still the original base's confidence decoder
        if k.startswith("decode_head_conf."):
            assert torch.equal(second[k], base[k]), k


def test_a_graft_between_two_networks_is_refused_and_writes_nothing(graft_files, tmp_path):
    from trufor.cli import main

    _, base_path, _, _ = graft_files
    other = _net(get_config("trufor_small"))
    _perturb(other, ("decode_head.",), 7)  # another localization decoder: another network
    other_path = _file(other, tmp_path / "other.safetensors")
    with pytest.raises(TrainingError, match="not the network of"):
        from trufor.training.graft import graft_confidence

        graft_confidence(base_path, other_path, tmp_path / "x.safetensors")
    assert main(["train", "graft-confidence", str(base_path), str(other_path), "-o", str(tmp_path / "y.safetensors")]) != 0
    assert not (tmp_path / "x.safetensors").exists() and not (tmp_path / "y.safetensors").exists()
    assert main(["train", "graft-confidence", str(base_path), str(base_path), "-o", str(tmp_path / "z.safetensors")]) == 0
    assert read_weights(tmp_path / "z.safetensors").metadata["variant"] == "custom"  # trufor_small + decoder


def test_score_heads_with_detection_decoders(graft_files, tmp_path):
    from trufor import load_model

    tmp, base_path, donor_path, out = graft_files
    grafted = load_model(out)
    nets = [load_network(base_path).net, load_network(donor_path).net, load_network(out).net]
    alone = [load_model(p) for p in (base_path, donor_path, out)]
    for image in variant_images(tmp / "img2"):
        score, scores = grafted.score_heads(image, nets)
        assert score == pytest.approx(grafted.analyze(image).score, abs=1e-6)
        assert scores == pytest.approx([m.analyze(image).score for m in alone], abs=1e-5)


# ------------------------------------------------------------------------------- balanced confidence loss
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), forged_rows=st.integers(0, 12), flag_rows=st.integers(0, 12))
def test_the_flagged_balance_averages_the_two_pixel_kinds(seed, forged_rows, flag_rows):
    g = torch.Generator().manual_seed(seed)
    h, w = 12, 10
    loc = torch.randn(2, 2, h, w, generator=g)
    loc[:, 1, :flag_rows] += 8.0  # the map flags the first rows (and some others by chance)
    conf = torch.randn(2, 1, h, w, generator=g)
    target = torch.zeros(2, h, w, dtype=torch.long)
    target[0, :forged_rows] = 1
    target[1, :, 0] = -1
    kw = dict(erode=1, dilate=1)
    tcp, valid = L.confidence_targets(loc, target, **kw)
    err = (torch.sigmoid(conf[:, 0]) - tcp) ** 2
    flagged = loc.softmax(1)[:, 1] >= 0.5
    parts = [err[valid & flagged], err[valid & ~flagged]]
    means = [float(p.double().mean()) for p in parts if p.numel()]
    expected = sum(means) / len(means)
    assert float(L.confidence_loss(loc, conf, target, balance="flagged", **kw)) == pytest.approx(expected, rel=1e-5)
    plain = float(err[valid].double().mean())
    assert float(L.confidence_loss(loc, conf, target, **kw)) == pytest.approx(plain, rel=1e-5)
    if len(means) == 1:  # pixels of one kind only: the two losses agree
        assert expected == pytest.approx(plain, rel=1e-5)


def test_conf_balance_is_checked(tmp_path):
    with pytest.raises(ValueError, match="balance"):
        L.confidence_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long),
                          balance="pixels")
    cfg = {"phase": "confidence", "model": {"variant": "trufor_small", "init": "x.pt"},
           "data": {"train": [{"type": "folder", "images": str(tmp_path)}]}, "loss": {"conf_balance": "flaged"}}
    with pytest.raises(ConfigError, match="conf_balance: choose none or flagged"):
        config_from_dict(cfg)
    cfg["loss"]["conf_balance"] = "flagged"
    assert config_from_dict(cfg).loss.conf_balance == "flagged"


def test_training_says_when_a_file_and_a_variant_differ_in_the_detection_decoder():
    from trufor.training.checkpoint import load_weights

    with_dd, plain = _net(), _net(get_config("trufor_small"))
    with pytest.raises(TrainingError, match="the file has a detection decoder: choose a variant with one"):
        load_weights(plain, with_dd.state_dict(), "dd.safetensors", "its weights do not fit variant 'trufor_small'")
    with pytest.raises(TrainingError, match="the variant has a detection decoder and the file none"):
        load_weights(with_dd, plain.state_dict(), "plain.safetensors", "its weights do not fit")


@pytest.mark.slow
def test_onnx_export_of_a_model_with_a_detection_decoder(graft_files, tmp_path):
    """The exported graph pools the detection decoder too: onnxruntime gives the torch engine's score and maps,
    on an image above and one below the network's smallest side (mirror-padded, pooled over its own pixels)."""
    from trufor import load_model
    from trufor.deploy.onnx_export import export_onnx

    _, _, _, grafted = graft_files
    onnx_file = export_onnx(tmp_path / "grafted.onnx", grafted, opset=18)
    runtime = load_model(onnx_file, backend="onnxruntime", mode="exact")
    torch_model = load_model(grafted)
    for image in variant_images(tmp_path / "img")[:2]:
        a, b = runtime.analyze(image), torch_model.analyze(image)
        assert abs(a.score - b.score) <= 1e-5
        assert np.max(np.abs(a.map - b.map)) <= 1e-4 and np.max(np.abs(a.conf - b.conf)) <= 1e-4
