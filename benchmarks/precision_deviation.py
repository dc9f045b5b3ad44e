#!/usr/bin/env python
"""Deviation and speed of the opt-in mixed precisions against exact float32.

    python benchmarks/precision_deviation.py --weights W.pth.tar IMAGES... [--precision bf16]

For every image: max and mean |Δ| of map and conf, |Δ| of score, np++ max |Δ|, and the time of each
precision (the same model object, warm). Prints one row per image and a summary row.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from trufor import load_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+")
    p.add_argument("--weights", default=None)
    p.add_argument("--precision", default="bf16", choices=("bf16", "fp16"))
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    exact = load_model(args.weights, device=args.device)
    approx = load_model(args.weights, device=args.device, precision=args.precision)
    exact.analyze(args.images[0])  # warm-up
    approx.analyze(args.images[0])
    rows = []
    print(f"model: {exact.name}; {args.precision} vs fp32 on {args.device}")
    print(f"{'image':<40} {'map max':>8} {'map mean':>9} {'conf max':>9} {'conf mean':>9} {'score':>8} "
          f"{'np++ max':>9} {'fp32 s':>7} {args.precision + ' s':>7}")
    for path in args.images:
        t = time.perf_counter()
        a = exact.analyze(path)
        ta = time.perf_counter() - t
        t = time.perf_counter()
        b = approx.analyze(path)
        tb = time.perf_counter() - t
        d_map, d_conf = np.abs(a.map - b.map), np.abs(a.conf - b.conf)
        row = (d_map.max(), d_map.mean(), d_conf.max(), d_conf.mean(), abs(a.score - b.score),
               np.abs(a.noiseprint - b.noiseprint).max(), ta, tb)
        rows.append(row)
        name = path if len(path) <= 40 else "..." + path[-37:]
        print(f"{name:<40} {row[0]:>8.4f} {row[1]:>9.5f} {row[2]:>9.4f} {row[3]:>9.5f} {row[4]:>8.5f} "
              f"{row[5]:>9.4f} {row[6]:>7.2f} {row[7]:>7.2f}")
    r = np.array(rows)
    print(f"{'ALL (max of max, mean of mean)':<40} {r[:, 0].max():>8.4f} {r[:, 1].mean():>9.5f} {r[:, 2].max():>9.4f} "
          f"{r[:, 3].mean():>9.5f} {r[:, 4].max():>8.5f} {r[:, 5].max():>9.4f} {r[:, 6].sum():>7.2f} {r[:, 7].sum():>7.2f}")
    print(f"speed-up {args.precision}/fp32: {r[:, 6].sum() / r[:, 7].sum():.2f}x")


if __name__ == "__main__":
    main()
