#!/usr/bin/env python
"""Time and peak memory of each backend against image size: torch engine, ONNX Runtime (exact, fast), OpenVINO.

    python benchmarks/backends.py --weights W.pth.tar [--onnx W.onnx] [--sizes 512 1024 2048x1536]

Each (backend, size) runs in a fresh process (its peak resident memory is the figure for that size alone) on a
random image; the ONNX file is exported from --weights once when --onnx is not given. Prints one row per
(backend, size): forward seconds (best of --repeat, after one warm-up call on a 64x64 image), peak RSS, and, per
backend, the peak-memory growth per pixel between the two largest sizes with the largest image that it predicts
fits in --ram (the pixel caps of trufor.deploy.backends.BYTES_PER_PIXEL come from this column).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np
args = json.loads(sys.argv[1])
import torch
torch.set_num_threads(args["threads"])
from trufor import load_model
if args["backend"] == "torch":
    model = load_model(args["weights"])
else:
    from trufor.deploy.backends import RuntimeModel
    model = RuntimeModel(args["onnx"], backend=args["backend"], mode=args["mode"], threads=args["threads"],
                         max_memory=1 << 50)
model.analyze(np.zeros((64, 64, 3), np.uint8), noiseprint=False)
w, h = args["size"]
img = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
times = []
for _ in range(args["repeat"]):
    t = time.perf_counter()
    res = model.analyze(img, noiseprint=False)
    times.append(time.perf_counter() - t)
print(json.dumps({"forward_s": min(times), "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                  "score": res.score}))
"""

CONFIGS = {"torch": ("torch", "exact"), "onnxruntime-exact": ("onnxruntime", "exact"),
           "onnxruntime-fast": ("onnxruntime", "fast"), "openvino": ("openvino", "exact"),
           "openvino-fast": ("openvino", "fast")}


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h or w)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", required=True, help="weights file (the b2 parity weights give the published shape)")
    p.add_argument("--onnx", default=None, help="its export (default: exported into a temporary folder)")
    p.add_argument("--sizes", nargs="+", default=["512", "1024", "2048x1536"])
    p.add_argument("--backends", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ram", type=float, default=24.0, help="GB of memory for the predicted largest image")
    args = p.parse_args()
    onnx = args.onnx
    tmp = None
    if onnx is None and any(b != "torch" for b in args.backends):
        from trufor.deploy.onnx_export import export_onnx

        tmp = tempfile.TemporaryDirectory()
        onnx = str(export_onnx(Path(tmp.name) / "model.onnx", args.weights))
    print(f"{'backend':<18} {'size':>10} {'forward s':>10} {'peak GB':>8} {'score':>9}")
    for name in args.backends:
        backend, mode = CONFIGS[name]
        points = []
        for size in args.sizes:
            w, h = parse_size(size)
            spec = {"backend": backend, "mode": mode, "weights": args.weights, "onnx": onnx, "size": [w, h],
                    "repeat": args.repeat, "threads": args.threads}
            run = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True)
            if run.returncode:
                print(f"{name:<18} {size:>10} failed: {run.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            row = json.loads(run.stdout.strip().splitlines()[-1])
            points.append((w * h, row["peak_gb"]))
            print(f"{name:<18} {size:>10} {row['forward_s']:>10.2f} {row['peak_gb']:>8.2f} {row['score']:>9.5f}",
                  flush=True)
        if len(points) >= 2:
            (p0, m0), (p1, m1) = points[-2], points[-1]
            per_px = (m1 - m0) * 2**30 / (p1 - p0)
            largest = (args.ram * 2**30 - (m1 * 2**30 - per_px * p1)) / per_px
            print(f"{name:<18} {'':>10} growth {per_px:.0f} bytes/pixel -> about {largest / 1e6:.0f} MP in "
                  f"{args.ram:g} GB", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
