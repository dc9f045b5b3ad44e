#!/usr/bin/env python
"""The held-out comparison table of docs/MODEL_CARD.md for several evaluated models, side by side.

    python benchmarks/compare_models.py NAME [NAME ...] [--reports out/reports]

NAME is what `scripts/evaluate_bundled.sh WEIGHTS NAME` was given: the figures come from its two reports,
``synthetic_holdout_NAME`` (a: synthetic forgeries of held-out photos) and ``heldout_NAME`` (b, c: the IMD2020
val part against the held-out authentic photos; metrics.json and per_image.csv), and ``synthetic_web_holdout_NAME``
(a2: the same held-out photos edited at web scale), ``calibpart_NAME`` (d: the calibration part's real fakes
against its authentic photos; with (c) pooled, the larger real-life set) and ``judge_web_NAME`` (e: those 41 real fakes
and the 36 real-life originals of (c) and (d) re-saved alike, as web copies) where they exist. With the pairs file of
``scripts/imd2020_pairs.py`` (``--pairs``, default ``out/lists/imd2020_pairs.csv``, where it exists) it adds (c+d)
leak-free: the same pooled AUCs without the images whose fake/original partner is on the training side (as
``benchmarks/paired_bootstrap.py --leak-free``). Prints one Markdown table, one column per model, the best value of each
row in bold (lowest for false-positive rates).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout_table import group_scores  # noqa: E402
from paired_bootstrap import IMD, leaked, read_pairs  # noqa: E402

csv.field_size_limit(sys.maxsize)  # a report's warnings column can be long


def _auc(fakes: list[float], reals: list[float]) -> float:
    if not fakes or not reals:
        return float("nan")
    return float(roc_auc_score([1] * len(fakes) + [0] * len(reals), fakes + reals))


def figures(reports: Path, name: str, pairs: Path | None = None) -> dict[str, float]:
    """Every figure of the table for one model; the held-out report (b, c) is required, the other sets show "-" where a
    model was not measured on them (e.g. a network measured alone on the real-life sets only)."""
    held_dir = reports / f"heldout_{name}"
    if not (held_dir / "metrics.json").is_file():
        raise SystemExit(f"{held_dir}: no held-out report for {name} (scripts/evaluate_bundled.sh WEIGHTS {name})")
    syn_path = reports / f"synthetic_holdout_{name}" / "metrics.json"
    nan = {"f1_best": float("nan"), "f1_th": float("nan"), "pixel_auc_pooled": float("nan"), "auc": float("nan"),
           "balanced_accuracy": float("nan")}
    syn = json.loads(syn_path.read_text()) if syn_path.is_file() else {"localization": nan, "detection": nan}
    held = json.loads((held_dir / "metrics.json").read_text())
    with open(reports / f"heldout_{name}" / "per_image.csv", newline="", encoding="utf-8") as f:
        groups = group_scores(list(csv.DictReader(f)))
    fakes = [s for (_, lab), vals in groups.items() if lab == 1 for s in vals]  # with or without a mask
    by = {g: vals for (g, lab), vals in groups.items() if lab == 0}  # authentic images by group
    reals = [s for v in by.values() for s in v]
    fpr = {g: sum(s >= 0.5 for s in v) / len(v) for g, v in by.items()}
    tpr = sum(s >= 0.5 for s in fakes) / len(fakes) if fakes else float("nan")
    all_fpr = sum(s >= 0.5 for s in reals) / len(reals) if reals else float("nan")
    return {
        "(a) F1 best": syn["localization"]["f1_best"],
        "(a) F1 at 0.5": syn["localization"]["f1_th"],
        "(a) pixel AUC (pooled)": syn["localization"]["pixel_auc_pooled"],
        "(a) detection AUC": syn["detection"]["auc"],
        "(a) balanced accuracy at 0.5": syn["detection"]["balanced_accuracy"],
        "(b) IMD2020 masked F1 best": held["localization"]["f1_best"],
        "(b) IMD2020 masked F1 at 0.5": held["localization"]["f1_th"],
        "(b) AUC, IMD2020 fakes vs IMD2020 originals": _auc(fakes, by.get("imd2020_subset/real", [])),
        "(c) AUC, IMD2020 fakes vs all authentic": _auc(fakes, reals),
        "(c) AUC vs camera originals": _auc(fakes, by.get("pristine/camera", [])),
        "(c) AUC vs bsds500 test half": _auc(fakes, by.get("pristine/bsds500", [])),
        "(c) AUC vs digicam test half": _auc(fakes, by.get("pristine/digicam", [])),
        "(c) TPR at 0.5 (IMD2020 fakes)": tpr,
        "(c) balanced accuracy at 0.5": (tpr + 1 - all_fpr) / 2,
        "FPR at 0.5, IMD2020 originals": fpr.get("imd2020_subset/real", float("nan")),
        "FPR at 0.5, camera originals": fpr.get("pristine/camera", float("nan")),
        "FPR at 0.5, bsds500 test half": fpr.get("pristine/bsds500", float("nan")),
        "FPR at 0.5, digicam test half": fpr.get("pristine/digicam", float("nan")),
        **web_figures(reports, name),
        **calibration_part_figures(reports, name, fakes, by),
        **judge_web_figures(reports, name),
        **leak_free_figures(reports, name, pairs),
    }


def calibration_part_figures(reports: Path, name: str, held_fakes: list[float],
                             held_by: dict[str, list[float]]) -> dict[str, float]:
    """(d): the calibration part (run 10 on; ``calibpart_NAME``: the 20 IMD2020 calibration fakes against its 197
    authentic photos, training-side images no phase trained on), and (c+d): the held-out and calibration parts
    pooled (41 real fakes), the larger real-life set; "-" where the model has no calibration-part report."""
    groups = {"IMD2020 originals": "imd2020_subset/real", "bsds500": "pristine/bsds500", "digicam": "pristine/digicam"}
    path = reports / f"calibpart_{name}" / "per_image.csv"
    if not path.is_file():
        keys = [f"(d) calibration part: AUC vs {g}" for g in groups] + ["(d) mean of the three"] + \
               [f"(c+d) pooled: AUC vs {g}" for g in ("IMD2020 originals", "bsds500", "all authentic")]
        return dict.fromkeys(keys, float("nan"))
    with open(path, newline="", encoding="utf-8") as f:
        part = group_scores(list(csv.DictReader(f)))
    fakes = [s for (_, lab), vals in part.items() if lab == 1 for s in vals]
    by = {g: vals for (g, lab), vals in part.items() if lab == 0}
    out = {f"(d) calibration part: AUC vs {label}": _auc(fakes, by.get(g, [])) for label, g in groups.items()}
    out["(d) mean of the three"] = sum(out.values()) / 3
    pooled = held_fakes + fakes
    for label, g in (("IMD2020 originals", "imd2020_subset/real"), ("bsds500", "pristine/bsds500")):
        out[f"(c+d) pooled: AUC vs {label}"] = _auc(pooled, held_by.get(g, []) + by.get(g, []))
    out["(c+d) pooled: AUC vs all authentic"] = _auc(pooled, [s for v in (*held_by.values(), *by.values()) for s in v])
    return out


def web_figures(reports: Path, name: str) -> dict[str, float]:
    """(a2): the web-scale synthetic set (run 9 on), "-" for a model measured before it existed."""
    path = reports / f"synthetic_web_holdout_{name}" / "metrics.json"
    web = json.loads(path.read_text()) if path.is_file() else None
    keys = {"(a2) web-scale F1 best": ("localization", "f1_best"),
            "(a2) web-scale F1 at 0.5": ("localization", "f1_th"),
            "(a2) web-scale detection AUC": ("detection", "auc"),
            "(a2) web-scale balanced accuracy at 0.5": ("detection", "balanced_accuracy")}
    out = {k: (web[a][b] if web else float("nan")) for k, (a, b) in keys.items()}
    shares = kind_shares(path.parent / "per_image.csv") if web else {}
    out["FPR at 0.5, (a2) web-scale authentic"] = shares.get("pristine", float("nan"))
    out["(a2) TPR at 0.5, web-scale splices"] = shares.get("splice", float("nan"))
    return out


def judge_web_figures(reports: Path, name: str) -> dict[str, float]:
    """(e): the real-life judge re-saved alike (run 30 on; ``judge_web_NAME``), "-" for a model measured before it."""
    keys = ["(e) re-saved alike: AUC, real fakes vs IMD2020 originals", "(e) re-saved alike: masked F1 best",
            "(e) re-saved alike: TPR at 0.5", "FPR at 0.5, (e) re-saved IMD2020 originals"]
    path = reports / f"judge_web_{name}" / "metrics.json"
    if not path.is_file():
        return dict.fromkeys(keys, float("nan"))
    metrics = json.loads(path.read_text())
    with open(path.parent / "per_image.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] != "skipped"]
    fakes = [float(r["score"]) for r in rows if r["label"] == "fake"]
    reals = [float(r["score"]) for r in rows if r["label"] == "real"]
    return dict(zip(keys, (_auc(fakes, reals), metrics["localization"]["f1_best"],
                           sum(s >= 0.5 for s in fakes) / len(fakes), sum(s >= 0.5 for s in reals) / len(reals))))


def leak_free_figures(reports: Path, name: str, pairs: Path | None) -> dict[str, float]:
    """(c+d) leak-free: the held-out and calibration parts pooled, without the IMD2020 images whose pair partner is on
    the training side; "-" without a pairs file or a calibration-part report."""
    keys = ["(c+d) leak-free: AUC vs IMD2020 originals", "(c+d) leak-free: AUC vs all authentic"]
    parts = [reports / f"{s}_{name}" / "per_image.csv" for s in ("heldout", "calibpart")]
    if pairs is None or not pairs.is_file() or not all(p.is_file() for p in parts):
        return dict.fromkeys(keys, float("nan"))
    crossing = leaked(read_pairs(pairs))  # names relative to the IMD2020 subset
    rows = []
    for part in parts:
        with open(part, newline="", encoding="utf-8") as f:
            rows += [r for r in csv.DictReader(f) if r["status"] != "skipped" and r["score"] != ""]
    kept = [r for r in rows if r["name"].split(IMD, 1)[-1] not in crossing]
    fakes = [float(r["score"]) for r in kept if r["label"] == "fake"]
    imd_reals = [float(r["score"]) for r in kept if r["label"] == "real" and IMD in r["name"]]
    reals = [float(r["score"]) for r in kept if r["label"] == "real"]
    return dict(zip(keys, (_auc(fakes, imd_reals), _auc(fakes, reals))))


def kind_shares(per_image: Path) -> dict[str, float]:
    """Share of each kind of a synthetic test set (its manifest.csv: splice, copymove, ..., pristine) scored >= 0.5."""
    with open(per_image, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok"]
    if not rows:
        return {}
    manifest = Path(rows[0]["image"]).resolve().parents[1] / "manifest.csv"
    with open(manifest, newline="", encoding="utf-8") as f:
        kinds = {r["file"]: r["kind"] for r in csv.DictReader(f)}
    scores: dict[str, list[float]] = {}
    for r in rows:
        scores.setdefault(kinds[r["name"]], []).append(float(r["score"]))
    return {k: sum(v >= 0.5 for v in vals) / len(vals) for k, vals in scores.items()}


def table(reports: Path, names: list[str], pairs: Path | None = None) -> str:
    cols = {n: figures(reports, n, pairs) for n in names}
    lines = ["| held-out figure | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for key in cols[names[0]]:
        values = [cols[n][key] for n in names]
        finite = [v for v in values if v == v]
        best = (min if key.startswith("FPR") else max)(finite) if finite else None
        cells = [("**%.3f**" % v if v == best and len(names) > 1 else "%.3f" % v) if v == v else "-" for v in values]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="+")
    p.add_argument("--reports", type=Path, default=Path("out/reports"))
    p.add_argument("--pairs", type=Path, default=Path("out/lists/imd2020_pairs.csv"),
                   help="pairs file of scripts/imd2020_pairs.py, for the leak-free rows (skipped where absent)")
    args = p.parse_args(argv[1:])
    print(table(args.reports, args.names, args.pairs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
