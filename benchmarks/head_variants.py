#!/usr/bin/env python
"""Score phase-3 variants of one frozen network on the images of its evaluation reports, in one pass.

    python benchmarks/head_variants.py BASE_WEIGHTS BASE_NAME NAME=WEIGHTS [NAME=WEIGHTS ...]
        [--reports out/reports] [--sets heldout synthetic_holdout synthetic_web_holdout]

Phase 3 trains only the confidence decoder and the detection head; Noiseprint++, the encoder and the
localization decoder stay frozen. Models that differ in those two parts only (phase-3 draws of one network,
their weight average) give the same localization maps and differ in their confidence maps and scores. For each
set S, the report ``REPORTS/S_BASE_NAME`` of BASE_WEIGHTS (written by ``trufor eval``, e.g. by
scripts/evaluate_bundled.sh) lists the images; each image goes once through the shared part
(``TruFor.score_heads``) and every variant's confidence decoder and head score it. For each variant a report
``REPORTS/S_NAME`` is written: ``per_image.csv`` (the base report's rows, score replaced; no cached maps) and
``metrics.json`` (the base report's localization, which the variants share, and the detection figures of the
variant's scores), so ``benchmarks/compare_models.py`` and ``benchmarks/heldout_table.py`` read it like any
report. About 1/6 of the time of one ``trufor eval`` per variant (the shared part dominates).

Checks: every variant's tensors outside the two trained parts equal the base's (else it refuses), and the
base's score recomputed here matches its report's (the largest difference is printed; over 1e-4 it stops: the
report is then not of BASE_WEIGHTS). Progress is kept in ``REPORTS/.head_variants_S_BASE_NAME.jsonl``, so an
interrupted run resumes.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

from trufor import load_model
from trufor.metrics import detection_metrics
from trufor.training.head_refit import same_trunk
from trufor.weights import load_network

TOLERANCE = 1e-4


def parse_variant(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=WEIGHTS")
    return name, path


def score_set(model, nets: dict, base_dir: Path, progress_path: Path) -> tuple[list[dict], dict[str, list[float]]]:
    """The base report's rows and each variant's score per row (NaN where the report skipped the image)."""
    with open(base_dir / "per_image.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    key = sorted((name, str(Path(p).resolve()), Path(p).stat().st_size) for name, (p, _) in nets.items())
    done: dict[str, dict[str, float]] = {}
    if progress_path.is_file():
        lines = progress_path.read_text(encoding="utf-8").splitlines()
        if lines and json.loads(lines[0]) == {"variants": [list(k) for k in key]}:
            for line in lines[1:]:
                item = json.loads(line)
                done[item["name"]] = item["scores"]
    if not done:
        progress_path.write_text(json.dumps({"variants": [list(k) for k in key]}) + "\n", encoding="utf-8")
    worst = 0.0
    start = time.perf_counter()
    with open(progress_path, "a", encoding="utf-8") as log:
        for i, row in enumerate(rows, 1):
            if row["status"] == "skipped" or row["name"] in done:
                continue
            base, scores = model.score_heads(row["image"], [net for _, net in nets.values()])
            reported = float(row["score"])
            diff = abs(base - reported)
            worst = max(worst, diff)
            if diff > TOLERANCE:
                sys.exit(f"{row['name']}: base score {base:.6f}, its report says {reported:.6f}: "
                         f"{base_dir} is not a report of the base weights")
            done[row["name"]] = dict(zip(nets, scores))
            log.write(json.dumps({"name": row["name"], "scores": done[row["name"]]}) + "\n")
            log.flush()
            elapsed = time.perf_counter() - start
            print(f"\r{base_dir.name}: {i}/{len(rows)} ({elapsed:.0f} s)", end="", file=sys.stderr, flush=True)
    print(f"\n{base_dir.name}: largest difference from the report's scores {worst:.2e}", file=sys.stderr)
    out = {name: [done.get(r["name"], {}).get(name, math.nan) for r in rows] for name in nets}
    return rows, out


def write_variant(base_dir: Path, out_dir: Path, rows: list[dict], scores: list[float], model_name: str,
                  base_name: str, note: str | None = None, keep_maps: bool = False) -> dict:
    """``out_dir``/per_image.csv and metrics.json of one variant (see the module docstring). ``note`` replaces the
    line metrics.json gets on how it was scored; ``keep_maps`` keeps the rows' cached maps (the variant's maps are
    the base's: a reading of the same maps, as ``benchmarks/top_readings.py`` writes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = list(rows[0].keys())
    tmp = out_dir / "per_image.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row, s in zip(rows, scores):
            kept = {} if keep_maps else {"npz": "", "cached": 0}
            writer.writerow({**row, "score": "" if math.isnan(s) else repr(s), **kept})
    tmp.replace(out_dir / "per_image.csv")
    metrics = json.loads((base_dir / "metrics.json").read_text(encoding="utf-8"))
    kept = [(s, r["label"] in ("1", "fake")) for r, s in zip(rows, scores) if not math.isnan(s)]
    det = detection_metrics([s for s, _ in kept], [int(y) for _, y in kept])
    metrics["model"] = model_name
    metrics["detection"] = det.as_dict()
    metrics.setdefault("notes", []).append(note or (
        f"scored by benchmarks/head_variants.py: the localization of {base_name}'s report (the same frozen "
        "network), this model's confidence decoder and detection head"))
    tmp = out_dir / "metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    tmp.replace(out_dir / "metrics.json")
    return metrics["detection"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base_weights")
    ap.add_argument("base_name", help="the NAME of the base's reports (REPORTS/SET_NAME)")
    ap.add_argument("variants", nargs="+", type=parse_variant, metavar="NAME=WEIGHTS")
    ap.add_argument("--reports", type=Path, default=Path("out/reports"))
    ap.add_argument("--sets", nargs="+", default=["heldout", "synthetic_holdout", "synthetic_web_holdout"])
    args = ap.parse_args(argv)

    model = load_model(args.base_weights)
    base_state = model.net.state_dict()
    nets = {}
    for name, path in args.variants:
        loaded = load_network(path)
        if not same_trunk(base_state, loaded.net.state_dict()):
            ap.error(f"{path}: differs from {args.base_weights} outside the confidence decoder and detection head")
        nets[name] = (path, loaded.net)
    missing = [s for s in args.sets if not (args.reports / f"{s}_{args.base_name}" / "per_image.csv").is_file()]
    if missing:
        ap.error(f"no report of {args.base_name} for {', '.join(missing)} in {args.reports} "
                 "(scripts/evaluate_bundled.sh writes them)")
    for s in args.sets:
        base_dir = args.reports / f"{s}_{args.base_name}"
        rows, scores = score_set(model, nets, base_dir, args.reports / f".head_variants_{s}_{args.base_name}.jsonl")
        for name, (path, _) in nets.items():
            det = write_variant(base_dir, args.reports / f"{s}_{name}", rows, scores[name],
                                f"{name} ({path})", args.base_name)
            print(f"{s}_{name}: detection AUC {det['auc']:.3f}, balanced accuracy at 0.5 "
                  f"{det['balanced_accuracy']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
