#!/usr/bin/env python
"""How well the localization map alone ranks real fakes against authentic photos: a probe of the network, not the head.

    python benchmarks/map_scores.py NAME [NAME ...] [--sets heldout calibpart] [--reports out/reports]

Phase 3 trains only the confidence decoder and the detection head on a frozen network, and one phase-3 draw ranks
real-life photos anywhere between AUC 0.75 and 0.93 (run 10 in docs/MODEL_CARD.md). Statistics of the localization
map do not depend on that draw: they are the same for every phase 3 on one network, so they compare networks (what
phase 2 changed) without the lottery. For each model NAME the cached maps of the reports ``SET_NAME`` (``trufor eval``
writes them, one ``.npz`` per image, with ``map`` and ``conf``) are pooled over the sets, and for each statistic the
detection AUC of the fakes against each authentic group and against all of them is printed (one Markdown table,
one column per model; first the mean F1 at the best threshold of the fakes with a mask, then the report's own
score, the head's).

Statistics of the map ``m`` (values in [0, 1]) and the confidence ``c``: ``max`` and the 99th / 95th percentiles of
``m``; ``conf-max``: the largest ``m * c`` (a hot pixel the network also trusts).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout_table import group_of  # noqa: E402

STATISTICS = {
    "max": lambda m, c: float(m.max()),
    "p99": lambda m, c: float(np.percentile(m, 99)),
    "p95": lambda m, c: float(np.percentile(m, 95)),
    "conf-max": lambda m, c: float((m * c).max()),
}


def image_statistics(rows: list[dict], folder: Path) -> list[tuple[str, int, dict[str, float]]]:
    """(group, label, {statistic: value}) of every scored image with cached maps; label 1 manipulated.
    ``folder`` is the report's: a cached map is found there when its recorded path (relative to where the
    evaluation ran) is not found from here."""
    out = []
    for r in rows:
        if r["status"] == "skipped" or r["score"] in ("", "nan") or not r.get("npz"):
            continue
        path = Path(r["npz"])
        if not path.is_file():
            path = folder / "npz" / f"{r['name']}.npz"
        with np.load(path) as z:
            m = z["map"].astype(np.float64)
            c = z["conf"].astype(np.float64) if "conf" in z.files else np.ones_like(m)
        stats = {"head score": float(r["score"])} | {k: f(m, c) for k, f in STATISTICS.items()}
        out.append((group_of(r["name"]), int(r["label"] in ("1", "fake")), stats))
    return out


def aucs(images: list[tuple[str, int, dict[str, float]]]) -> dict[str, float]:
    """'STATISTIC vs GROUP' -> AUC of the manipulated images against that authentic group (and 'all authentic')."""
    groups = sorted({g for g, lab, _ in images if lab == 0})
    out = {}
    for stat in images[0][2] if images else ():
        fakes = [s[stat] for _, lab, s in images if lab == 1]
        for g in [*groups, "all authentic"]:
            reals = [s[stat] for grp, lab, s in images if lab == 0 and (g == "all authentic" or grp == g)]
            if fakes and reals:
                out[f"{stat} vs {g}"] = float(roc_auc_score([1] * len(fakes) + [0] * len(reals), fakes + reals))
    return out


def localization_f1(rows: list[dict]) -> list[float]:
    """F1 at the best threshold of every manipulated image with a mask (status ok)."""
    return [float(r["f1_best"]) for r in rows if r["status"] == "ok" and r["label"] in ("1", "fake")
            and r.get("f1_best") not in (None, "", "nan")]


def model_figures(reports: Path, name: str, sets: list[str]) -> tuple[dict[str, float], int]:
    images, f1 = [], []
    for s in sets:
        path = reports / f"{s}_{name}" / "per_image.csv"
        if not path.is_file():
            raise SystemExit(f"{path}: no such report (run `scripts/evaluate_bundled.sh WEIGHTS {name}` first)")
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        found = image_statistics(rows, path.parent)
        f1 += localization_f1(rows)
        if not found:  # e.g. the reports of benchmarks/head_variants.py: the maps are their base model's
            raise SystemExit(f"{path.parent}: no cached maps (a report of benchmarks/head_variants.py? its maps are "
                             "those of the base model: give the base model's name)")
        images += found
    figs = {f"localization: mean F1 best of the {len(f1)} masked fakes": float(np.mean(f1)) if f1 else float("nan")}
    return figs | aucs(images), sum(lab for _, lab, _ in images)


def table(reports: Path, names: list[str], sets: list[str]) -> str:
    cols = {n: model_figures(reports, n, sets) for n in names}
    keys = list(dict.fromkeys(k for figs, _ in cols.values() for k in figs))
    head = [f"{n} ({cols[n][1]} fakes)" for n in names]
    lines = [f"| figure ({' + '.join(sets)}) | " + " | ".join(head) + " |", "| --- |" + " --- |" * len(names)]
    for key in keys:
        values = [cols[n][0].get(key, float("nan")) for n in names]
        finite = [v for v in values if v == v]
        best = max(finite) if finite and len(names) > 1 else None
        lines.append(f"| {key} | " + " | ".join(
            ("**%.3f**" % v if v == best else "%.3f" % v) if v == v else "-" for v in values) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="+", help="model names as given to scripts/evaluate_bundled.sh")
    p.add_argument("--sets", nargs="+", default=["heldout", "calibpart"], help="report prefixes to pool")
    p.add_argument("--reports", type=Path, default=Path("out/reports"))
    args = p.parse_args(argv[1:])
    print(table(args.reports, args.names, args.sets))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
