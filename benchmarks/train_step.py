#!/usr/bin/env python
"""Seconds per training step of each phase, float32 against bfloat16 autocast (``train.amp``).

    python benchmarks/train_step.py                        # trufor_small, the bundled configs' batches
    python benchmarks/train_step.py --steps 10 --threads 2

For each phase the step is what the training loop runs: the phase's forward pass (under
``torch.autocast(bfloat16)`` when amp is on), its loss in float32, backward and an AdamW step, on
random inputs of the bundled configs' shapes (phase 1: 64 patches of 48 px plus 32 noisy copies for
the residual anchor; phases 2 and 3: 4 crops of 256 px). Making the data is not included (it runs in
a worker process, in parallel). Prints the median of ``--steps`` steps after two warm-up steps, and
whether this CPU has native bfloat16 (without it, autocast is emulated and slower).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from trufor.training.config import ModelSection, NoiseprintSection, TrainingConfig
from trufor.training.loop import cpu_has_fast_bf16, make_phase


def phase_step(phase_name: str, variant: str, amp: bool, steps: int) -> float:
    """Median seconds of one optimiser step of ``phase_name`` on random data."""
    # built directly, without the checks of a real run (no data or checkpoints are read here)
    cfg = TrainingConfig(phase=phase_name, model=ModelSection(variant=variant),
                         noiseprint=NoiseprintSection(denoise_weight=1.0))
    phase = make_phase(cfg)
    torch.manual_seed(0)
    net = phase.build_model()
    module = phase.training_module(net)
    params = phase.trainable_parameters(net)
    opt = torch.optim.AdamW(params, lr=1e-4)
    if phase_name == "noiseprint":
        phase.begin_step(cfg.noiseprint.denoise_steps)  # contrastive + residual anchor
        n = 8 * cfg.noiseprint.histories * cfg.noiseprint.offsets * cfg.noiseprint.patches
        size = cfg.noiseprint.patch_size
        make = lambda: {"image": torch.rand(n, 3, size, size),  # noqa: E731
                        "labels": torch.arange(n) // cfg.noiseprint.patches}
    else:
        make = lambda: {"image": torch.rand(4, 3, 256, 256),  # noqa: E731
                        "mask": (torch.rand(4, 256, 256) > 0.8).long()}
    times = []
    for i in range(steps + 2):
        batch = make()
        phase.set_train_mode(net)
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out = phase.forward(module, batch)
        loss, _ = phase.loss(out, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="trufor_small")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"variant {args.variant}, {args.threads} threads, native bf16 on this CPU: {cpu_has_fast_bf16()}")
    print("| phase | float32 s/step | bf16 autocast s/step | speed-up |")
    print("| --- | --- | --- | --- |")
    for name in ("noiseprint", "localization", "confidence"):
        fp32 = phase_step(name, args.variant, False, args.steps)
        bf16 = phase_step(name, args.variant, True, args.steps)
        print(f"| {name} | {fp32:.2f} | {bf16:.2f} | {fp32 / bf16:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
