#!/usr/bin/env python
"""Detection figures by subset of a `trufor eval` report: false-positive rate at 0.5, balanced accuracy, AUC.

    python benchmarks/heldout_table.py REPORT_DIR [REPORT_DIR ...]

Reads each report's per_image.csv (written by `trufor eval`) and groups the images by the folder
their name starts with (e.g. ``pristine/digicam``, ``pristine/camera``, ``forgeries/imd2020_subset/real``,
``forgeries/imd2020_subset/fake``). For every group: how many images, and the share scored >= 0.5
(for authentic images this is the false-positive rate, for manipulated ones the true-positive
rate). Then over the whole report: detection AUC and balanced accuracy at 0.5, and the AUC of all the
manipulated images against each authentic group alone. Prints a Markdown table per report.
"""

from __future__ import annotations

import csv
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score


def group_of(name: str) -> str:
    parts = name.split("/")
    if parts[0] == "forgeries" and len(parts) > 2:
        return "/".join(parts[1:3])
    return "/".join(parts[:2]) if len(parts) > 2 else parts[0]


def table(report: Path) -> str:
    rows = list(csv.DictReader((report / "per_image.csv").open(encoding="utf-8")))
    groups: dict[tuple[str, int], list[float]] = defaultdict(list)
    scores, labels = [], []
    for r in rows:
        if r["status"] == "skipped" or r["score"] in ("", "nan"):
            continue
        s, lab = float(r["score"]), int(r["label"] in ("1", "fake"))
        if math.isnan(s):
            continue
        groups[(group_of(r["name"]), lab)].append(s)
        scores.append(s)
        labels.append(lab)
    out = [f"### {report}", "", "| images | label | n | share scored >= 0.5 | median score |", "| --- | --- | --- | --- | --- |"]
    for (group, lab), vals in sorted(groups.items()):
        v = np.asarray(vals)
        what = "manipulated (TPR)" if lab == 1 else "authentic (FPR)"
        out.append(f"| {group} | {what} | {len(v)} | {float((v >= 0.5).mean()):.3f} | {float(np.median(v)):.3f} |")
    y, s = np.asarray(labels), np.asarray(scores)
    if 0 < y.sum() < len(y):
        tpr = float((s[y == 1] >= 0.5).mean())
        tnr = float((s[y == 0] < 0.5).mean())
        out += ["", f"all: {int(y.sum())} manipulated + {int((y == 0).sum())} authentic; detection AUC "
                    f"{roc_auc_score(y, s):.3f}; balanced accuracy at 0.5 {(tpr + tnr) / 2:.3f} "
                    f"(TPR {tpr:.3f}, FPR {1 - tnr:.3f})"]
        fakes = s[y == 1]
        for (group, lab), vals in sorted(groups.items()):
            if lab == 0:
                pair = np.concatenate([fakes, vals])
                truth = np.r_[np.ones(len(fakes)), np.zeros(len(vals))]
                out.append(f"AUC of the {len(fakes)} manipulated vs {group} ({len(vals)}): "
                           f"{roc_auc_score(truth, pair):.3f}")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    for folder in argv[1:]:
        print(table(Path(folder)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
