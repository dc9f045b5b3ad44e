#!/usr/bin/env python
"""Do two models give the same score and the same localization F1 on every image? (A graft must not change them.)

    python benchmarks/same_outputs.py A B [--sets heldout calibpart synthetic_holdout] [--tolerance 1e-6]
                                          [--reports out/reports]

A and B are names given to `scripts/evaluate_bundled.sh`; their reports ``SET_A`` and ``SET_B`` (per_image.csv of
`trufor eval`) must hold the same images. Per set: the images compared, the largest absolute difference of the
score and of the F1 at the best threshold (manipulated images with a mask). Exits 1 when an image is missing from one
report or a difference exceeds ``--tolerance``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired_bootstrap import report_rows  # noqa: E402


def _value(text: str | None) -> float:
    return float("nan") if text in (None, "", "nan") else float(text)


def _diff(a: float, b: float) -> float:
    if math.isnan(a) and math.isnan(b):
        return 0.0
    return abs(a - b) if not (math.isnan(a) or math.isnan(b)) else math.inf


def compare(reports: Path, a: str, b: str, set_name: str) -> tuple[int, list[str], float, float]:
    """(images compared, images in one report only, max |score difference|, max |F1 best difference|)."""
    rows_a = {r["name"]: r for r in report_rows(reports, set_name, a)}
    rows_b = {r["name"]: r for r in report_rows(reports, set_name, b)}
    common = sorted(set(rows_a) & set(rows_b))
    unmatched = sorted(set(rows_a) ^ set(rows_b))
    d_score = max((_diff(_value(rows_a[n]["score"]), _value(rows_b[n]["score"])) for n in common), default=0.0)
    d_f1 = max((_diff(_value(rows_a[n].get("f1_best")), _value(rows_b[n].get("f1_best"))) for n in common),
               default=0.0)
    return len(common), unmatched, d_score, d_f1


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--sets", nargs="+", default=["heldout", "calibpart", "synthetic_holdout"])
    p.add_argument("--tolerance", type=float, default=1e-6)
    p.add_argument("--reports", type=Path, default=Path("out/reports"))
    args = p.parse_args(argv)
    same = True
    print(f"{'set':<22} {'images':>7} {'only in one':>12} {'max |d score|':>14} {'max |d F1 best|':>16}")
    for s in args.sets:
        n, unmatched, d_score, d_f1 = compare(args.reports, args.a, args.b, s)
        print(f"{s:<22} {n:>7} {len(unmatched):>12} {d_score:>14.3g} {d_f1:>16.3g}")
        same &= not unmatched and d_score <= args.tolerance and d_f1 <= args.tolerance
    print(f"{args.b} gives {'the same' if same else 'NOT the same'} scores and F1 as {args.a} "
          f"(tolerance {args.tolerance:g})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
