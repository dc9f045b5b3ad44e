"""Run 36's cross-validation tools: scripts/imd2020_cv_folds.py (folds that keep pairs together) and
benchmarks/cv_reports.py (out-of-fold reports beside the reference's rows of the same images)."""

from __future__ import annotations

import csv

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import load_script


@pytest.fixture(scope="module")
def folds_mod():
    return load_script("scripts/imd2020_cv_folds.py")


@pytest.fixture(scope="module")
def reports_mod():
    return load_script("benchmarks/cv_reports.py")


def test_groups_join_the_pairs_whose_members_both_judge(folds_mod):
    judging = {"fake/a.jpg": "masked", "real/a.jpg": "real", "fake/b.jpg": "nomask", "fake/b2.jpg": "masked",
               "real/b.jpg": "real", "fake/c.jpg": "masked"}
    pairs = [{"fake": "fake/a.jpg", "original": "real/a.jpg"}, {"fake": "fake/b.jpg", "original": "real/b.jpg"},
             {"fake": "fake/b2.jpg", "original": "real/b.jpg"},  # two fakes of one original: one group of three
             {"fake": "fake/c.jpg", "original": "real/train_side.jpg"}]  # its partner does not judge: alone
    assert folds_mod.groups_of(judging, pairs) == [["fake/a.jpg", "real/a.jpg"], ["fake/b.jpg", "fake/b2.jpg",
                                                                                  "real/b.jpg"], ["fake/c.jpg"]]


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.lists(st.sampled_from(["masked", "nomask", "real"]), min_size=1, max_size=4),
                      min_size=2, max_size=30),
       k=st.integers(2, 4), seed=st.integers(0, 2**16))
def test_folds_keep_groups_whole_and_counts_even(folds_mod, sizes, k, seed):
    """Every image in one fold, every group in one fold, and per kind the folds differ by no more than the largest
    group holds of that kind (the greedy never makes a fold worse than one group's worth); the same seed, the same
    folds."""
    groups = [[f"g{i}_{j}" for j in range(len(g))] for i, g in enumerate(sizes)]
    kinds = {f"g{i}_{j}": kind for i, g in enumerate(sizes) for j, kind in enumerate(g)}
    fold_of = folds_mod.assign_folds(groups, kinds, k, seed)
    assert set(fold_of) == set(kinds) and set(fold_of.values()) <= set(range(1, k + 1))
    assert all(len({fold_of[n] for n in g}) == 1 for g in groups)
    for kind in ("masked", "nomask", "real"):
        per_fold = [sum(kinds[n] == kind for n in fold_of if fold_of[n] == f) for f in range(1, k + 1)]
        largest = max(sum(kinds[n] == kind for n in g) for g in groups)
        assert max(per_fold) - min(per_fold) <= 2 * largest
    assert folds_mod.assign_folds(groups, kinds, k, seed) == fold_of
    with pytest.raises(ValueError, match="at least 2 folds"):
        folds_mod.assign_folds(groups, kinds, 1, seed)


def _subset(tmp_path, n=40):
    """A stand-in subset of n masked fakes, n mask-less fakes and n originals, fake i made from original i."""
    imd = tmp_path / "shared" / "data" / "forgeries" / "imd2020_subset"
    imd.mkdir(parents=True)
    masked = [f"fake/m{i:02d}.jpg" for i in range(n)]
    nomask = [f"fake_unlabelled_mask/u{i:02d}.jpg" for i in range(n)]
    reals = [f"real/r{i:02d}.jpg" for i in range(n)]
    (imd / "fake_list.txt").write_text("".join(f"{m},masks/m{i:02d}_mask.png\n" for i, m in enumerate(masked)))
    (imd / "fake_without_mask_list.txt").write_text("".join(f"{u}\n" for u in nomask))
    (imd / "real_list.txt").write_text("".join(f"{r}\n" for r in reals))
    return masked, nomask, reals


