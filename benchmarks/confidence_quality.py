#!/usr/bin/env python
"""Does the confidence map mark where the localization map is wrong? Figures of the cached maps of evaluation reports.

    python benchmarks/confidence_quality.py NAME [NAME ...] [--sets heldout calibpart synthetic_holdout]
                                            [--resamples 4000] [--seed 0] [--reports out/reports]

TruFor's confidence map is trained to predict, pixel by pixel, the probability the localization gives to the true
class (its "TCP"): low where the map is wrong, high where it can be trusted. For each model NAME the cached maps of
the reports ``SET_NAME`` (``trufor eval`` writes them: one ``.npz`` per image with ``map`` and ``conf``) are read; the
truth of a pixel is the evaluation protocol's (a manipulated image's mask, forged = 15x15 erosion, pristine = outside
the 11x11 dilation, the band between ignored; every pixel of an authentic image pristine; manipulated images without a
mask are left out). A pixel is *wrong* when the map at 0.5 gives it the other class. Per set and model:

* ``error AUC``: per image, the AUC of ``1 - conf`` separating the wrong pixels from the right ones (0.5: the confidence
  says nothing about the errors; 1: every wrong pixel is less trusted than every right one), averaged over the images
  that have both; and the same with the pixels of all images pooled (``pooled error AUC``);
* ``flagged pixels: error AUC``: the same AUC among the pixels the map flags (at or above 0.5) only, pooled: does the
  confidence tell its false alarms from its true detections? (A confidence that is merely low wherever the map is high
  scores well on the error AUC, since most wrong pixels are false alarms, and at or below 0.5 here);
* ``MSE to TCP`` (what phase 3 minimises, here on whole images) and ``MSE of the best constant`` (the variance of the
  TCP: a map that learned nothing spatial scores this);
* ``conf std``: the mean over images of the standard deviation of the confidence (a flat map has ~0).

With two or more models, each model after the first is compared with the first by a paired bootstrap over the images
(``--resamples``, stratified as the images' sets, seed ``--seed``) of the mean error AUC: the 95 % interval of the
difference and the share of resamples where the later model is ahead. Pixels are subsampled (at most 20,000 per
image, a fixed draw per image) so that a few hundred photos take a minute or two.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trufor.masks import read_mask, resize_nearest
from trufor.metrics import protocol_regions

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired_bootstrap import auc, report_rows  # noqa: E402

MAX_PIXELS = 20_000


@dataclass
class ImageFigures:
    """What one image contributes: its error AUC (NaN without both kinds of pixel) and subsampled pixels."""

    error_auc: float
    conf_std: float
    conf: np.ndarray = field(repr=False)  # subsampled valid pixels
    wrong: np.ndarray = field(repr=False)
    tcp: np.ndarray = field(repr=False)
    flagged: np.ndarray = field(repr=False)  # the map at or above 0.5


def image_figures(map_: np.ndarray, conf: np.ndarray, gt: np.ndarray | None, key: str) -> ImageFigures:
    """The figures of one image; ``gt`` None for an authentic image (every pixel pristine)."""
    if gt is None:
        pristine, forged = np.ones(map_.shape, bool), np.zeros(map_.shape, bool)
    else:
        pristine, forged = protocol_regions(gt)
    valid = pristine | forged
    m, c, f = map_[valid].astype(np.float64), conf[valid].astype(np.float64), forged[valid]
    if m.size > MAX_PIXELS:  # a fixed draw per image, so that every model is read on the same pixels
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        pick = np.sort(rng.choice(m.size, MAX_PIXELS, replace=False))
        m, c, f = m[pick], c[pick], f[pick]
    flagged = m >= 0.5
    wrong = flagged != f
    tcp = np.where(f, m, 1.0 - m)
    error_auc = auc(1.0 - c[wrong], 1.0 - c[~wrong]) if wrong.any() and (~wrong).any() else float("nan")
    return ImageFigures(error_auc, float(conf.std()), c, wrong, tcp, flagged)


def _mask(row: dict, shape: tuple[int, int]) -> np.ndarray | None:
    if not row.get("mask"):
        return None
    gt = read_mask(row["mask"])
    if gt.shape != shape:
        gt = resize_nearest(gt, shape)
    return gt


def read_model(reports: Path, name: str, sets: list[str]) -> dict[str, tuple[str, ImageFigures]]:
    """``set/image`` -> (set, figures) of every image of the model's reports with a cached map that can be judged."""
    out = {}
    for s in sets:
        folder = reports / f"{s}_{name}"
        for r in report_rows(reports, s, name):
            fake = r["label"] in ("1", "fake")
            if fake and not r.get("mask"):
                continue  # no mask: no pixel truth
            npz = Path(r["npz"]) if r.get("npz") else folder / "npz" / f"{r['name']}.npz"
            if not npz.is_file():
                raise SystemExit(f"{folder}: no cached map for {r['name']} (a report of "
                                 "benchmarks/head_variants.py has none: evaluate with scripts/evaluate_bundled.sh)")
            with np.load(npz) as z:
                if "conf" not in z.files:
                    raise SystemExit(f"{npz}: no confidence map")
                m, c = z["map"], z["conf"]
            key = f"{s}/{r['name']}"
            out[key] = (s, image_figures(m, c, _mask(r, m.shape) if fake else None, key))
    return out


