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
