#!/usr/bin/env python
"""Images per minute on a folder of same-size JPEGs: one by one against batches (``detect --batch-size``).

    python benchmarks/batch_throughput.py --weights W [--n 200] [--batch-size 8] [--source ../shared/data/pristine]

Makes N CASIA-sized (384x256) JPEG crops (quality 90, seeded) of the photos under --source in a temporary
folder (never writes into --source), then runs the job runner (``batch.iter_results``: decoding and writing
overlapped, npz outputs written) over them once one by one and once in batches, alternating --rounds times,
and prints images per minute of each (whole runs, model loaded once before) and the max |Δ| of map / conf /
score / np++ between the two runs' outputs, with whether they are bit for bit equal.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_crops(source: Path, n: int, folder: Path, size=(384, 256), seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    photos = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    made, i = [], 0
    while len(made) < n and i < 50 * n:
        photo = photos[int(rng.integers(len(photos)))]
        i += 1
        with Image.open(photo) as im:
            im = im.convert("RGB")
            if im.width < size[0] or im.height < size[1]:
                continue
            x, y = int(rng.integers(im.width - size[0] + 1)), int(rng.integers(im.height - size[1] + 1))
            out = folder / f"crop{len(made):04d}.jpg"
            im.crop((x, y, x + size[0], y + size[1])).save(out, quality=90)
            made.append(out)
    return made


def run(model, folder: Path, out: Path, batch_size: int) -> float:
    from trufor.batch import iter_jobs, iter_results

    start = time.perf_counter()
    results = list(iter_results(model, iter_jobs([str(folder)], out), overwrite=True, save_noiseprint=True,
                                batch_size=batch_size, hash_inputs=False))
    seconds = time.perf_counter() - start
    assert all(r.status == "ok" for r in results), [r.message for r in results if r.status != "ok"]
    return seconds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=None, help="weights (default: found as load_model does)")
    p.add_argument("--backend", default="torch", choices=("torch", "onnxruntime", "openvino"))
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--source", default=str(Path(__file__).resolve().parents[1].parent / "shared/data/pristine"))
    args = p.parse_args()
    from trufor import load_model

    model = load_model(args.weights, backend=args.backend)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        crops = make_crops(Path(args.source), args.n, tmp / "in")
        model.analyze(crops[0])  # warm-up
        rates = {1: [], args.batch_size: []}
        for _ in range(args.rounds):
            for bs in (1, args.batch_size):
                rates[bs].append(len(crops) * 60 / run(model, tmp / "in", tmp / f"out{bs}", bs))
        print(f"model: {model.name}; {len(crops)} JPEGs 384x256; backend {args.backend}")
        for bs, r in rates.items():
            print(f"batch size {bs:>3}: {np.median(r):7.1f} images/minute (runs: {', '.join(f'{x:.1f}' for x in r)})")
        print(f"speed-up: {np.median(rates[args.batch_size]) / np.median(rates[1]):.2f}x")
        worst = {k: 0.0 for k in ("map", "conf", "score", "np++")}
        identical = True
        for crop in crops:
            with np.load(tmp / "out1" / f"{crop.name}.npz") as a, \
                    np.load(tmp / f"out{args.batch_size}" / f"{crop.name}.npz") as b:
                for key in worst:
                    d = float(np.max(np.abs(np.asarray(a[key], np.float64) - b[key])))
                    worst[key] = max(worst[key], d)
                    identical &= bool(np.array_equal(a[key], b[key]))
        print("batched vs one by one, max |diff|: " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
              + f"; bit for bit: {'yes' if identical else 'no'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
