"""benchmarks/compare_models.py: the (e) rows, the real-life judge re-saved alike."""

from __future__ import annotations

import csv
import json
import math

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
