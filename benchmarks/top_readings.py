#!/usr/bin/env python
"""Other readings of the map's top, scored from the maps an evaluation cached: no network runs.

    python benchmarks/top_readings.py BASE_NAME NAME --window W [--weights FILE] [--fraction F]
        [--sets heldout calibpart judge_web] [--reports out/reports]

A map's-top detector (``TopFractionHead``, variant ``trufor_lite0_top``) scores ``sigmoid(a * t + b)``, ``t`` the mean
forged-minus-pristine logit ``z1 - z0`` over the map's top ``fraction`` of pixels. ``trufor eval`` caches every image's
map, ``sigmoid(z1 - z0)`` in float32, so ``t`` can be read again from the cache in other ways. Here ``z1 - z0`` is
first averaged over a ``W x W`` square around each pixel (stride 1, the square cut at the image's border and averaged
over the pixels it keeps), then its top ``fraction`` is averaged: with ``W = 1`` it is the detector's own ``t``; with a
larger window one strong pixel counts for less than a region that fires as a whole. For each set S the report
``REPORTS/S_BASE_NAME`` lists the images and their cached maps; a report ``REPORTS/S_NAME`` is written with the score
replaced (``sigmoid(t)``, or ``sigmoid(a * t + b)`` with the two numbers of ``--weights``' map's-top head, whose
fraction is then the default) and the cached maps kept (the maps are the base's), so ``benchmarks/compare_models.py``
and ``benchmarks/paired_bootstrap.py`` read it like any report. A detection AUC does not depend on ``a > 0`` and
``b``; a rate at 0.5 does.

Check: with ``--window 1`` and the base file's ``--weights``, the scores are the base report's up to the float32 cache
(the largest difference is printed).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from head_variants import write_variant  # noqa: E402
from paired_bootstrap import _cached_maps  # noqa: E402

from trufor.modeling.detection import top_fraction_mean  # noqa: E402

csv.field_size_limit(sys.maxsize)


def window_mean(x: torch.Tensor, window: int) -> torch.Tensor:
    """(H, W) mean of ``x`` (H, W) over the ``window x window`` square around each pixel (odd ``window``), the square
    cut at the border: two one-dimensional passes, each averaging only the pixels it keeps (exact: the count of a cut
    square is the product of its row and column counts)."""
    if window == 1:
        return x
    pad = window // 2
    y = F.avg_pool2d(x[None, None], (window, 1), stride=1, padding=(pad, 0), count_include_pad=False)
    return F.avg_pool2d(y, (1, window), stride=1, padding=(0, pad), count_include_pad=False)[0, 0]


def reading(prob: np.ndarray, window: int, fraction: float) -> float:
    """``t`` of a cached map ``prob`` (``sigmoid(z1 - z0)``): its logit averaged over the window, then its top."""
    p = np.clip(prob.astype(np.float64), 1e-300, None)
    logit = np.log(p) - np.log1p(-np.minimum(p, 1.0 - 2.0 ** -53))
    z = window_mean(torch.from_numpy(logit), window)
    return float(top_fraction_mean(z[None], fraction)[0])


def head_of(weights: str | None) -> tuple[float, float, float | None]:
    """``(a, b, fraction)`` of a file's map's-top head (``detection.out`` and the config's fraction), or
    ``(1, 0, None)``; exits when the file's detector is not a plain map's top."""
    if weights is None:
        return 1.0, 0.0, None
    from trufor.weights import config_of, read_weights

    loaded = read_weights(weights)
    config = config_of(loaded)
    if config.detection_pool != "top_fraction" or config.detection_top_reference != "none":
        raise SystemExit(f"{weights}: its detector is not the map's top measured from zero ({config.detection_pool}, "
                         f"reference {config.detection_top_reference})")
    sd = loaded.state_dict
    return (float(sd["detection.out.weight"].float().item()), float(sd["detection.out.bias"].float().item()),
            config.detection_top_fraction)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base_name", help="the NAME of the base's reports (REPORTS/SET_NAME), with cached maps")
    ap.add_argument("name", help="the NAME of the reports written")
    ap.add_argument("--window", type=int, required=True, help="side of the averaging square in pixels (odd; 1: none)")
    ap.add_argument("--fraction", type=float, help="the top fraction averaged (default: the --weights file's, "
                                                   "else 0.005)")
    ap.add_argument("--weights", help="a map's-top file whose head's two numbers turn t into the score "
                                      "(default: sigmoid(t))")
    ap.add_argument("--sets", nargs="+", default=["heldout", "calibpart", "judge_web"])
    ap.add_argument("--reports", type=Path, default=Path("out/reports"))
    args = ap.parse_args(argv)
    if args.window < 1 or args.window % 2 == 0:
        ap.error(f"--window must be an odd number >= 1, got {args.window}")
    a, b, fraction = head_of(args.weights)
    args.fraction = args.fraction if args.fraction is not None else fraction or 0.005
    if not 0 < args.fraction <= 1:
        ap.error(f"--fraction must be in (0, 1], got {args.fraction}")
    torch.set_num_threads(1)
    for s in args.sets:
        base_dir = args.reports / f"{s}_{args.base_name}"
        if not (base_dir / "per_image.csv").is_file():
            ap.error(f"{base_dir}: no report (scripts/evaluate_bundled.sh writes them)")
        with open(base_dir / "per_image.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        scores, worst = [], 0.0
        for r in rows:
            if r["status"] == "skipped" or r["score"] in ("", "nan"):
                scores.append(float("nan"))
                continue
            m, _ = _cached_maps(r, base_dir, "the readings are taken from the cached maps")
            # a map that underflowed to 0 reads as a logit near -690: torch's sigmoid stays finite where exp overflows
            score = float(torch.sigmoid(torch.tensor(a * reading(m, args.window, args.fraction) + b,
                                                     dtype=torch.float64)))
            scores.append(score)
            worst = max(worst, abs(score - float(r["score"])))
        note = (f"scored by benchmarks/top_readings.py from the cached maps of {args.base_name}'s report: the top "
                f"{args.fraction} of z1 - z0 averaged over {args.window} x {args.window} squares, "
                + (f"head numbers of {args.weights}" if args.weights else "sigmoid(t)"))
        det = write_variant(base_dir, args.reports / f"{s}_{args.name}", rows, scores,
                            f"{args.name} (window {args.window} over {args.base_name}'s maps)", args.base_name,
                            note=note, keep_maps=True)
        print(f"{s}_{args.name}: detection AUC {det['auc']:.3f}; largest difference from the base's score "
              f"{worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