def set_figures(images: list[ImageFigures]) -> dict[str, float]:
    """The figures of a set of images (see the module's docstring)."""
    aucs = np.array([i.error_auc for i in images])
    conf = np.concatenate([i.conf for i in images])
    wrong = np.concatenate([i.wrong for i in images])
    tcp = np.concatenate([i.tcp for i in images])
    flagged = np.concatenate([i.flagged for i in images])
    fa, td = flagged & wrong, flagged & ~wrong  # false alarms and true detections
    return {
        "images": float(len(images)),
        "images with wrong and right pixels": float(np.isfinite(aucs).sum()),
        "error AUC (mean over images)": float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan"),
        "pooled error AUC": auc(1.0 - conf[wrong], 1.0 - conf[~wrong]),
        "flagged pixels: error AUC": auc(1.0 - conf[fa], 1.0 - conf[td]),
        "flagged pixels: share of false alarms": float(fa.sum() / flagged.sum()) if flagged.any() else float("nan"),
        "share of wrong pixels": float(wrong.mean()),
        "MSE to TCP": float(((conf - tcp) ** 2).mean()),
        "MSE of the best constant": float(tcp.var()),
        "conf std (mean over images)": float(np.mean([i.conf_std for i in images])),
    }


def paired_error_auc(a: dict, b: dict, resamples: int, seed: int) -> tuple[float, float, float, float, float, int]:
    """(A, B, B - A, 2.5 %, 97.5 %, n) of the mean error AUC over the images where both have one, and the share
    of resamples with B ahead, as the last but one element; resampled within each set."""
    keys = sorted(k for k in set(a) & set(b) if np.isfinite(a[k][1].error_auc) and np.isfinite(b[k][1].error_auc))
    if not keys:
        return (float("nan"),) * 5 + (0,)
    va = np.array([a[k][1].error_auc for k in keys])
    vb = np.array([b[k][1].error_auc for k in keys])
    sets = np.array([a[k][0] for k in keys])
    strata = [np.flatnonzero(sets == s) for s in sorted(set(sets))]
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    for i in range(resamples):
        idx = np.concatenate([rng.choice(s, size=s.size, replace=True) for s in strata])
        diffs[i] = vb[idx].mean() - va[idx].mean()
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(va.mean()), float(vb.mean()), float(lo), float(hi), float((diffs > 0).mean()), len(keys)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="+", help="models (names given to scripts/evaluate_bundled.sh); the first is the reference")
    p.add_argument("--sets", nargs="+", default=["heldout", "calibpart", "synthetic_holdout"])
    p.add_argument("--resamples", type=int, default=4000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reports", type=Path, default=Path("out/reports"))
    args = p.parse_args(argv[1:])
    models = {n: read_model(args.reports, n, args.sets) for n in args.names}
    print(f"| set: figure | {' | '.join(args.names)} |")
    print("| --- |" + " --- |" * len(args.names))
    for s in args.sets:
        per_model = [set_figures([f for (ss, f) in models[n].values() if ss == s]) for n in args.names]
        for k in per_model[0]:
            cells = [f"{int(fig[k])}" if k.startswith("images") else f"{fig[k]:.3f}" for fig in per_model]
            print(f"| {s}: {k} | {' | '.join(cells)} |")
    ref = args.names[0]
    if len(args.names) > 1:
        print()
        print(f"| mean error AUC, {' + '.join(args.sets)} | {ref} | other | other - {ref} | 95 % interval "
              f"| share of resamples other > {ref} | images |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for n in args.names[1:]:
            va, vb, lo, hi, share, count = paired_error_auc(models[ref], models[n], args.resamples, args.seed)
            print(f"| {n} | {va:.3f} | {vb:.3f} | {vb - va:+.3f} | [{lo:+.3f}, {hi:+.3f}] | {share:.2f} | {count} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
