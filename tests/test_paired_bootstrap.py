"""benchmarks/paired_bootstrap.py: intervals of the difference between two models scored on the same images."""

from __future__ import annotations

import csv
import math
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
    assert "| 0.000 |" in text  # the share of resamples with b > a, to three decimals (the rules' 0.95 / 0.05)


def _pairs_file(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["fake", "original", "fake_part", "original_part"])
        w.writeheader()
        for fake, original, fp, op in rows:
            w.writerow({"fake": fake, "original": original, "fake_part": fp, "original_part": op})
    return path


def test_leak_free_leaves_out_the_held_out_partners_of_training_images(tmp_path, capsys):
    pb = _module()
    rows = _images(np.random.default_rng(6))  # fakes fake/0..29.png, IMD2020 originals real/0,2,..38.jpg
    _report(tmp_path, "heldout_a", rows)
    _report(tmp_path, "heldout_b", [(n, lab, s + (0.5 if n.endswith("fake/1.png") else 0.0), f1)
                                    for n, lab, s, f1 in rows])
    pairs = _pairs_file(tmp_path / "pairs.csv", [
        ("fake/0.png", "real/0.jpg", "val", "train"),    # the original was trained on: the fake leaves
        ("fake/1.png", "real/2.jpg", "val", "calib"),    # both held out: both stay, and they are a scored pair
        ("fake/train.png", "real/4.jpg", "train", "val"),  # the fake was trained on: the original leaves
        ("fake/3.png", "real/6.jpg", "train", "train"),  # both trained on: nothing to do with held-out images
    ])
    assert pb.leaked(pb.read_pairs(pairs)) == {"fake/0.png", "real/4.jpg"}
    kept = pb.load(tmp_path, "a", ["heldout"], "head score", pb.leaked(pb.read_pairs(pairs)))
    assert len(kept) == len(rows) - 2
    assert "heldout/forgeries/imd2020_subset/fake/0.png" not in kept
    assert "heldout/forgeries/imd2020_subset/real/4.jpg" not in kept
    a, b = (pb.load(tmp_path, m, ["heldout"], "head score") for m in "ab")
    n, share_a, share_b = pb.pair_shares(a, b, pb.read_pairs(pairs))
    # pairs whose two images are both scored: all but the one whose fake is not in the report
    fake1 = a["heldout/forgeries/imd2020_subset/fake/1.png"][2]
    real2 = a["heldout/forgeries/imd2020_subset/real/2.jpg"][2]
    assert n == 3
    assert share_b - share_a == pytest.approx((int(fake1 + 0.5 > real2) - int(fake1 > real2)) / 3)
    # B raises one fake only: B alone is right on that pair where A was wrong, never the other way
    only_a, only_b, p_value = pb.pair_discordance(a, b, pb.read_pairs(pairs))
    assert (only_a, only_b) == (0, int(fake1 + 0.5 > real2 >= fake1))
    assert p_value == pytest.approx(1.0)  # one discordant pair (or none) can never be evidence
    assert pb.main(["pb", "a", "b", "--sets", "heldout", "--resamples", "20", "--reports", str(tmp_path),
                    "--pairs", str(pairs), "--leak-free"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("| heldout: 29 fakes, 39 authentic (leak-free); head score |")
    assert "fake/original pairs both scored" in text and "exact McNemar test, two-sided p = " in text
    with pytest.raises(SystemExit):
        pb.main(["pb", "a", "b", "--reports", str(tmp_path), "--leak-free"])
    with pytest.raises(SystemExit, match="no such pairs file"):
        pb.read_pairs(tmp_path / "none.csv")


def test_derived_masks_score_mask_less_fakes_from_their_cached_maps(tmp_path):
    from PIL import Image

    from trufor.metrics import localization_metrics

    pb = _module()
    folder = tmp_path / "heldout_a"
    (folder / "npz").mkdir(parents=True)
    rng = np.random.default_rng(7)
    truth = np.zeros((60, 80), bool)
    truth[10:30, 20:50] = True
    rows = []
    for i in range(3):  # three fakes without a hand-made mask; their maps cached as `trufor eval` caches them
        name = f"forgeries/imd2020_subset/fake_unlabelled_mask/{i}.jpg"
        m = np.clip(truth * 0.6 + rng.uniform(0, 0.5, truth.shape), 0, 1).astype(np.float16)
        npz = folder / "npz" / f"{name}.npz"
        npz.parent.mkdir(parents=True, exist_ok=True)
        np.savez(npz, map=m)
        rows.append((name, "fake", 0.5 + i / 10, ""))
    rows.append(("forgeries/imd2020_subset/real/0.jpg", "real", 0.2, ""))
    _report(tmp_path, "heldout_a", rows)
    Image.fromarray(truth.astype(np.uint8) * 255).save(tmp_path / "m.png")
    pairs = tmp_path / "pairs.csv"
    with open(pairs, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["fake", "original", "fake_part", "original_part", "derived_mask",
                                          "derived_fraction", "hand_fraction"])
        w.writeheader()
        w.writerow({"fake": "fake_unlabelled_mask/0.jpg", "original": "real/9.jpg", "fake_part": "val",
                    "original_part": "val", "derived_mask": "m.png", "derived_fraction": "0.125"})
        # a derived mask over most of the image is not a region's mask: not taken
        w.writerow({"fake": "fake_unlabelled_mask/1.jpg", "original": "real/8.jpg", "fake_part": "val",
                    "original_part": "val", "derived_mask": "m.png", "derived_fraction": "0.9"})
    derived = pb.derived_masks(pb.read_pairs(pairs), pairs)
    assert set(derived) == {"fake_unlabelled_mask/0.jpg"}
    out = pb.load(tmp_path, "a", ["heldout"], "head score", derived=derived)
    with np.load(folder / "npz" / "forgeries/imd2020_subset/fake_unlabelled_mask/0.jpg.npz") as z:
        expected = localization_metrics(z["map"].astype(np.float64), truth).f1_best
    assert out["heldout/forgeries/imd2020_subset/fake_unlabelled_mask/0.jpg"][3] == pytest.approx(expected)
    assert expected > 0.5
    assert np.isnan(out["heldout/forgeries/imd2020_subset/fake_unlabelled_mask/1.jpg"][3])
    assert np.isnan(pb.load(tmp_path, "a", ["heldout"], "head score")[
        "heldout/forgeries/imd2020_subset/fake_unlabelled_mask/0.jpg"][3])


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=30))
@settings(max_examples=60, deadline=None)
def test_pair_discordance_is_mcnemars_exact_test(orders):
    """For any pairs, the discordant counts are those of a direct count, and the p-value is the two-sided exact
    binomial one at 1/2 computed from the binomial coefficients: twice the smaller tail, at most 1."""
    pb = _module()
    a, b, pairs = {}, {}, []
    for i, (a_right, b_right) in enumerate(orders):
        fake, real = f"heldout/forgeries/imd2020_subset/fake/{i}.png", f"heldout/forgeries/imd2020_subset/real/{i}.jpg"
        a[fake], a[real] = ("fake", 1, 0.9 if a_right else 0.1, float("nan")), ("real", 0, 0.5, float("nan"))
        b[fake], b[real] = ("fake", 1, 0.9 if b_right else 0.1, float("nan")), ("real", 0, 0.5, float("nan"))
        pairs.append({"fake": f"fake/{i}.png", "original": f"real/{i}.jpg"})
    only_a, only_b, p_value = pb.pair_discordance(a, b, pairs)
    assert only_a == sum(x and not y for x, y in orders) and only_b == sum(y and not x for x, y in orders)
    n, k = only_a + only_b, min(only_a, only_b)
    expected = 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)
    assert p_value == pytest.approx(expected, rel=1e-9)
