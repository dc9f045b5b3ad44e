#!/usr/bin/env python
"""Noiseprint++ (DnCNN) speed against this machine's matrix-multiply peak, for each way of running it.

    python benchmarks/dncnn_throughput.py                 # 1024x1024, official DnCNN shape (64 ch, 17 layers)
    python benchmarks/dncnn_throughput.py --size 2048x1536 --repeat 2

Prints the measured fp32 matmul rate (a 2048^3 product, best of several: the practical peak of
these cores), then for each way of running the DnCNN (PyTorch's plain NCHW path, oneDNN's blocked
layout, each with and without heap reuse, as tiles of ``--tile`` pixels) the best time, GFLOP/s, the
fraction of the peak, and whether the output is bit-identical to the plain whole-image result.
Weights are random (speed does not depend on the values); the BatchNorm statistics are made
non-trivial so that bit-identity is a real check.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from trufor.allocator import heap_reuse
from trufor.modeling.blocked_dncnn import BlockedNoiseprint
from trufor.modeling.engine import tiled_noiseprint
from trufor.modeling.noiseprint import NoiseprintExtractor


def matmul_peak(n: int = 2048, repeat: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def dncnn_flops(net: NoiseprintExtractor, h: int, w: int) -> float:
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    return sum(2 * c.in_channels * c.out_channels * 9 * h * w for c in convs)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1024x1024", help="WxH")
    p.add_argument("--tile", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    torch.manual_seed(0)
    net = NoiseprintExtractor().eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    blocked = BlockedNoiseprint.build(net)
    x = torch.rand(1, 3, h, w)
    flops = dncnn_flops(net, h, w)
    peak = matmul_peak()
    print(f"threads {torch.get_num_threads()}, fp32 matmul peak {peak:.0f} GFLOP/s, "
          f"DnCNN {flops / 1e12:.2f} TFLOP at {w}x{h}, tile {args.tile}")
    with torch.inference_mode():
        reference = net(x)
        ways = [("plain NCHW", net, False), ("plain NCHW + heap reuse", net, True)]
        if blocked is None:
            print("blocked layout: declined on this machine (not bit-identical here)")
        else:
            ways += [("blocked", blocked, False), ("blocked + heap reuse", blocked, True)]
        print(f"{'way':<26} {'best s':>8} {'GFLOP/s':>8} {'of peak':>8}  bit-identical")
        for name, extractor, reuse in ways:
            best = float("inf")
            for _ in range(args.repeat):
                with heap_reuse() if reuse else contextlib.nullcontext():
                    t = time.perf_counter()
                    out = tiled_noiseprint(extractor, x, args.tile, net.depth)
                    best = min(best, time.perf_counter() - t)
            rate = flops / best / 1e9
            print(f"{name:<26} {best:>8.2f} {rate:>8.0f} {rate / peak:>8.0%}  {torch.equal(out, reference)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
