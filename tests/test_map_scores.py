"""benchmarks/map_scores.py: detection AUCs of statistics of the cached localization maps (a probe of the network)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from conftest import load_script


def _map_scores():
    return load_script("benchmarks/map_scores.py")


def _report(root: Path, set_name: str, images: list[tuple[str, str, float, float, float]], maps: bool = True) -> None:
    """A report with per_image.csv and, with ``maps``, one npz per image: a 10x10 map of ``low`` with one pixel at
    ``peak`` and a confidence of 1 except at that pixel (``conf_at_peak``)."""
    folder = root / set_name
    rows = []
    for i, (name, label, score, peak, conf_at_peak) in enumerate(images):
        npz = ""
        if maps:
            m = np.full((10, 10), 0.1, np.float32)
            m[3, 4] = peak
            c = np.ones((10, 10), np.float32)
            c[3, 4] = conf_at_peak
            path = folder / "npz" / f"{i}.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, map=m, conf=c, score=np.float64(score), imgsize=np.array([10, 10]))
            npz = str(path)
        rows.append({"name": name, "label": label, "status": "ok" if label == "real" or i % 2 else "detection only",
                     "score": score, "f1_best": 0.5 + i / 10 if label == "fake" else "", "npz": npz})
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "per_image.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_aucs_of_map_statistics_pooled_over_sets(tmp_path):
    ms = _map_scores()
    fake = "forgeries/imd2020_subset/fake/{}.png"
    _report(tmp_path, "heldout_m", [
        (fake.format("a"), "fake", 0.9, 0.8, 1.0),
        (fake.format("b"), "fake", 0.2, 0.6, 0.0),   # hot but not trusted: conf-max 0.1
        ("pristine/camera/x.jpg", "real", 0.5, 0.7, 1.0),
    ])
    _report(tmp_path, "calibpart_m", [
        (fake.format("c"), "fake", 0.4, 0.9, 1.0),
        ("imd2020_subset/real/y.jpg", "real", 0.3, 0.5, 1.0),
        ("pristine/camera/z.jpg", "real", 0.1, 0.65, 0.5),
    ])
    figs, n_fakes = ms.model_figures(tmp_path, "m", ["heldout", "calibpart"])
    assert n_fakes == 3
    # max: fakes 0.8 / 0.6 / 0.9 against camera 0.7 / 0.65: 4 of 6 pairs ranked right
    assert figs["max vs pristine/camera"] == pytest.approx(4 / 6)
    assert figs["max vs imd2020_subset/real"] == 1.0
    assert figs["max vs all authentic"] == pytest.approx(7 / 9)
    # conf-max: fakes 0.8 / 0.1 / 0.9 against camera 0.7 / 0.325
    assert figs["conf-max vs pristine/camera"] == pytest.approx(4 / 6)
    assert figs["head score vs all authentic"] == pytest.approx(6 / 9)  # 0.9 / 0.2 / 0.4 vs 0.5 / 0.3 / 0.1
    assert figs["p99 vs imd2020_subset/real"] == 1.0
    assert figs["localization: mean F1 best of the 1 masked fakes"] == pytest.approx(0.6)  # b only: a, c have no mask
    text = ms.table(tmp_path, ["m"], ["heldout", "calibpart"])
    assert "| max vs pristine/camera | 0.667 |" in text and "m (3 fakes)" in text


def test_reports_without_maps_are_refused_with_the_reason(tmp_path):
    ms = _map_scores()
    _report(tmp_path, "heldout_v", [("forgeries/imd2020_subset/fake/a.png", "fake", 0.9, 0.8, 1.0),
                                    ("pristine/camera/x.jpg", "real", 0.5, 0.7, 1.0)], maps=False)
    with pytest.raises(SystemExit, match="no cached maps"):
        ms.model_figures(tmp_path, "v", ["heldout"])
    with pytest.raises(SystemExit, match="no such report"):
        ms.model_figures(tmp_path, "v", ["calibpart"])


def test_maps_found_in_the_report_folder_when_run_from_elsewhere(tmp_path):
    """per_image.csv records the npz path as the evaluation saw it (relative to its working folder)."""
    ms = _map_scores()
    images = [("forgeries/imd2020_subset/fake/a.png", "fake", 0.9, 0.8, 1.0),
              ("pristine/camera/x.jpg", "real", 0.5, 0.7, 1.0)]
    _report(tmp_path, "heldout_r", images)
    folder = tmp_path / "heldout_r"
    with open(folder / "per_image.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:  # where `trufor eval` writes them, recorded relative to another working folder
        target = folder / "npz" / f"{r['name']}.npz"
        target.parent.mkdir(parents=True, exist_ok=True)
        Path(r["npz"]).rename(target)
        r["npz"] = f"out/reports/heldout_r/npz/{r['name']}.npz"
    with open(folder / "per_image.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    figs, n_fakes = ms.model_figures(tmp_path, "r", ["heldout"])
    assert n_fakes == 1 and figs["max vs pristine/camera"] == 1.0
