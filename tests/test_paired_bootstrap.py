"""benchmarks/paired_bootstrap.py: intervals of the difference between two models scored on the same images."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from conftest import load_script


def _module():
    return load_script("benchmarks/paired_bootstrap.py")


def _report(root: Path, name: str, rows: list[tuple[str, str, float, float | str]]) -> None:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "per_image.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["name", "label", "status", "score", "f1_best", "npz"])
        w.writeheader()
        for image, label, score, f1 in rows:
            w.writerow({"name": image, "label": label, "status": "ok" if f1 != "" or label == "real" else
                        "detection only", "score": score, "f1_best": f1, "npz": ""})


def _images(rng: np.random.Generator, n_fake: int = 30, n_real: int = 40, shift: float = 0.0):
    fakes = [(f"forgeries/imd2020_subset/fake/{i}.png", "fake", float(rng.uniform(0.2, 1.0)) + shift,
              float(rng.uniform(0, 1)) if i % 3 else "") for i in range(n_fake)]
    reals = [(f"pristine/camera/{i}.jpg" if i % 2 else f"forgeries/imd2020_subset/real/{i}.jpg", "real",
              float(rng.uniform(0.0, 0.8)), "") for i in range(n_real)]
    return fakes + reals


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=30), st.lists(st.integers(0, 5), min_size=1, max_size=30))
def test_auc_matches_sklearn_with_ties(fakes, reals):
    pb = _module()
    expected = roc_auc_score([1] * len(fakes) + [0] * len(reals), fakes + reals)
    assert pb.auc(np.array(fakes, float), np.array(reals, float)) == pytest.approx(expected)


def test_a_model_against_itself_differs_by_nothing(tmp_path):
    pb = _module()
    rows = _images(np.random.default_rng(1))
    _report(tmp_path, "heldout_a", rows)
    _report(tmp_path, "heldout_b", rows)
    paired = pb.Paired(pb.load(tmp_path, "a", ["heldout"], "head score"), pb.load(tmp_path, "b", ["heldout"], "head score"))
    out = pb.compare(paired, resamples=200, seed=0)
    assert {r[0] for r in out} == {"AUC vs imd2020_subset/real", "AUC vs pristine/camera", "AUC vs all authentic",
                                   "mean F1 best of the 20 masked fakes"}
    for _, va, vb, d, lo, hi, share in out:
        assert va == vb and d == lo == hi == 0.0 and share == 0.0


def test_a_better_model_is_found_better_and_the_interval_holds_the_difference(tmp_path):
    pb = _module()
    rng = np.random.default_rng(2)
    rows_a = _images(rng)
    rows_b = [(n, lab, s + 0.7 if lab == "fake" else s, f1 if f1 == "" else min(1.0, f1 + 0.2))
              for n, lab, s, f1 in rows_a]  # every fake scored higher, every masked F1 higher
    _report(tmp_path, "heldout_a", rows_a)
    _report(tmp_path, "heldout_b", rows_b)
    paired = pb.Paired(pb.load(tmp_path, "a", ["heldout"], "head score"), pb.load(tmp_path, "b", ["heldout"], "head score"))
    out = {r[0]: r for r in pb.compare(paired, resamples=300, seed=0)}
    _, va, vb, d, lo, hi, share = out["AUC vs all authentic"]
    assert vb == 1.0 and va < 0.9 and share == 1.0 and 0 < lo <= d <= hi
    fakes = [s for _, lab, s, _ in rows_a if lab == "fake"]
    reals = [s for _, lab, s, _ in rows_a if lab == "real"]
    assert va == pytest.approx(roc_auc_score([1] * 30 + [0] * 40, fakes + reals))
    assert out["mean F1 best of the 20 masked fakes"][6] == 1.0


def test_sets_are_pooled_and_images_must_match(tmp_path):
    pb = _module()
    rows = _images(np.random.default_rng(3))
    _report(tmp_path, "heldout_a", rows[:10] + rows[30:50])
    _report(tmp_path, "calibpart_a", rows[10:30] + rows[50:])
    _report(tmp_path, "heldout_b", rows[:10] + rows[30:50])
    _report(tmp_path, "calibpart_b", rows[10:30] + rows[50:])
    paired = pb.Paired(pb.load(tmp_path, "a", ["heldout", "calibpart"], "head score"),
                       pb.load(tmp_path, "b", ["heldout", "calibpart"], "head score"))
    assert paired.label.sum() == 30 and paired.label.size == 70
    _report(tmp_path, "calibpart_b", rows[10:30] + rows[51:])  # one authentic image fewer
    with pytest.raises(SystemExit, match="differ in 1 images"):
        pb.Paired(pb.load(tmp_path, "a", ["heldout", "calibpart"], "head score"),
                  pb.load(tmp_path, "b", ["heldout", "calibpart"], "head score"))


def test_map_statistics_need_cached_maps_and_known_names(tmp_path):
    pb = _module()
    _report(tmp_path, "heldout_a", _images(np.random.default_rng(4), 3, 3))
    with pytest.raises(SystemExit, match="no cached map"):
        pb.load(tmp_path, "a", ["heldout"], "max")
    with pytest.raises(SystemExit, match="unknown statistic"):
        pb.load(tmp_path, "a", ["heldout"], "median")
    with pytest.raises(SystemExit, match="no such report"):
        pb.load(tmp_path, "zz", ["heldout"], "head score")


def test_the_command_prints_one_table(tmp_path, capsys):
    pb = _module()
    rows = _images(np.random.default_rng(5))
    _report(tmp_path, "heldout_a", rows)
    _report(tmp_path, "heldout_b", rows)
    assert pb.main(["pb", "a", "b", "--sets", "heldout", "--resamples", "50", "--reports", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("| heldout: 30 fakes, 40 authentic; head score | a | b | b - a |")
    assert "| AUC vs all authentic |" in text and "[+0.000, +0.000]" in text
