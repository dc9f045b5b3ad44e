#!/usr/bin/env python
"""Is model B better than model A on the same images, or is the difference the draw of the images? A paired bootstrap.

    python benchmarks/paired_bootstrap.py A B [--sets heldout calibpart] [--statistic "head score"]
                                              [--resamples 4000] [--seed 0] [--reports out/reports]

A and B are names given to `scripts/evaluate_bundled.sh` (or to the ``maps`` step of a training script): their
reports ``SET_A`` and ``SET_B`` (per_image.csv, written by `trufor eval`) must hold the same images. The images of the
sets are pooled; each resample draws, with replacement and within each stratum (the manipulated images; each group of
authentic images, as `benchmarks/heldout_table.py` names them), as many images as the stratum holds, and computes every
figure for both models on the *same* drawn images. Printed per figure: A, B, B - A on all images, the 2.5 and 97.5
percentiles of B - A over the resamples (a 95 % interval) and the share of resamples where B - A > 0.

Figures: the detection AUC of the manipulated images against each authentic group and against all of them (for the
score chosen by ``--statistic``: the report's own score, ``head score``, or a statistic of the cached localization
map, as in `benchmarks/map_scores.py`: ``max``, ``p99``, ``p95``, ``conf-max``), and the mean F1 at the best threshold of
the manipulated images with a mask. With 41 real fakes a point difference of a few hundredths is often inside the
interval: read the interval before the difference.

``--pairs out/lists/imd2020_pairs.csv`` (``scripts/imd2020_pairs.py``) uses the IMD2020 subset's fake/original pairs:
``--leak-free`` leaves out the held-out images whose partner (the fake made from them, or their original) is on the
training side, whose content the models trained on; ``--derived-masks`` scores the fakes that have no hand-made mask
but a mask derived from their original (covering at most half the image) against it, from the cached maps, so the
masked-F1 figure counts them too; and after the table, for the pairs whose two images are both
among the scored ones, the share where each model scores the fake above the very photo it was made from (content
held fixed: only the edit differs), with the pairs only one of the two models orders so and McNemar's exact test of
that split (with 14 pairs, 6 against 0 is p = 0.031; 4 against 0 is p = 0.125).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout_table import group_of  # noqa: E402
from map_scores import STATISTICS  # noqa: E402

ALL = "all authentic"


def report_rows(reports: Path, set_name: str, name: str) -> list[dict]:
    """The rows of ``REPORTS/SET_NAME/per_image.csv`` that were not skipped; exits naming the report if it is missing."""
    path = reports / f"{set_name}_{name}" / "per_image.csv"
    if not path.is_file():
        raise SystemExit(f"{path}: no such report (run `scripts/evaluate_bundled.sh WEIGHTS {name}` first)")
    with open(path, newline="", encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["status"] != "skipped"]


IMD = "imd2020_subset/"


def read_pairs(path: Path) -> list[dict]:
    """The rows of a pairs file of ``scripts/imd2020_pairs.py`` (fake, original, fake_part, original_part...)."""
    if not path.is_file():
        raise SystemExit(f"{path}: no such pairs file (run `python scripts/imd2020_pairs.py` first)")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def leaked(pairs: list[dict]) -> set[str]:
    """The held-out members (names relative to the IMD2020 subset) of the pairs that cross from the training side."""
    out = set()
    for p in pairs:
        if p["fake_part"] == "train" and p["original_part"] != "train":
            out.add(p["original"])
        elif p["original_part"] == "train" and p["fake_part"] != "train":
            out.add(p["fake"])
    return out


def derived_masks(pairs: list[dict], pairs_file: Path) -> dict[str, Path]:
    """IMD2020 fake (subset-relative name) -> its derived mask file, for the fakes without a hand-made mask whose
    derived mask covers at most ``REGION_MAX_FRACTION`` of the image (``trufor.evaluation.pairs``)."""
    from trufor.evaluation.pairs import REGION_MAX_FRACTION

    out = {}
    for p in pairs:
        if p.get("derived_mask") and not p.get("hand_fraction") and \
                float(p["derived_fraction"]) <= REGION_MAX_FRACTION:
            out[p["fake"]] = pairs_file.parent / p["derived_mask"]
    return out


def _cached_maps(row: dict, folder: Path, why: str) -> tuple[np.ndarray, np.ndarray]:
    """The localization map and confidence (ones when absent) cached for ``row`` by `trufor eval` (float64); exits
    saying ``why`` the maps are needed when there are none."""
    path = Path(row["npz"]) if row.get("npz") else None
    if path is None or not path.is_file():
        path = folder / "npz" / f"{row['name']}.npz"
    if not path.is_file():
        raise SystemExit(f"{folder}: no cached map for {row['name']} ({why})")
    with np.load(path) as z:
        m = z["map"].astype(np.float64)
        c = z["conf"].astype(np.float64) if "conf" in z.files else np.ones_like(m)
    return m, c


def _derived_f1(row: dict, folder: Path, mask_file: Path) -> float:
    from trufor.masks import read_mask
    from trufor.metrics import localization_metrics

    m, _ = _cached_maps(row, folder, "--derived-masks needs the maps")
    return localization_metrics(m, read_mask(mask_file)).f1_best


def _imd_name(image: str) -> str | None:
    return image.split(IMD, 1)[1] if IMD in image else None


def _scored_pairs(a: dict, pairs: list[dict]) -> list[tuple[str, str]]:
    """(fake key, original key) of the pairs whose two images are both among ``a``'s scored images."""
    by_imd: dict[str, str] = {}
    for key in a:
        imd = _imd_name(key.split("/", 1)[1])
        if imd is not None:
            by_imd[imd] = key
    return [(by_imd[p["fake"]], by_imd[p["original"]]) for p in pairs
            if p["fake"] in by_imd and p["original"] in by_imd]


