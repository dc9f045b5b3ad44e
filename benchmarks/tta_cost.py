#!/usr/bin/env python
"""What the test-time views cost: seconds per image of every ``--tta`` setting on the same photos.

Settings: every name of ``trufor.inference.TTA_VIEWS`` (none, hflip, flips, shifts).

    python benchmarks/tta_cost.py [IMAGE ...] [--weights W] [--repeats 3] [--threads N]

Without images it takes the first 4 photos of ../shared/data/pristine/camera (camera originals, up to 1024 px). Each
image is analysed ``--repeats`` times per setting after one warm-up pass; printed: the median seconds per image of each
setting, its ratio to ``none``, and how far the views moved the score and the map (mean absolute difference) from the
plain reading. A timing, not an assertion: run it on an idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="*", type=Path)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    import torch

    from trufor import load_model
    from trufor.imageio import read_image
    from trufor.inference import TTA_VIEWS

    if args.threads:
        torch.set_num_threads(args.threads)
    images = args.images
    if not images:
        folder = Path(__file__).resolve().parents[2] / "shared/data/pristine/camera"
        if not folder.is_dir():
            raise SystemExit(f"{folder}: not found; give images on the command line")
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))[:4]
    loaded = [read_image(p) for p in images]
    models = {tta: load_model(args.weights, device="cpu", tta=tta) for tta in TTA_VIEWS}
    print(f"{len(loaded)} images ({', '.join(f'{im.pixels.shape[1]}x{im.pixels.shape[0]}' for im in loaded)}), "
          f"{torch.get_num_threads()} threads, {models['none'].name}")
    plain = [models["none"].analyze(im, noiseprint=False) for im in loaded]
    rows = []
    for tta, model in models.items():
        per_image, d_score, d_map = [], [], []
        for im, ref in zip(loaded, plain):
            result = model.analyze(im, noiseprint=False)  # warm-up, and the reading compared with the plain one
            d_score.append(abs(result.score - ref.score))
            d_map.append(float(np.abs(result.map - ref.map).mean()))
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                model.analyze(im, noiseprint=False)
                times.append(time.perf_counter() - t0)
            per_image.append(statistics.median(times))
        rows.append((tta, statistics.mean(per_image), statistics.mean(d_score), statistics.mean(d_map)))
    base = rows[0][1]
    print("| --tta | seconds per image | x none | mean abs. score change | mean abs. map change |")
    print("| --- | --- | --- | --- | --- |")
    for tta, sec, ds, dm in rows:
        print(f"| {tta} | {sec:.2f} | {sec / base:.2f} | {ds:.3f} | {dm:.4f} |")


if __name__ == "__main__":
    main()
