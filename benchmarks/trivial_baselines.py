#!/usr/bin/env python
"""Metrics of trivial predictors on a dataset, to read model figures against.

* ``zero-map``: an all-zero localization map (with the protocol's max(F1(map), F1(1 - map)) it scores
  as an all-forged map, so its F1 is that of "everything is forged");
* ``random-score``: a uniform random integrity score (seeded), so detection AUC ~0.5.

    python benchmarks/trivial_baselines.py casia1 --root ../shared/data/benchmarks/casia1
    python benchmarks/trivial_baselines.py list:FAKE,REAL --root DIR
"""

from __future__ import annotations

import argparse
import json
import tempfile

import numpy as np
from PIL import Image

from trufor.evaluation.datasets import load_dataset
from trufor.evaluation.runner import evaluate
from trufor.evaluation.report import metrics_document


class TrivialModel:
    """Zero map, full confidence, a seeded random score: needs only the image size."""

    name = "trivial baseline (zero map, random score)"

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def analyze(self, path, **_):
        from trufor.inference import AnalysisResult

        with Image.open(path) as im:
            w, h = im.size
        return AnalysisResult(score=float(self.rng.random()), map=np.zeros((h, w), np.float32),
                              conf=np.ones((h, w), np.float32), noiseprint=None, path=str(path), model_name=self.name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset")
    p.add_argument("--root", required=True)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    dataset = load_dataset(args.dataset, args.root)
    with tempfile.TemporaryDirectory() as tmp:
        result = evaluate(dataset, TrivialModel(args.seed), tmp)
    doc = metrics_document(result)
    keep = {k: doc[k] for k in ("detection", "localization") if k in doc}
    print(json.dumps(keep, indent=2, default=str))


if __name__ == "__main__":
    main()