def pair_shares(a: dict, b: dict, pairs: list[dict]) -> tuple[int, float, float]:
    """(number of pairs with both images scored, share where A scores the fake above its original, same for B)."""
    both = _scored_pairs(a, pairs)
    if not both:
        return 0, float("nan"), float("nan")
    shares = [float(np.mean([m[f][2] > m[o][2] for f, o in both])) for m in (a, b)]
    return len(both), shares[0], shares[1]


def pair_discordance(a: dict, b: dict, pairs: list[dict]) -> tuple[int, int, float]:
    """McNemar's exact test of the pairs: (pairs where only A puts the fake above its original, pairs where only B
    does, the two-sided p-value of that split under "either model is as likely to be the one right", a binomial with
    p = 1/2 over the discordant pairs; 1.0 when there are none). The pairs both models order alike say nothing on
    which is better."""
    from scipy.stats import binomtest

    both = _scored_pairs(a, pairs)
    only_a = sum(a[f][2] > a[o][2] and not b[f][2] > b[o][2] for f, o in both)
    only_b = sum(b[f][2] > b[o][2] and not a[f][2] > a[o][2] for f, o in both)
    n = only_a + only_b
    return only_a, only_b, (1.0 if n == 0 else float(binomtest(only_b, n, 0.5).pvalue))


def load(reports: Path, name: str, sets: list[str], statistic: str, exclude: set[str] = frozenset(),
         derived: dict[str, Path] | None = None) -> dict[str, tuple[str, int, float, float]]:
    """``set/image name`` -> (group, label, score, F1 best or NaN) of every scored image of the model's reports;
    IMD2020 images whose subset-relative name is in ``exclude`` are left out; fakes without a mask named in
    ``derived`` (:func:`derived_masks`) are scored against that mask."""
    if statistic != "head score" and statistic not in STATISTICS:
        raise SystemExit(f"unknown statistic {statistic!r}: choose 'head score' or one of {', '.join(STATISTICS)}")
    out = {}
    for s in sets:
        path = reports / f"{s}_{name}" / "per_image.csv"
        for r in report_rows(reports, s, name):
            if r["score"] in ("", "nan") or math.isnan(float(r["score"])) or _imd_name(r["name"]) in exclude:
                continue
            score = float(r["score"]) if statistic == "head score" else _map_statistic(r, path.parent, statistic)
            f1 = float(r["f1_best"]) if r["status"] == "ok" and r.get("f1_best") not in (None, "", "nan") \
                else float("nan")
            label = int(r["label"] in ("1", "fake"))
            imd = _imd_name(r["name"])
            if label and math.isnan(f1) and derived and imd in derived:
                f1 = _derived_f1(r, path.parent, derived[imd])
            out[f"{s}/{r['name']}"] = (group_of(r["name"]), label, score, f1 if label else float("nan"))
    return out


def _map_statistic(row: dict, folder: Path, statistic: str) -> float:
    m, c = _cached_maps(row, folder, f"statistic {statistic!r} needs the maps; a report of "
                                     "benchmarks/head_variants.py has none: use 'head score'")
    return STATISTICS[statistic](m, c)


