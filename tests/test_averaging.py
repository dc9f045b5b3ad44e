"""Weight averaging (`trufor train average`, training/averaging.py): the arithmetic, the refusals, the file."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import random_weights
from trufor.cli import main
from trufor.errors import TrainingError
from trufor.modeling import get_config
from trufor.training.averaging import average_weights, normalised_coefficients, parameter_distance
from trufor.training.calibration import Calibration, write_calibrated
from trufor.weights import read_weights, save_safetensors


def _perturbed(src, dst, seed: int, scale: float = 0.05, licence: str | None = None):
    """A copy of ``src`` with every floating tensor moved by seeded noise (a 'fine-tuned' sibling)."""
    w = read_weights(src)
    g = torch.Generator().manual_seed(seed)
    sd = {k: (v.float() + scale * torch.randn(v.shape, generator=g)) if v.is_floating_point() else v
          for k, v in w.state_dict.items()}
    return save_safetensors(sd, dst, get_config("trufor_small"), provenance=f"sibling {seed}",
                            licence=licence or w.licence, extra={"training_phase": "confidence"})


@pytest.fixture(scope="module")
def siblings(tmp_path_factory):
    root = tmp_path_factory.mktemp("soup")
    base = random_weights("trufor_small", root / "base.safetensors")
    return [_perturbed(base, root / f"s{i}.safetensors", seed=i) for i in (1, 2, 3)]


def test_uniform_average_is_the_mean_of_every_floating_tensor(siblings, tmp_path):
    res = average_weights(siblings[:2], tmp_path / "avg.safetensors", half=False)
    a, b = (read_weights(p).state_dict for p in siblings[:2])
    out = read_weights(res.path)
    assert res.coefficients == (0.5, 0.5)
    for k, v in out.state_dict.items():
        if v.is_floating_point():
            torch.testing.assert_close(v, (a[k].double() / 2 + b[k].double() / 2).float(), rtol=0, atol=1e-7)
        else:
            assert torch.equal(v, a[k])  # integers from the first file
    meta = out.metadata
    assert meta["averaged_from"] == "s1.safetensors, s2.safetensors"
    assert meta["training_phase"] == "confidence"
    assert "sibling 1" in meta["provenance"] and "sibling 2" in meta["provenance"]
    assert meta["provenance"].startswith("weight average (model soup)")  # the inputs' first lines differ
    assert meta["variant"] == "trufor_small"


def test_draws_of_one_chain_keep_its_summary_as_the_first_line(siblings, tmp_path):
    """Like every export, a soup of draws that share their first provenance line (what the chain started from)
    opens with it: `trufor info` and the bundled-model checks read the first line."""
    summary = "trained by the trufor project; encoder branches initialised from ImageNet weights"
    draws = []
    for i, src in enumerate(siblings[:2]):
        w = read_weights(src)
        draws.append(save_safetensors(w.state_dict, tmp_path / f"d{i}.safetensors", get_config("trufor_small"),
                                      provenance=f"{summary}\nphase confidence: draw {i}", licence=w.licence))
    meta = read_weights(average_weights(draws, tmp_path / "avg.safetensors").path).metadata
    lines = meta["provenance"].split("\n")
    assert lines[0] == summary and lines[1].startswith("weight average (model soup)")
    assert "  phase confidence: draw 0" in lines and "  phase confidence: draw 1" in lines


def test_coefficients_weigh_the_inputs(siblings, tmp_path):
    res = average_weights(siblings, tmp_path / "w.safetensors", coefficients=[2, 1, 1], half=False)
    assert res.coefficients == (0.5, 0.25, 0.25)
    sds = [read_weights(p).state_dict for p in siblings]
    out = read_weights(res.path).state_dict
    k = next(k for k, v in out.items() if v.is_floating_point() and v.numel() > 10)
    expected = 0.5 * sds[0][k].double() + 0.25 * sds[1][k].double() + 0.25 * sds[2][k].double()
    torch.testing.assert_close(out[k], expected.float(), rtol=0, atol=1e-7)
    # A file averaged with itself is itself (up to float16 storage, the default).
    same = average_weights([siblings[0], siblings[0]], tmp_path / "same.safetensors")
    ref = read_weights(siblings[0]).state_dict
    for k2, v in read_weights(same.path).state_dict.items():
        if v.is_floating_point():
            torch.testing.assert_close(v.float(), ref[k2].half().float(), rtol=0, atol=0)
    assert all(d == 0 for d in same.relative_distance.values())


def test_the_average_loads_and_runs(siblings, tmp_path):
    from trufor import load_model

    res = average_weights(siblings[:2], tmp_path / "avg.safetensors")
    model = load_model(res.path, device="cpu")
    import numpy as np

    out = model.analyze(np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8))
    assert 0.0 <= out.score <= 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=10, allow_nan=False), min_size=2, max_size=5))
def test_normalised_coefficients_sum_to_one_or_are_refused(values):
    if sum(values) <= 0:
        with pytest.raises(TrainingError):
            normalised_coefficients(len(values), values)
        return
    c = normalised_coefficients(len(values), values)
    assert math.isclose(sum(c), 1.0, rel_tol=1e-12) and all(x >= 0 for x in c)


@pytest.mark.parametrize("bad", [[1.0], [1.0, -1.0], [0.0, 0.0], [float("inf"), 1.0], [float("nan"), 1.0]])
def test_bad_coefficients_are_refused(bad):
    n = max(len(bad), 2)
    with pytest.raises(TrainingError):
        normalised_coefficients(n, bad)


def test_one_file_is_refused(siblings, tmp_path):
    with pytest.raises(TrainingError, match="at least two"):
        average_weights(siblings[:1], tmp_path / "x.safetensors")


def test_calibrated_and_foreign_files_are_refused(siblings, tmp_path):
    cal = write_calibrated(siblings[0], tmp_path / "cal.safetensors", Calibration(a=0.5, b=0.1, n_fake=1, n_real=1, fpr_before=0, fpr_after=0,
                                                                    tpr_before=0, tpr_after=0),
                           data_note="a test", half=False)
    with pytest.raises(TrainingError, match="calibrated file"):
        average_weights([cal, siblings[1]], tmp_path / "x.safetensors")
    other = random_weights("trufor_lite0", tmp_path / "lite.safetensors")
    with pytest.raises(TrainingError, match="another architecture"):
        average_weights([siblings[0], other], tmp_path / "x.safetensors")
    state = tmp_path / "plain.pt"
    torch.save(read_weights(siblings[1]).state_dict, state)
    with pytest.raises(TrainingError, match="safetensors"):
        average_weights([siblings[0], state], tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_a_calibrated_start_averages_with_networks_that_kept_its_head(siblings, tmp_path):
    """WiSE-FT: a phase-2 network exported with the calibrated file's heads, averaged with that file. Nothing of the
    detection head is averaged, so its calibration record is kept, and the provenance says whose network it fits."""
    cal = write_calibrated(siblings[0], tmp_path / "cal.safetensors",
                           Calibration(a=0.5, b=0.1, n_fake=1, n_real=1, fpr_before=0, fpr_after=0, tpr_before=0,
                                       tpr_after=0), data_note="a test", half=False)
    start = read_weights(cal).state_dict
    tuned = read_weights(siblings[1]).state_dict
    tuned = {k: (start[k].clone() if k.split(".")[0] == "detection" else v) for k, v in tuned.items()}
    tuned_path = save_safetensors(tuned, tmp_path / "tuned.safetensors", get_config("trufor_small"),
                                  provenance="fine-tuned", licence=read_weights(cal).licence)
    res = average_weights([cal, tuned_path], tmp_path / "wise.safetensors", half=False)
    out = read_weights(res.path)
    assert out.metadata["calibration"] == read_weights(cal).metadata["calibration"]
    assert "not for this average" in out.metadata["provenance"]
    for k, v in out.state_dict.items():
        if k.split(".")[0] == "detection":
            assert torch.equal(v, start[k].float())
        elif v.is_floating_point():
            torch.testing.assert_close(v, (start[k].double() / 2 + tuned[k].double() / 2).float(), rtol=0, atol=1e-7)
    moved = dict(tuned)
    name = next(k for k in moved if k.split(".")[0] == "detection" and moved[k].is_floating_point())
    moved[name] = moved[name] + 1e-3  # one head tensor differs: the calibration cannot be kept, refused
    moved_path = save_safetensors(moved, tmp_path / "moved.safetensors", get_config("trufor_small"),
                                  provenance="fine-tuned", licence=read_weights(cal).licence)
    with pytest.raises(TrainingError, match="detection heads differ"):
        average_weights([cal, moved_path], tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_different_licences_are_all_named(siblings, tmp_path):
    other = _perturbed(siblings[0], tmp_path / "o.safetensors", seed=9, licence="another licence")
    res = average_weights([siblings[0], other], tmp_path / "avg.safetensors")
    lic = read_weights(res.path).licence
    assert "another licence" in lic and read_weights(siblings[0]).licence in lic


def test_distance_by_part():
    a = {"dncnn.w": torch.ones(4), "backbone.w": torch.zeros(3) + 2, "backbone.n": torch.tensor([3])}
    b = {"dncnn.w": torch.ones(4), "backbone.w": torch.zeros(3) + 4, "backbone.n": torch.tensor([3])}
    avg = {"dncnn.w": torch.ones(4), "backbone.w": torch.zeros(3) + 3, "backbone.n": torch.tensor([3])}
    d = parameter_distance([a, b], avg)
    assert d["Noiseprint++"] == 0 and math.isclose(d["encoder"], 1 / 3, rel_tol=1e-9)


def test_average_command(siblings, tmp_path, capsys):
    out = tmp_path / "cli.safetensors"
    rc = main(["train", "average", str(siblings[0]), str(siblings[1]), "-o", str(out), "--coefficients", "3,1"])
    assert rc == 0 and read_weights(out).metadata["average_coefficients"] == "0.75 0.25"
    err = capsys.readouterr().err
    assert "relative distance" in err and "encoder" in err
    rc = main(["train", "average", str(siblings[0]), str(siblings[1]), "-o", str(tmp_path / "y.safetensors"),
               "--coefficients", "a,b"])
    assert rc != 0 and not (tmp_path / "y.safetensors").exists()


def test_parts_average_a_phase2_network_of_another_head_into_a_calibrated_file(tmp_path):
    """``parts``: only the encoder and localization decoder are averaged; every other tensor, the variant and the
    calibration record are the first file's, even when the other input has another detection head (trufor_lite0 into
    trufor_lite0_top) and another Noiseprint++; the provenance names what was kept and what differed."""
    top = random_weights("trufor_lite0_top", tmp_path / "top.safetensors")
    cal = write_calibrated(top, tmp_path / "cal.safetensors",
                           Calibration(a=2.0, b=-1.0, n_fake=1, n_real=1, fpr_before=0, fpr_after=0, tpr_before=0,
                                       tpr_after=0), data_note="a test", half=False)
    lite = read_weights(random_weights("trufor_lite0", tmp_path / "lite.safetensors"))
    g = torch.Generator().manual_seed(4)
    moved = {k: (v.float() + 0.05 * torch.randn(v.shape, generator=g)) if v.is_floating_point() else v
             for k, v in lite.state_dict.items()}
    other = save_safetensors(moved, tmp_path / "other.safetensors", get_config("trufor_lite0"),
                             provenance="phase 2 from elsewhere", licence=lite.licence)
    with pytest.raises(TrainingError, match="detection heads differ"):  # without parts: refused
        average_weights([cal, other], tmp_path / "x.safetensors")
    res = average_weights([cal, other], tmp_path / "p.safetensors", parts=["backbone", "decode_head"], half=False)
    first, out = read_weights(cal), read_weights(res.path)
    assert set(out.state_dict) == set(first.state_dict) and out.metadata["config"] == first.metadata["config"]
    for k, v in out.state_dict.items():
        part = k.split(".")[0]
        if part in ("backbone", "decode_head") and v.is_floating_point():
            torch.testing.assert_close(v, ((first.state_dict[k].double() + moved[k].double()) / 2).float(),
                                       rtol=0, atol=1e-6)
        else:
            assert torch.equal(v.float(), first.state_dict[k].float()), k
    assert out.metadata["calibration"] == first.metadata["calibration"]
    assert out.metadata["averaged_parts"] == "backbone decode_head"
    assert set(res.kept) == {"dncnn", "decode_head_conf", "detection"} and "dncnn" in res.kept_differing
    prov = out.metadata["provenance"]
    assert "only these parts were averaged: backbone, decode_head" in prov and "taken from cal.safetensors" in prov
    assert set(res.relative_distance) == {"encoder", "localization decoder"}
    for bad, match in ((["encoder"], "not in"), ([], "not in")):
        with pytest.raises(TrainingError, match=match):
            average_weights([cal, other], tmp_path / "x.safetensors", parts=bad)
    assert not (tmp_path / "x.safetensors").exists()


def test_average_command_parts(siblings, tmp_path, capsys):
    out = tmp_path / "parts.safetensors"
    rc = main(["train", "average", str(siblings[0]), str(siblings[1]), "-o", str(out), "--parts", "backbone"])
    assert rc == 0 and read_weights(out).metadata["averaged_parts"] == "backbone"
    err = capsys.readouterr().err
    assert "kept from" in err and "decode_head" in err
    rc = main(["train", "average", str(siblings[0]), str(siblings[1]), "-o", str(tmp_path / "y.safetensors"),
               "--parts", "encoder"])
    assert rc != 0 and not (tmp_path / "y.safetensors").exists()
