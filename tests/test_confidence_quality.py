"""benchmarks/confidence_quality.py: does the confidence map mark where the localization map is wrong."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from conftest import load_script


def _module():
    return load_script("benchmarks/confidence_quality.py")


def _truth(size: int = 48) -> np.ndarray:
    gt = np.zeros((size, size), bool)
    gt[4:40, 6:44] = True
    return gt


def _tcp(m: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
    return m if gt is None else np.where(gt, m, 1.0 - m)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, (6, 6), elements=st.floats(0.0, 1.0).filter(lambda v: abs(v - 0.5) > 1e-3)),
       st.booleans())
def test_a_confidence_equal_to_the_true_class_probability_is_perfect(blocks, manipulated):
    cq = _module()
    m = np.kron(blocks, np.ones((8, 8)))  # a 48x48 map of 8x8 blocks
    gt = _truth() if manipulated else None
    tcp = np.where(gt, m, 1.0 - m) if manipulated else 1.0 - m
    fig = cq.image_figures(m, tcp, gt, "x")
    assert float(((fig.conf - fig.tcp) ** 2).max()) == pytest.approx(0.0, abs=1e-12)
    if fig.wrong.any() and (~fig.wrong).any():
        assert fig.error_auc == 1.0  # every wrong pixel (TCP < 0.5) is less trusted than every right one
    if (fig.flagged & fig.wrong).any() and (fig.flagged & ~fig.wrong).any():  # false alarms below true detections
        assert cq.set_figures([fig])["flagged pixels: error AUC"] == 1.0
    inverted = cq.image_figures(m, 1.0 - tcp, gt, "x")
    if inverted.wrong.any() and (~inverted.wrong).any():
        assert inverted.error_auc == 0.0


def test_a_flat_confidence_says_nothing_and_scores_the_constant():
    cq = _module()
    rng = np.random.default_rng(0)
    gt = _truth()
    m = np.clip(gt * 0.7 + rng.uniform(-0.4, 0.4, gt.shape), 0, 1)
    fig = cq.image_figures(m, np.full(m.shape, 0.8), gt, "x")
    assert fig.error_auc == 0.5 and fig.conf_std == pytest.approx(0.0, abs=1e-12)
    figures = cq.set_figures([fig])
    tcp = fig.tcp
    assert figures["MSE to TCP"] == pytest.approx(float(((0.8 - tcp) ** 2).mean()))
    assert figures["MSE of the best constant"] == pytest.approx(float(tcp.var()))
    assert figures["MSE to TCP"] >= figures["MSE of the best constant"]
    # the band around the mask's edge is left out, as in the evaluation protocol: 15x15 erosion, 11x11 dilation
    from trufor.metrics import protocol_regions

    pristine, forged = protocol_regions(gt)
    assert fig.conf.size == int((pristine | forged).sum()) < gt.size


def test_a_confidence_low_wherever_the_map_fires_finds_errors_but_not_false_alarms():
    cq = _module()
    gt = np.zeros((96, 96), bool)
    gt[4:40, 6:44] = True
    m = np.full(gt.shape, 0.1)
    m[gt] = 0.9  # true detections
    m[70:90, 10:60] = 0.8  # false alarms, far from the mask
    fig = cq.image_figures(m, 1.0 - m, gt, "x")
    figures = cq.set_figures([fig])
    assert fig.error_auc > 0.9  # the wrong pixels (all false alarms) are less trusted than most right ones
    assert figures["flagged pixels: error AUC"] == 0.0  # yet the true detections are trusted even less
    assert 0 < figures["flagged pixels: share of false alarms"] < 1


def _write_report(root: Path, set_name: str, model: str, images: list[tuple[str, str, np.ndarray, np.ndarray, str]]):
    folder = root / f"{set_name}_{model}"
    rows = []
    for i, (name, label, m, c, mask) in enumerate(images):
        path = folder / "npz" / f"{i}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, map=m.astype(np.float32), conf=c.astype(np.float32), score=np.float64(0.5))
        rows.append({"name": name, "label": label, "status": "ok", "score": 0.5, "mask": mask, "npz": str(path)})
    with open(folder / "per_image.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_the_command_compares_a_trained_confidence_with_a_flat_one(tmp_path, capsys):
    cq = _module()
    rng = np.random.default_rng(1)
    gt = _truth()
    mask_path = tmp_path / "mask.png"
    Image.fromarray(gt.astype(np.uint8) * 255).save(mask_path)
    flat, good = [], []
    for i in range(12):
        fake = i % 2 == 0
        m = np.clip((gt * 0.8 if fake else np.zeros(gt.shape)) + rng.uniform(0, 0.6, gt.shape), 0, 1)
        tcp = _tcp(m, gt if fake else None) if fake else 1.0 - m
        name = f"forgeries/x/fake/{i}.png" if fake else f"pristine/camera/{i}.jpg"
        label, mask = ("fake", str(mask_path)) if fake else ("real", "")
        flat.append((name, label, m, np.full(gt.shape, 0.7), mask))
        good.append((name, label, m, np.clip(tcp + rng.normal(0, 0.05, gt.shape), 0, 1), mask))
    # a manipulated image without a mask has no pixel truth: it is left out
    flat.append(("forgeries/x/fake/nomask.png", "fake", gt * 1.0, np.ones(gt.shape), ""))
    good.append(("forgeries/x/fake/nomask.png", "fake", gt * 1.0, np.ones(gt.shape), ""))
    _write_report(tmp_path, "heldout", "flat", flat)
    _write_report(tmp_path, "heldout", "good", good)
    assert cq.main(["x", "flat", "good", "--sets", "heldout", "--reports", str(tmp_path), "--resamples", "200"]) == 0
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines():
        if line.startswith("| "):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    assert rows["heldout: images"] == ["12", "12"]  # the image without a mask is left out
    flat_auc, good_auc = (float(v) for v in rows["heldout: error AUC (mean over images)"])
    assert flat_auc == 0.5 and good_auc > 0.9
    assert float(rows["heldout: MSE to TCP"][1]) < float(rows["heldout: MSE of the best constant"][1])
    assert rows["good"][4] == "1.00"  # every resample has the trained confidence ahead


def test_a_report_without_cached_maps_is_refused(tmp_path):
    cq = _module()
    folder = tmp_path / "heldout_m"
    folder.mkdir()
    (folder / "per_image.csv").write_text("name,label,status,score,mask,npz\npristine/camera/a.jpg,real,ok,0.5,,\n")
    with pytest.raises(SystemExit, match="no cached map for pristine/camera/a.jpg"):
        cq.read_model(tmp_path, "m", ["heldout"])
    with pytest.raises(SystemExit, match="no such report"):
        cq.read_model(tmp_path, "other", ["heldout"])


def test_the_figure_shows_each_model_on_the_same_images(tmp_path):
    fig_mod = load_script("benchmarks/confidence_figure.py")
    gt = _truth()
    mask_path = tmp_path / "mask.png"
    Image.fromarray(gt.astype(np.uint8) * 255).save(mask_path)
    m = gt * 0.9 + 0.05
    for model, conf in (("a", np.full(gt.shape, 0.6)), ("b", _tcp(m, gt))):
        _write_report(tmp_path, "heldout", model, [("forgeries/x/fake/0.png", "fake", m, conf, str(mask_path)),
                                                   ("pristine/camera/1.jpg", "real", m, 1.0 - m, "")])
    out = tmp_path / "figures" / "conf.png"
    assert fig_mod.main(["x", "a", "b", "--images", "heldout/forgeries/x/fake/0.png", "heldout/pristine/camera/1.jpg",
                         "-o", str(out), "--reports", str(tmp_path)]) == 0
    with Image.open(out) as im:
        assert im.size[0] > im.size[1] > 100  # five columns, two rows
    with pytest.raises(SystemExit, match="no image forgeries/x/fake/9.png"):
        fig_mod.main(["x", "a", "--images", "heldout/forgeries/x/fake/9.png", "-o", str(out), "--reports", str(tmp_path)])