def auc(fakes: np.ndarray, reals: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count one half) of ``fakes`` against ``reals``; NaN when either is empty."""
    if fakes.size == 0 or reals.size == 0:
        return float("nan")
    r = np.sort(reals)
    below = np.searchsorted(r, fakes, side="left")
    not_above = np.searchsorted(r, fakes, side="right")
    return float((below + not_above).sum() / (2.0 * fakes.size * r.size))


class Paired:
    """The images both models scored, as aligned arrays, and the figures of any resample of them."""

    def __init__(self, a: dict, b: dict):
        missing = sorted(set(a) ^ set(b))
        if missing:
            raise SystemExit(f"the two models' reports differ in {len(missing)} images (e.g. {missing[0]}): "
                             "evaluate both on the same lists")
        keys = sorted(a)
        self.group = np.array([a[k][0] for k in keys])
        self.label = np.array([a[k][1] for k in keys])
        self.score = np.array([[a[k][2] for k in keys], [b[k][2] for k in keys]])
        self.f1 = np.array([[a[k][3] for k in keys], [b[k][3] for k in keys]])
        fake = self.label == 1
        self.strata = [np.flatnonzero(fake)] + [np.flatnonzero(~fake & (self.group == g))
                                                 for g in sorted(set(self.group[~fake]))]
        self.authentic_groups = sorted(set(self.group[~fake]))
        self.n_masked = int((fake & ~np.isnan(self.f1[0])).sum())

    def figures(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """Figure -> [A, B] on the images ``idx`` (indices may repeat)."""
        label, group = self.label[idx], self.group[idx]
        out = {}
        fake = label == 1
        for g in [*self.authentic_groups, *([ALL] if len(self.authentic_groups) > 1 else [])]:
            real = ~fake if g == ALL else (~fake & (group == g))
            if real.any() and fake.any():
                out[f"AUC vs {g}"] = np.array([auc(s[idx][fake], s[idx][real]) for s in self.score])
        f1 = self.f1[:, idx]
        masked = fake & ~np.isnan(f1[0])
        if masked.any():
            out[f"mean F1 best of the {self.n_masked} masked fakes"] = f1[:, masked].mean(axis=1)
        return out

    def resample(self, rng: np.random.Generator) -> np.ndarray:
        return np.concatenate([rng.choice(s, size=s.size, replace=True) for s in self.strata if s.size])


def compare(paired: Paired, resamples: int, seed: int) -> list[tuple[str, float, float, float, float, float, float]]:
    """(figure, A, B, B - A, 2.5 %, 97.5 %, share of resamples with B > A) for every figure."""
    full = paired.figures(np.arange(paired.label.size))
    rng = np.random.default_rng(seed)
    diffs: dict[str, list[float]] = {k: [] for k in full}
    for _ in range(resamples):
        figs = paired.figures(paired.resample(rng))
        for k in full:
            if k in figs:
                diffs[k].append(float(figs[k][1] - figs[k][0]))
    rows = []
    for k, (va, vb) in full.items():
        d = np.array(diffs[k])
        lo, hi = np.percentile(d, [2.5, 97.5]) if d.size else (float("nan"),) * 2
        rows.append((k, float(va), float(vb), float(vb - va), float(lo), float(hi), float((d > 0).mean())))
    return rows


def table(rows: list, a: str, b: str, title: str) -> str:
    lines = [f"| {title} | {a} | {b} | {b} - {a} | 95 % interval | share of resamples {b} > {a} |",
             "| --- | --- | --- | --- | --- | --- |"]
    for k, va, vb, d, lo, hi, p in rows:
        # three decimals for the share: the rules judge it against 0.95 and 0.05, which two would hide (0.9496)
        lines.append(f"| {k} | {va:.3f} | {vb:.3f} | {d:+.3f} | [{lo:+.3f}, {hi:+.3f}] | {p:.3f} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", help="model A (the reference, e.g. run3_1)")
    p.add_argument("b", help="model B (the candidate)")
    p.add_argument("--sets", nargs="+", default=["heldout", "calibpart"], help="report prefixes to pool")
    p.add_argument("--statistic", default="head score",
                   help="the image's score: 'head score' (the report's) or a map statistic: " + ", ".join(STATISTICS))
    p.add_argument("--resamples", type=int, default=4000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reports", type=Path, default=Path("out/reports"))
    p.add_argument("--pairs", type=Path, help="the IMD2020 pairs file of scripts/imd2020_pairs.py")
    p.add_argument("--leak-free", action="store_true",
                   help="leave out held-out images whose partner is on the training side (needs --pairs)")
    p.add_argument("--derived-masks", action="store_true",
                   help="score mask-less fakes against the masks derived from their originals (needs --pairs)")
    args = p.parse_args(argv[1:])
    if (args.leak_free or args.derived_masks) and args.pairs is None:
        p.error("--leak-free and --derived-masks need --pairs")
    pairs = read_pairs(args.pairs) if args.pairs else []
    exclude = leaked(pairs) if args.leak_free else set()
    derived = derived_masks(pairs, args.pairs) if args.derived_masks else None
    a = load(args.reports, args.a, args.sets, args.statistic, exclude, derived)
    b = load(args.reports, args.b, args.sets, args.statistic, exclude, derived)
    paired = Paired(a, b)
    n_fake = int((paired.label == 1).sum())
    title = (f"{' + '.join(args.sets)}: {n_fake} fakes, {paired.label.size - n_fake} authentic"
             f"{' (leak-free)' if args.leak_free else ''}; {args.statistic}")
    print(table(compare(paired, args.resamples, args.seed), args.a, args.b, title))
    if pairs:
        n, share_a, share_b = pair_shares(a, b, pairs)
        print(f"\n{n} fake/original pairs both scored: fake above its own original {share_a:.2f} ({args.a}), "
              f"{share_b:.2f} ({args.b})")
        if n:
            only_a, only_b, p_value = pair_discordance(a, b, pairs)
            print(f"pairs ordered right by one model only: {only_a} by {args.a}, {only_b} by {args.b} (exact "
                  f"McNemar test, two-sided p = {p_value:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
