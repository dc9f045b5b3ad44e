#!/usr/bin/env python
"""Which parts of the network to run in bf16: speed at one size, deviation from fp32 on real photos.

    python benchmarks/precision_split.py [--weights W] [--size 1024] [--reps 3] [--photos 20] [--crop 512]
                                         [--fixtures DIR] [--splits fp32,bf16,bf16-mixed,np,enc,dec]

Splits: the names of ``--precision`` (``fp32`` exact, ``bf16`` every part, ``bf16-mixed`` encoder and
decoders), or any ``+``-joined set of the engine's parts in bf16 with the others in exact fp32 (Noiseprint++ =
``np``, dual encoder = ``enc``, both decoders = ``dec``; ``enc+dec`` is ``bf16-mixed``). Times: median of
``--reps`` warm runs on a centre crop of ``--size`` px of one photo (same model object). Deviations: max and
mean |fp32 - split| of map and conf, |Δ score| and max |Δ np++| over ``--photos`` camera photos of
../shared/data/pristine/camera cropped to ``--crop`` px, plus the images in ``--fixtures`` (e.g. the parity
fixtures). Run it on an idle machine: other load moves the times, not the deviations.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from trufor import load_model
from trufor.modeling.engine import PARTS

SHARED = Path(os.environ.get("TRUFOR_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared"))
NAMES = {"np": "noiseprint", "enc": "encoder", "dec": "decoders"}


def centre_crop(path: Path, size: int) -> np.ndarray:
    image = Image.open(path).convert("RGB")
    w, h = image.size
    side_w, side_h = min(size, w), min(size, h)
    left, top = (w - side_w) // 2, (h - side_h) // 2
    return np.asarray(image.crop((left, top, left + side_w, top + side_h)))


def configure(model, split: str) -> None:
    """Set the engine's part precisions for ``split`` (``+``-joined part names)."""
    parts = {NAMES[p] for p in split.split("+")}
    model._efficient.part_dtypes = {part: (torch.bfloat16 if part in parts else None) for part in PARTS}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=None, help="weights file (default: the bundled model)")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--photos", type=int, default=20)
    p.add_argument("--crop", type=int, default=512)
    p.add_argument("--fixtures", default=None, help="a folder of further images for the deviations")
    p.add_argument("--splits", default="fp32,bf16,bf16-mixed,np,enc,dec")
    p.add_argument("--no-timing", action="store_true")
    p.add_argument("--no-deviation", action="store_true")
    args = p.parse_args()
    splits = args.splits.split(",")
    camera = sorted((SHARED / "data" / "pristine" / "camera").glob("*.jpg"))
    if not camera:
        raise SystemExit(f"no photos under {SHARED}/data/pristine/camera (set TRUFOR_SHARED)")
    exact = load_model(args.weights)
    named = {name: load_model(args.weights, precision=name) for name in ("bf16", "bf16-mixed") if name in splits}
    custom = load_model(args.weights)  # its engine's part precisions are set per split
    print(f"model: {exact.name}; torch {torch.__version__}, {torch.get_num_threads()} threads")

    def model_for(split):
        if split == "fp32":
            return exact
        if split in named:
            return named[split]
        configure(custom, split)
        return custom

    times = {}
    if not args.no_timing:
        big = centre_crop(camera[0], args.size)
        for split in splits:
            model = model_for(split)
            model.analyze(big, noiseprint=True)  # warm-up
            runs = []
            for _ in range(args.reps):
                t = time.perf_counter()
                model.analyze(big)
                runs.append(time.perf_counter() - t)
            times[split] = statistics.median(runs)
            print(f"time {split:<8} {big.shape[1]}x{big.shape[0]}: {times[split]:.2f} s "
                  f"(runs {', '.join(f'{r:.2f}' for r in runs)})", flush=True)
    devs = {}
    if not args.no_deviation:
        images = [(path.name, centre_crop(path, args.crop)) for path in camera[: args.photos]]
        if args.fixtures:
            images += [(path.name, np.asarray(Image.open(path).convert("RGB")))
                       for path in sorted(Path(args.fixtures).iterdir()) if path.suffix.lower() in (".png", ".jpg")]
        reference = [exact.analyze(pixels) for _, pixels in images]
        for split in splits:
            if split == "fp32":
                continue
            model = model_for(split)
            rows = []
            for (_, pixels), ref in zip(images, reference):
                out = model.analyze(pixels)
                d_map, d_conf = np.abs(ref.map - out.map), np.abs(ref.conf - out.conf)
                rows.append((d_map.max(), d_map.mean(), d_conf.max(), d_conf.mean(), abs(ref.score - out.score),
                             np.abs(ref.noiseprint - out.noiseprint).max()))
            devs[split] = np.array(rows)
            print(f"deviation {split}: done on {len(rows)} images", flush=True)
    print()
    print("| split | time (s) | speed-up | map max / mean | conf max / mean | score max | np++ max |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for split in splits:
        t = times.get(split)
        speed = f"{times['fp32'] / t:.2f}x" if t and "fp32" in times else "-"
        if split in devs:
            r = devs[split]
            dev = (f"{r[:, 0].max():.4f} / {r[:, 1].mean():.5f} | {r[:, 2].max():.4f} / {r[:, 3].mean():.5f} | "
                   f"{r[:, 4].max():.5f} | {r[:, 5].max():.4f}")
        else:
            dev = "0 (reference) | 0 | 0 | 0" if split == "fp32" else "- | - | - | -"
        print(f"| {split} | {t:.2f} | {speed} | {dev} |" if t else f"| {split} | - | {speed} | {dev} |")


if __name__ == "__main__":
    main()
