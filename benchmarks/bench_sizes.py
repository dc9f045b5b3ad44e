#!/usr/bin/env python
"""Time and peak memory of TruFor inference against image size.

Each size runs in a fresh process (so the peak resident memory of that process is the figure for that
size alone), on a synthetic image with the b2 architecture (the published model; weights are random
unless --weights is given: speed and memory do not depend on the values).

    python benchmarks/bench_sizes.py                      # 256 .. 2048x1536, efficient engine
    python benchmarks/bench_sizes.py --sizes 4000x3000 --engine efficient
    python benchmarks/bench_sizes.py --engine reference   # the plain forward pass, as the official code

Prints one row per size: forward seconds (model only), whole-process wall seconds, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np, torch
from trufor.inference import TruFor
from trufor.modeling import build_model
args = json.loads(sys.argv[1])
if args["threads"]:
    torch.set_num_threads(args["threads"])
w, h = args["size"]
if args["weights"]:
    from trufor import load_model
    model = load_model(args["weights"], engine=args["engine"], max_memory=args["max_memory"])
else:
    torch.manual_seed(0)
    model = TruFor(build_model(args["variant"]), name="random " + args["variant"], engine=args["engine"],
                   max_memory=args["max_memory"])
img = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
times = []
for _ in range(args["repeat"]):
    t = time.perf_counter()
    res = model.analyze(img, noiseprint=False)
    times.append(time.perf_counter() - t)
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"forward_s": min(times), "wall_s": time.perf_counter() - t0, "peak_gb": peak_kb / 2**20,
                  "score": res.score}))
"""


def parse_size(text: str) -> tuple[int, int]:
    if "x" in text:
        w, h = text.lower().split("x")
        return int(w), int(h)
    return int(text), int(text)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", default=["256", "512", "1024", "2048x1536"], help="WxH or N (square)")
    p.add_argument("--engine", default="efficient", choices=("efficient", "reference"))
    p.add_argument("--variant", default="trufor_b2")
    p.add_argument("--weights", default=None)
    p.add_argument("--max-memory", type=int, default=None, help="bytes")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = []
    print(f"{'size':>11} {'MP':>6} {'forward s':>10} {'process s':>10} {'peak GB':>8}  engine={args.engine}")
    for spec in args.sizes:
        w, h = parse_size(spec)
        child = {"size": [w, h], "engine": args.engine, "variant": args.variant, "weights": args.weights,
                 "max_memory": args.max_memory, "threads": args.threads, "repeat": args.repeat}
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", CHILD, json.dumps(child)], capture_output=True, text=True)
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["?"])[-1]
            print(f"{w}x{h:<6} failed after {time.perf_counter() - start:.0f} s: {last}")
            rows.append({"size": f"{w}x{h}", "error": last})
            continue
        r = json.loads(run.stdout.strip().splitlines()[-1])
        r["size"] = f"{w}x{h}"
        rows.append(r)
        print(f"{w:>5}x{h:<5} {w * h / 1e6:>6.1f} {r['forward_s']:>10.2f} {r['wall_s']:>10.2f} {r['peak_gb']:>8.2f}")
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
