#!/usr/bin/env python
"""Cross-validation folds over the IMD2020 subset's judging images, for a model line that also trains on them.

The bundled model's IMD2020 images fall in three parts by file name (``scripts/make_heldout_lists.py``): the training
side, and the held-out (val) and calibration parts that judge every candidate (41 fakes, 36 originals). A training
recipe can be judged on all 77 and still learn from most of them: split them into K folds, train model k on the
training side plus every judging image outside fold k, and score fold k's images with model k (out-of-fold). A fake and
the original it was made from (``OUT/imd2020_pairs.csv`` of ``scripts/imd2020_pairs.py``) are always in the same fold,
so no model trains on the partner of an image it judges beyond what the training side already holds; the folds are
balanced in masked fakes, mask-less fakes and originals (groups of pairs placed largest first, each in the fold that
keeps the counts most even, ties by a seeded draw).

Writes to ``OUT/cv`` (lists in the formats the training configs and ``trufor eval`` read):

* ``fold<k>_train_masked.txt`` (``fake/x.jpg,masks/x_mask.png``), ``fold<k>_train_nomask.txt``
  (``fake_unlabelled_mask/x.jpg``), ``fold<k>_train_real.txt`` (``real/x.jpg``): relative to the subset (a list
  source's ``root:``), the training side plus the judging images outside fold k; ``fold<k>_train_derived.txt``: the
  lines of ``OUT/imd2020_derived_list.txt`` (mask-less fakes with a derived mask) whose fake model k trains on;
* ``fold<k>_judge_fake.txt`` / ``fold<k>_judge_real.txt``: fold k's images relative to the data root, as
  ``OUT/imd2020_val_fake.txt`` (``trufor eval list:... --root DATA``);
* ``fold<k>_judge_web_fake.txt`` / ``fold<k>_judge_web_real.txt``: the lines of the re-saved judge
  (``out/testsets/web_jpeg_judge``, ``scripts/make_web_jpeg_set.py``) that are copies of fold k's images, when that
  set exists;
* ``folds.csv``: every judging image, its part, its group and its fold.

Usage: python scripts/imd2020_cv_folds.py [OUT_DIR] [--folds K] [--seed S] [--web DIR]
(default out/lists, K 2, seed 36, DIR out/testsets/web_jpeg_judge; data from $TRUFOR_SHARED or ../shared).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_heldout_lists import imd_part, read_list  # noqa: E402

from trufor.outputs import atomic_write  # noqa: E402
from trufor.training.config import find_repo_root, shared_root  # noqa: E402

PREFIX = "forgeries/imd2020_subset/"
KINDS = ("masked", "nomask", "real")


def _write(path: Path, lines: list[str]) -> None:
    with atomic_write(path, "w") as f:
        f.write("".join(f"{line}\n" for line in lines))


def groups_of(judging: dict[str, str], pairs: list[dict]) -> list[list[str]]:
    """The judging images (subset-relative name -> kind) joined by the pairs whose two members both judge: connected
    components, each sorted, in the order of their first member."""
    parent = {name: name for name in judging}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        if p["fake"] in judging and p["original"] in judging:
            parent[find(p["fake"])] = find(p["original"])
    comps: dict[str, list[str]] = {}
    for name in sorted(judging):
        comps.setdefault(find(name), []).append(name)
    return sorted(comps.values(), key=lambda c: c[0])


def assign_folds(groups: list[list[str]], kinds: dict[str, str], k: int, seed: int) -> dict[str, int]:
    """Image -> fold (1..k): groups largest first (a seeded order among equals), each into the fold whose counts of
    masked fakes, mask-less fakes and originals stay most even (sum of squared counts), ties by the lowest count of
    images then the lowest fold number."""
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(groups))
    ranked = sorted(order, key=lambda i: -len(groups[i]))  # stable: the draw orders groups of one size
    counts = np.zeros((k, len(KINDS)))
    fold_of: dict[str, int] = {}
    for i in ranked:
        g = groups[i]
        add = np.array([sum(kinds[n] == kind for n in g) for kind in KINDS], float)
        cost = [float(((counts + np.where(np.arange(k)[:, None] == f, add, 0)) ** 2).sum()) for f in range(k)]
        best = min(range(k), key=lambda f: (cost[f], counts[f].sum(), f))
        counts[best] += add
        for n in g:
            fold_of[n] = best + 1
    return fold_of


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", type=Path, default=find_repo_root() / "out" / "lists")
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=36)
    ap.add_argument("--web", type=Path, default=find_repo_root() / "out" / "testsets" / "web_jpeg_judge")
    args = ap.parse_args(argv[1:])
    imd = shared_root(find_repo_root()) / "data" / "forgeries" / "imd2020_subset"
    pairs_file, derived_file = args.out / "imd2020_pairs.csv", args.out / "imd2020_derived_list.txt"
    for need in (imd / "fake_list.txt", pairs_file, derived_file):
        if not need.is_file():
            print(f"{need}: not found (the subset: set TRUFOR_SHARED; the pairs and derived list: run "
                  "scripts/imd2020_pairs.py first)", file=sys.stderr)
            return 2
    masks = dict(line.split(",", 1) for line in read_list(imd / "fake_list.txt"))
    kinds = {name: "masked" for name in masks}
    kinds |= {name: "nomask" for name in read_list(imd / "fake_without_mask_list.txt")}
    kinds |= {name: "real" for name in read_list(imd / "real_list.txt")}
    with open(pairs_file, newline="", encoding="utf-8") as f:
        pairs = list(csv.DictReader(f))
    part = {name: imd_part(name) for name in kinds}
    judging = {n: kinds[n] for n in kinds if part[n] != "train"}
    groups = groups_of(judging, pairs)
    fold_of = assign_folds(groups, judging, args.folds, args.seed)
    group_id = {n: i for i, g in enumerate(groups) for n in g}
    cv = args.out / "cv"
    cv.mkdir(parents=True, exist_ok=True)
    derived = read_list(derived_file)
    web_lists = {label: args.web / f"{label}_list.txt" for label in ("fake", "real")}
    for k in range(1, args.folds + 1):
        trains = sorted(n for n in kinds if part[n] == "train" or fold_of[n] != k)
        judged = sorted(n for n in judging if fold_of[n] == k)
        _write(cv / f"fold{k}_train_masked.txt", [f"{n},{masks[n]}" for n in trains if kinds[n] == "masked"])
        _write(cv / f"fold{k}_train_nomask.txt", [n for n in trains if kinds[n] == "nomask"])
        _write(cv / f"fold{k}_train_real.txt", [n for n in trains if kinds[n] == "real"])
        train_set = set(trains)
        _write(cv / f"fold{k}_train_derived.txt", [line for line in derived if line.split(",", 1)[0] in train_set])
        _write(cv / f"fold{k}_judge_fake.txt",
               [f"{PREFIX}{n},{PREFIX}{masks[n]}" if kinds[n] == "masked" else f"{PREFIX}{n},None"
                for n in judged if kinds[n] != "real"])
        _write(cv / f"fold{k}_judge_real.txt", [f"{PREFIX}{n}" for n in judged if kinds[n] == "real"])
        if all(p.is_file() for p in web_lists.values()):
            # a web copy's file name is its source's data-relative path with '/' written '__' (make_web_jpeg_set.py)
            mine = {(PREFIX + n).replace("/", "__").rsplit(".", 1)[0] for n in judged}
            for label, path in web_lists.items():
                lines = [line for line in read_list(path)
                         if line.split(",", 1)[0].rsplit("/", 1)[-1].rsplit(".", 1)[0] in mine]
                _write(cv / f"fold{k}_judge_web_{label}.txt", lines)
        n_kind = {kind: sum(judging[n] == kind for n in judged) for kind in KINDS}
        print(f"fold {k}: judges {len(judged)} ({n_kind['masked']} masked fakes, {n_kind['nomask']} mask-less, "
              f"{n_kind['real']} originals); trains on {len(trains)} "
              f"({sum(kinds[n] == 'masked' for n in trains)} masked fakes, "
              f"{sum(kinds[n] == 'nomask' for n in trains)} mask-less, {sum(kinds[n] == 'real' for n in trains)} "
              f"originals)")
    with atomic_write(cv / "folds.csv", "w") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["image", "kind", "part", "group", "fold"])
        for n in sorted(judging):
            w.writerow([n, judging[n], part[n], group_id[n], fold_of[n]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
