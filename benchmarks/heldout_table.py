#!/usr/bin/env python
"""Detection figures by subset of a `trufor eval` report: false-positive rate at 0.5, balanced accuracy, AUC.

    python benchmarks/heldout_table.py REPORT_DIR [REPORT_DIR ...] [--head WEIGHTS.safetensors]

Reads each report's per_image.csv (written by `trufor eval`) and groups the images by the folder
their name starts with (e.g. ``pristine/digicam``, ``pristine/camera``, ``forgeries/imd2020_subset/real``,
``forgeries/imd2020_subset/fake``; a web-sized copy written by scripts/make_web_jpeg_set.py joins "web copies of"
its original's group). For every group: how many images, and the share scored >= 0.5
(for authentic images this is the false-positive rate, for manipulated ones the true-positive
rate). Then over the whole report: detection AUC and balanced accuracy at 0.5, and the AUC of all the
manipulated images against each authentic group alone. Prints a Markdown table per report.

``--head WEIGHTS`` scores every image again with the detection head of WEIGHTS instead of reading the
report's score: the head's eight inputs are pooled from the localization and confidence maps the report
cached (``npz/``; logits recovered from the stored probabilities), so a head re-fitted on the same frozen
network (``trufor train fit-head``, then calibrated) is measured without running the network again. Valid only
when WEIGHTS differs from the report's model in the detection head alone; with the report's own weights it
gives back the report's scores (within 1e-5).
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
    if parts[0].startswith("web__"):  # a copy of scripts/make_web_jpeg_set.py: the group of its original
        return "web copies of " + group_of(parts[-1].replace("__", "/"))
    if parts[0] == "forgeries" and len(parts) > 2:
        return "/".join(parts[1:3])
    return "/".join(parts[:2]) if len(parts) > 2 else parts[0]


def group_scores(rows: list[dict]) -> dict[tuple[str, int], list[float]]:
    """The scored images of per_image.csv rows by (group, label): label 1 manipulated, 0 authentic."""
    groups: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in rows:
        if r["status"] == "skipped" or r["score"] in ("", "nan"):
            continue
        s = float(r["score"])
        if not math.isnan(s):
            groups[(group_of(r["name"]), int(r["label"] in ("1", "fake")))].append(s)
    return groups


def head_scores(rows: list[dict], weights: str) -> None:
    """Replace each row's score by the detection head of ``weights`` applied to the report's cached maps."""
    import torch

    from trufor.modeling.detection import DetectionHead
    from trufor.weights import read_weights

    sd = read_weights(weights).state_dict
    head = DetectionHead()
    head.load_state_dict({k[len("detection."):]: v.float() for k, v in sd.items() if k.startswith("detection.")})
    head = head.double().eval()
    eps = 1e-7
    for r in rows:
        if r["status"] == "skipped" or not r.get("npz"):
            continue
        with np.load(r["npz"]) as d:
            prob = np.clip(d["map"].astype(np.float64), eps, 1 - eps)
            conf = np.clip(d["conf"].astype(np.float64), eps, 1 - eps)
        loc = np.stack([np.zeros_like(prob), np.log(prob / (1 - prob))])[None]  # two-class logits up to a shift
        with torch.no_grad():
            logit = head(torch.from_numpy(loc), torch.from_numpy(np.log(conf / (1 - conf)))[None, None])
        r["score"] = str(float(torch.sigmoid(logit)[0, 0]))


def table(report: Path, head: str | None = None) -> str:
    rows = list(csv.DictReader((report / "per_image.csv").open(encoding="utf-8")))
    if head:
        head_scores(rows, head)
    groups = group_scores(rows)
    labels = [lab for (_, lab), vals in groups.items() for _ in vals]
    scores = [s for vals in groups.values() for s in vals]
    title = f"### {report}" + (f" (detection head of {head})" if head else "")
    out = [title, "", "| images | label | n | share scored >= 0.5 | median score |", "| --- | --- | --- | --- | --- |"]
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
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--head", help="score with this weights file's detection head (see above)")
    args = parser.parse_args(argv[1:])
    for folder in args.reports:
        print(table(folder, args.head))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