def test_fold_lists(folds_mod, tmp_path, monkeypatch, capsys):
    """Each fold's training lists hold the training side and the other folds' judging images; its judging lists hold
    its own; a pair is never split; the re-saved judge's lines follow their source images."""
    masked, nomask, reals = _subset(tmp_path)
    monkeypatch.setenv("TRUFOR_SHARED", str(tmp_path / "shared"))
    out = tmp_path / "lists"
    assert folds_mod.main(["x", str(out)]) == 2  # no pairs file yet: named
    assert "imd2020_pairs.csv: not found" in capsys.readouterr().err
    out.mkdir()
    with open(out / "imd2020_pairs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["fake", "original"])
        w.writeheader()
        w.writerows({"fake": m, "original": r} for m, r in zip(masked, reals))
    (out / "imd2020_derived_list.txt").write_text("".join(f"{u},/masks/{u[-7:]}\n" for u in nomask[:10]))
    web = tmp_path / "web"
    web.mkdir()
    stem = "web__forgeries__imd2020_subset/forgeries__imd2020_subset__"
    (web / "fake_list.txt").write_text("".join(f"{stem}fake__m{i:02d}.jpg,{stem}fake__m{i:02d}.mask.png\n"
                                               for i in range(len(masked))))
    (web / "real_list.txt").write_text("".join(f"{stem}real__r{i:02d}.jpg\n" for i in range(len(reals))))
    assert folds_mod.main(["x", str(out), "--folds", "2", "--seed", "5", "--web", str(web)]) == 0
    cv = out / "cv"
    with open(cv / "folds.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    part = {n: folds_mod.imd_part(n) for n in masked + nomask + reals}
    judging = {n for n, p in part.items() if p != "train"}
    assert {r["image"] for r in rows} == judging and judging and len(judging) < len(part)
    fold = {r["image"]: int(r["fold"]) for r in rows}
    for m, r in zip(masked, reals):  # a pair whose two members judge shares a fold
        if m in fold and r in fold:
            assert fold[m] == fold[r]

    def read(name):
        return (cv / name).read_text().splitlines()

    for k in (1, 2):
        trains = {n for n in part if part[n] == "train" or fold[n] != k}
        assert read(f"fold{k}_train_masked.txt") == [f"{m},masks/{m[5:8]}_mask.png" for m in masked if m in trains]
        assert read(f"fold{k}_train_nomask.txt") == [u for u in nomask if u in trains]
        assert read(f"fold{k}_train_real.txt") == [r for r in reals if r in trains]
        assert read(f"fold{k}_train_derived.txt") == [f"{u},/masks/{u[-7:]}" for u in nomask[:10] if u in trains]
        mine = sorted(n for n in judging if fold[n] == k)
        pre = "forgeries/imd2020_subset/"
        assert read(f"fold{k}_judge_real.txt") == [pre + n for n in mine if n.startswith("real/")]
        assert read(f"fold{k}_judge_fake.txt") == [
            f"{pre}{n},{pre}masks/{n[5:8]}_mask.png" if n.startswith("fake/") else f"{pre}{n},None"
            for n in mine if not n.startswith("real/")]
        assert read(f"fold{k}_judge_web_fake.txt") == [f"{stem}fake__{n[5:8]}.jpg,{stem}fake__{n[5:8]}.mask.png"
                                                       for n in mine if n.startswith("fake/")]
        assert read(f"fold{k}_judge_web_real.txt") == [f"{stem}real__{n[5:8]}.jpg" for n in mine
                                                       if n.startswith("real/")]
    assert sorted(p.name for p in cv.iterdir() if not p.name.endswith((".txt", ".csv"))) == []  # no partial files


def _report(path, rows):
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "per_image.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["name", "label", "status", "score", "npz"])
        w.writeheader()
        w.writerows(rows)


def _row(name, label, score):
    return {"name": name, "label": label, "status": "ok", "score": score, "npz": f"maps/{name}.npz"}


def test_cv_reports(reports_mod, tmp_path, capsys):
    """Per set: the fold rows of the images the reference's report holds, and the reference's rows of the same images
    in the same order; images no fold scored are left out of both; overlapping folds are refused."""
    r = tmp_path / "reports"
    _report(r / "heldout_ref", [_row("f1", "fake", 0.9), _row("o1", "real", 0.1), _row("cam", "real", 0.2),
                                _row("f2", "fake", 0.8)])
    _report(r / "calibpart_ref", [_row("f3", "fake", 0.7), _row("o3", "real", 0.3)])
    _report(r / "foldA", [_row("f2", "fake", 0.6), _row("o1", "real", 0.4), _row("extra", "real", 0.5)])
    _report(r / "foldB", [_row("f1", "fake", 0.55), _row("f3", "fake", 0.45), _row("o3", "real", 0.35)])
    assert reports_mod.main(["x", "cv", "--base", "ref", "--sets", "heldout", "calibpart",
                             "--folds", "foldA", "foldB", "--reports", str(r)]) == 0
    printed = capsys.readouterr()
    assert "heldout: 3 images" in printed.out and "1 fold rows are in none of the sets (e.g. extra" in printed.err

    def rows(folder):
        with open(r / folder / "per_image.csv", newline="") as f:
            return [(x["name"], float(x["score"]), x["npz"]) for x in csv.DictReader(f)]

    assert rows("heldout_cv") == [("f1", 0.55, "maps/f1.npz"), ("o1", 0.4, "maps/o1.npz"), ("f2", 0.6, "maps/f2.npz")]
    assert [n for n, *_ in rows("heldout_ref_cv")] == ["f1", "o1", "f2"]  # the camera photo no fold scored: out
    assert rows("calibpart_ref_cv") == [("f3", 0.7, "maps/f3.npz"), ("o3", 0.3, "maps/o3.npz")]
    assert [s for _, s, _ in rows("calibpart_cv")] == [0.45, 0.35]
    _report(r / "foldC", [_row("f1", "fake", 0.5)])
    with pytest.raises(SystemExit, match="f1: scored by both foldB and foldC"):
        reports_mod.main(["x", "cv", "--base", "ref", "--sets", "heldout", "--folds", "foldB", "foldC",
                          "--reports", str(r)])
    with pytest.raises(SystemExit, match="no such report"):
        reports_mod.main(["x", "cv", "--base", "ref", "--sets", "judge_web", "--folds", "foldA", "--reports", str(r)])
    with pytest.raises(SystemExit, match="none of its images"):
        _report(r / "foldD", [_row("zzz", "fake", 0.5)])
        reports_mod.main(["x", "cv", "--base", "ref", "--sets", "heldout", "--folds", "foldD", "--reports", str(r)])
