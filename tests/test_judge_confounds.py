"""benchmarks/judge_confounds.py: what file properties alone say about the real-life judge; does a run read them?"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import load_script


def _module():
    return load_script("benchmarks/judge_confounds.py")


def _photo(seed: int, size=(96, 64)) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    return Image.fromarray(base).resize(size, Image.BILINEAR)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 100), st.sampled_from(["4:4:4", "4:2:0"]))
def test_quality_of_a_pillow_jpeg_is_the_quality_it_was_saved_at(tmp_path_factory, quality, subsampling):
    path = tmp_path_factory.mktemp("q") / "a.jpg"
    _photo(quality).save(path, quality=quality, subsampling=subsampling)
    props = _module().file_properties(path)
    assert props["quality"] == quality and props["PNG"] == 0.0
    assert props["pixels"] == 96 * 64 and props["longer side"] == 96
    assert props["bits per pixel"] == pytest.approx(path.stat().st_size * 8 / (96 * 64))


def test_a_png_counts_as_never_compressed(tmp_path):
    m = _module()
    _photo(1).save(tmp_path / "a.png")
    props = m.file_properties(tmp_path / "a.png")
    assert props["quality"] == m.NEVER_JPEG and props["PNG"] == 1.0


def test_matched_pairs_take_the_quality_away():
    m = _module()
    labels = np.array([1, 1, 1, 0, 0, 0])
    quality = np.array([95.0, 90, 85, 95, 90, 85])
    reads_quality = quality.copy()  # a score that is the quality: at equal quality it cannot tell the classes apart
    assert m.matched_pair_auc(labels, reads_quality, quality, 0) == (0.5, 3)
    finds_edits = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])  # a score that separates the classes at any quality
    assert m.matched_pair_auc(labels, finds_edits, quality, 0) == (1.0, 3)
    assert m.matched_pair_auc(labels, finds_edits, quality, 5)[1] == 3 + 4  # |dq| <= 5: the neighbours join
    assert np.isnan(m.matched_pair_auc(labels, finds_edits, quality + np.array([0, 0, 0, 50, 50, 50]), 2)[0])


def _subset(data: Path) -> list[str]:
    """A miniature IMD2020 subset: fakes saved at quality 95 (and one PNG), originals at 75, same sizes."""
    root = data / "forgeries" / "imd2020_subset"
    names = []
    for folder, n, quality in (("fake", 3, 95), ("fake_unlabelled_mask", 2, 95), ("real", 5, 75)):
        (root / folder).mkdir(parents=True)
        for i in range(n):
            path = root / folder / f"{folder}{i}.jpg"
            _photo(i).save(path, quality=quality)
            names.append(f"forgeries/imd2020_subset/{folder}/{path.name}")
    _photo(9).save(root / "fake" / "edited.png")
    names.append("forgeries/imd2020_subset/fake/edited.png")
    return names


def _report(reports: Path, name: str, scores: dict[str, float]) -> None:
    (reports / name).mkdir(parents=True)
    with open(reports / name / "per_image.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["name", "label", "status", "score"])
        w.writeheader()
        for image, score in scores.items():
            label = "real" if "/real/" in image else "fake"
            w.writerow({"name": image, "label": label, "status": "ok", "score": score})


def test_tables_of_a_subset_whose_fakes_are_saved_finer(tmp_path, capsys):
    m = _module()
    names = _subset(tmp_path / "data")
    reports = tmp_path / "reports"
    fake = {n: 0.0 if "/real/" in n else 1.0 for n in names}
    _report(reports, "heldout_edits", {n: 0.9 if fake[n] else 0.1 for n in names[:7]})
    _report(reports, "calibpart_edits", {n: 0.9 if fake[n] else 0.1 for n in names[7:]})
    _report(reports, "heldout_coarse", {n: 0.5 + 0.1 * fake[n] * (n.endswith(".png")) for n in names})  # finds the PNG
    _report(reports, "calibpart_coarse", {})
    assert m.main(["edits", "coarse", "--reports", str(reports), "--data", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip("| "): line for line in out.splitlines() if line.startswith("| ")}
    assert "| 1.000 | 1.000 |" in rows["quality"]  # quality alone separates this judge
    assert "| 0.500 | 0.500 |" in rows["pixels"]  # the sizes do not
    assert "(6 fakes / 5 originals)" in out
    assert rows["edits"].startswith("| edits | 1.000 | 1.000 |")
    assert rows["edits"].endswith("| nan (0 pairs) |")  # no fake is within 2 quality steps of an original
    assert rows["coarse"].startswith("| coarse | 0.583 | 0.500 |")  # (5 x 0.5 + 1) / 6 with the PNG, chance without


def test_missing_report_and_missing_data_are_named(tmp_path):
    m = _module()
    _subset(tmp_path / "data")
    with pytest.raises(SystemExit, match="heldout_nothing/per_image.csv: no such report"):
        m.main(["nothing", "--reports", str(tmp_path / "reports"), "--data", str(tmp_path / "data")])
    with pytest.raises(SystemExit, match="the IMD2020 subset is not there"):
        m.main(["--data", str(tmp_path / "elsewhere")])


def test_web_halves_split_the_resaved_judge_by_the_size_of_its_copies(tmp_path, capsys):
    """(e) split at the median longer side of its copies: AUC of the copies and of the same images as they came."""
    m = _module()
    data, reports, web = tmp_path / "data", tmp_path / "reports", tmp_path / "web"
    names = _subset(data)  # 96 x 64 photos (longer side 96)
    fake = {n: "/real/" not in n for n in names}
    _report(reports, "heldout_r", {n: 0.9 if fake[n] else 0.1 for n in names})  # as they came: every fake first
    _report(reports, "calibpart_r", {})
    (web / "web__forgeries__imd2020_subset").mkdir(parents=True)
    rows = []
    for i, n in enumerate(names):  # every second image gets a small copy, and the small copies rank backwards
        small = i % 2 == 1
        copy = web / "web__forgeries__imd2020_subset" / (n.rsplit(".", 1)[0].replace("/", "__") + ".jpg")
        _photo(i, (48, 32) if small else (96, 64)).save(copy, quality=80)
        score = (0.2 if fake[n] else 0.7) if small else (0.8 if fake[n] else 0.3)
        rows.append({"name": f"web__forgeries__imd2020_subset/{copy.name}", "label": "fake" if fake[n] else "real",
                     "status": "ok", "score": score, "image": str(copy)})
    (reports / "judge_web_r").mkdir()
    with open(reports / "judge_web_r" / "per_image.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["name", "label", "status", "score", "image"])
        w.writeheader()
        w.writerows(rows)
    assert m.web_origin(rows[0]["name"]) == names[0].rsplit(".", 1)[0]
    assert m.main(["r", "--reports", str(reports), "--data", str(data), "--web-halves"]) == 0
    out = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| r |") and "px" in line or
           line.startswith(("| r | larger", "| r | all"))]
    assert out[0] == "| r | smaller (< 96 px) | 5 (2 / 3) | 0.50 | 0.000 | 1.000 | -1.000 |"
    assert out[1] == "| r | larger | 6 (4 / 2) | 1.00 | 1.000 | 1.000 | +0.000 |"
    assert out[2].startswith("| r | all | 11 (6 / 5) | 1.00 |")
    with pytest.raises(SystemExit, match="name at least one RUN"):
        m.main(["--reports", str(reports), "--data", str(data), "--web-halves"])
    Path(rows[0]["image"]).unlink()
    with pytest.raises(SystemExit, match="cannot read the web copy's size"):
        m.main(["r", "--reports", str(reports), "--data", str(data), "--web-halves"])


def test_twins_split_the_judge_by_where_each_pair_partner_lies(tmp_path, capsys):
    """--twins: the held-out images whose pair partner is on the training side form their own groups; the last column
    is the leak-free AUC."""
    m = _module()
    data, reports = tmp_path / "data", tmp_path / "reports"
    names = _subset(data)
    pairs = tmp_path / "pairs.csv"
    with open(pairs, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["fake", "original", "fake_part", "original_part"])
        w.writeheader()
        for i, (fake_part, original_part) in enumerate((("val", "train"), ("train", "calib"), ("val", "val"))):
            w.writerow({"fake": f"fake/fake{i}.jpg", "original": f"real/real{i}.jpg", "fake_part": fake_part,
                        "original_part": original_part})
    training_side = {"forgeries/imd2020_subset/fake/fake1.jpg", "forgeries/imd2020_subset/real/real0.jpg"}
    scores = {}
    for n in names:
        if n in training_side:
            continue
        scores[n] = 0.1 if "/real/" in n else 0.9
    scores["forgeries/imd2020_subset/fake/fake0.jpg"] = 0.05  # its original was trained on: ranked as an original
    scores["forgeries/imd2020_subset/real/real1.jpg"] = 0.8  # its fake was trained on: ranked as a fake
    _report(reports, "heldout_r", scores)
    _report(reports, "calibpart_r", {})
    assert m.main(["r", "--reports", str(reports), "--data", str(data), "--twins", str(pairs)]) == 0
    out = capsys.readouterr().out.splitlines()
    header = next(line for line in out if "twin trained (1)" in line)
    assert "fakes (5) vs originals (4)" in header and "other fakes (4) vs other originals (3)" in header
    assert out[out.index(header) + 2] == "| r | 0.800 | 0.800 | 0.000 | 1.000 |"
    with pytest.raises(SystemExit, match="--twins reads the runs' scores"):
        m.main(["--reports", str(reports), "--data", str(data), "--twins", str(pairs)])
    with pytest.raises(SystemExit, match="no such pairs file"):
        m.main(["r", "--reports", str(reports), "--data", str(data), "--twins", str(tmp_path / "none.csv")])
