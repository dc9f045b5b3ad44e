"""benchmarks/compare_models.py: the (e) rows, the real-life judge re-saved alike."""

from __future__ import annotations

import csv
import json
import math

import pytest

from conftest import load_script


def test_judge_web_figures_read_the_report_and_are_dashes_without_it(tmp_path):
    cm = load_script("benchmarks/compare_models.py")
    assert all(math.isnan(v) for v in cm.judge_web_figures(tmp_path, "old").values())
    folder = tmp_path / "judge_web_new"
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"localization": {"f1_best": 0.42}}), encoding="utf-8")
    rows = [("f1", "fake", "ok", 0.9), ("f2", "fake", "detection only", 0.4), ("f3", "fake", "skipped", ""),
            ("r1", "real", "ok", 0.6), ("r2", "real", "ok", 0.1), ("r3", "real", "ok", 0.3)]
    with open(folder / "per_image.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "label", "status", "score"])
        w.writerows(rows)
    out = cm.judge_web_figures(tmp_path, "new")
    assert list(out.values()) == [5 / 6, 0.42, 0.5, 1 / 3]  # AUC: 0.9 beats all three, 0.4 beats two of them


def test_leak_free_rows_leave_out_the_images_whose_partner_was_trained_on(tmp_path):
    cm = load_script("benchmarks/compare_models.py")
    imd = "forgeries/imd2020_subset/"
    parts = {"heldout_m": [(imd + "fake/a.jpg", "fake", 0.9), (imd + "fake/b.jpg", "fake", 0.2),
                           (imd + "real/c.jpg", "real", 0.8), (imd + "real/d.jpg", "real", 0.1),
                           ("pristine/camera/e.jpg", "real", 0.3)],
             "calibpart_m": [(imd + "fake/f.jpg", "fake", 0.7), (imd + "real/g.jpg", "real", 0.5)]}
    for name, rows in parts.items():
        (tmp_path / name).mkdir()
        with open(tmp_path / name / "per_image.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["name", "label", "status", "score"])
            w.writerows((n, lab, "ok", s) for n, lab, s in rows)
    pairs = tmp_path / "pairs.csv"
    with open(pairs, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["fake", "original", "fake_part", "original_part"])
        w.writerow(["fake/b.jpg", "real/x.jpg", "val", "train"])  # b's original was trained on: b is left out
        w.writerow(["fake/y.jpg", "real/c.jpg", "train", "val"])  # a fake of c was trained on: c is left out
        w.writerow(["fake/f.jpg", "real/g.jpg", "calib", "val"])  # both judged: both stay
    out = cm.leak_free_figures(tmp_path, "m", pairs)
    # kept: fakes a (0.9), f (0.7); IMD originals d (0.1), g (0.5); all authentic also e (0.3)
    assert out == {"(c+d) leak-free: AUC vs IMD2020 originals": 1.0, "(c+d) leak-free: AUC vs all authentic": 1.0}
    assert all(math.isnan(v) for v in cm.leak_free_figures(tmp_path, "m", tmp_path / "none.csv").values())
    assert all(math.isnan(v) for v in cm.leak_free_figures(tmp_path, "m", None).values())


def test_a_model_measured_on_the_real_life_sets_only_has_dashes_for_the_synthetic_rows(tmp_path):
    """A network measured alone on (b, c) without the synthetic set: its (a) rows are "-", the rest is computed; a
    model without a held-out report is named in the error."""
    cm = load_script("benchmarks/compare_models.py")
    imd = "forgeries/imd2020_subset/"
    (tmp_path / "heldout_m").mkdir()
    (tmp_path / "heldout_m" / "metrics.json").write_text(
        json.dumps({"localization": {"f1_best": 0.5, "f1_th": 0.4}}), encoding="utf-8")
    with open(tmp_path / "heldout_m" / "per_image.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "label", "status", "score"])
        w.writerows([(imd + "fake/a.jpg", "fake", "ok", 0.9), (imd + "real/c.jpg", "real", "ok", 0.2),
                     ("pristine/camera/e.jpg", "real", "ok", 0.6)])
    out = cm.figures(tmp_path, "m")
    assert all(math.isnan(v) for k, v in out.items() if k.startswith("(a)"))
    assert out["(b) IMD2020 masked F1 best"] == 0.5 and out["(c) AUC, IMD2020 fakes vs all authentic"] == 1.0
    assert out["FPR at 0.5, camera originals"] == 1.0
    with pytest.raises(SystemExit, match="heldout_none: no held-out report for none"):
        cm.figures(tmp_path, "none")
