#!/usr/bin/env python
"""GPU figures, for when a CUDA device is available (never needed by the tests or CI).

    python benchmarks/gpu.py --weights W [--device cuda:0] [--onnx W.onnx]
    python benchmarks/gpu.py --variant trufor_b2      # the official architecture, untrained (times only)

Prints, for the torch engine on the GPU: forward time (best of --repeat after a warm-up) and peak GPU memory
(torch.cuda.max_memory_allocated) at 1, 12 and 50 MP in fp32 and bf16 (autocast); batched throughput of
384x256 images (images per second at batch sizes 1, 8 and 32); the ONNX Runtime CUDA execution provider's
time at 1 MP when onnxruntime-gpu is installed; and the card's name with its published fp32 / bf16 peak when
given (--peak-tflops FP32,BF16), so each time can be read as a fraction of the card's peak.
Exits with a message (status 0) where no CUDA device is present.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

SIZES = {"1 MP": (1024, 1024), "12 MP": (4000, 3000), "50 MP": (8660, 5773)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=None)
    p.add_argument("--variant", default=None,
                   help="time an untrained network of this variant (e.g. trufor_b2, the official architecture: "
                        "its time and memory do not depend on the weights' values) instead of --weights")
    p.add_argument("--device", default="cuda")
    p.add_argument("--onnx", default=None, help="an exported .onnx file for the ONNX Runtime CUDA provider")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    p.add_argument("--peak-tflops", default=None, help="the card's published peak, FP32,BF16 (e.g. 67,989)")
    args = p.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device here: nothing to measure")
        return 0
    from trufor import load_model

    dev = torch.device(args.device)
    print(f"device: {torch.cuda.get_device_name(dev)}; torch {torch.__version__}; peak (TFLOP/s fp32,bf16): "
          f"{args.peak_tflops or 'not given'}")
    rng = np.random.default_rng(0)
    for precision in ("fp32", "bf16"):
        if args.variant:
            from trufor.inference import TruFor
            from trufor.modeling import build_model

            torch.manual_seed(0)
            model = TruFor(build_model(args.variant), name=f"{args.variant} (untrained)", device=dev,
                           precision=precision)
        else:
            model = load_model(args.weights, device=dev, precision=precision)
        print(f"model: {model.name}")
        model.analyze(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
        for label in args.sizes:
            w, h = SIZES[label]
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            torch.cuda.reset_peak_memory_stats(dev)
            times = []
            try:
                for _ in range(args.repeat):
                    torch.cuda.synchronize(dev)
                    t = time.perf_counter()
                    res = model.analyze(img, noiseprint=False)
                    torch.cuda.synchronize(dev)
                    times.append(time.perf_counter() - t)
            except Exception as exc:  # report and go on with the other sizes
                print(f"{precision} {label:>6}: failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                continue
            peak = torch.cuda.max_memory_allocated(dev) / 2**30
            note = f"  ({'; '.join(res.warnings)})" if res.warnings else ""
            print(f"{precision} {label:>6} ({w}x{h}): {min(times):8.3f} s, peak GPU memory {peak:6.2f} GB{note}")
        imgs = rng.integers(0, 256, (64, 256, 384, 3), dtype=np.uint8)
        for batch in (1, 8, 32):
            torch.cuda.synchronize(dev)
            t = time.perf_counter()
            for start in range(0, len(imgs), batch):
                model.analyze_batch(list(imgs[start:start + batch]), noiseprint=False)
            torch.cuda.synchronize(dev)
            print(f"{precision} 384x256 batch {batch:>2}: {len(imgs) / (time.perf_counter() - t):8.1f} images/s")
        del model
        torch.cuda.empty_cache()
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed: no ONNX Runtime figure")
        return 0
    if "CUDAExecutionProvider" not in ort.get_available_providers() or not args.onnx:
        print("ONNX Runtime CUDA provider not available (pip install onnxruntime-gpu) or no --onnx file: skipped")
        return 0
    session = ort.InferenceSession(args.onnx, providers=["CUDAExecutionProvider"])
    img = rng.integers(0, 256, (1, 3, 1024, 1024), dtype=np.uint8)
    session.run(None, {"image": img})
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        session.run(None, {"image": img})
        times.append(time.perf_counter() - t)
    print(f"onnxruntime CUDA provider 1 MP: {min(times):.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
