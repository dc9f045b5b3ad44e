#!/usr/bin/env python
"""What an image-level step computes against what the exported model computes: BatchNorm in train mode vs eval mode.

    python benchmarks/batchnorm_gap.py WEIGHTS [--n 8] [--fakes out/lists/imd2020_val_fake.txt]
                                       [--reals out/lists/imd2020_val_real.txt] [--data ../shared/data]

Phase 2 with ``data.image_level`` sends one whole image through the network alone every few steps and trains the map's
image-level statistic (the mean forged-minus-pristine logit over the top ``loss.image_level_topk`` of the pixels,
:func:`trufor.training.losses.image_level_loss`) toward the image's label. With ``train.batchnorm: train`` (the default,
every phase 2 up to run 38) the encoder's BatchNorm layers are in train mode there, so that image is normalised by its
own statistics; the exported model normalises with the running statistics. For the first ``--n`` fakes and ``--n``
originals of two lists (image paths relative to ``--data``, first column), each cut as a training step cuts a whole
image (a top-left window of at most 1024 px a side, sides multiples of 32), this prints the statistic computed both
ways, their correlation, and the AUC of each over the images. The network's weights and running statistics are left as
loaded (each train-mode pass runs on a copy of the statistics, put back after it). Torch threads: 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from trufor.imageio import read_image
from trufor.modeling import build_model
from trufor.training.localization_phase import LocalizationModule
from trufor.training.losses import image_level_loss
from trufor.weights import read_weights
from trufor.weights.checkpoint import config_of, load_into

REPO = Path(__file__).resolve().parent.parent


def first_paths(list_file: Path, n: int) -> list[str]:
    rows = [line.split(",")[0].strip() for line in list_file.read_text().splitlines() if line.strip()]
    return rows[:n]


def whole_image(path: Path, max_side: int = 1024) -> torch.Tensor:
    """(1, 3, H, W) float in [0, 1]: the top-left window of at most ``max_side`` a side, sides multiples of 32."""
    rgb = read_image(path).pixels
    h, w = (min(side, max_side) // 32 * 32 for side in rgb.shape[:2])
    return torch.from_numpy(np.ascontiguousarray(rgb[:h, :w])).permute(2, 0, 1)[None].float() / 255.0


def batchnorms(net: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def statistic_both_ways(net, image: torch.Tensor, topk: float) -> tuple[float, float]:
    """(eval-mode statistic, train-mode statistic) of one image."""
    module = LocalizationModule(net)
    net.eval()

    def stat(logits: torch.Tensor) -> float:
        return float(image_level_loss(logits.float(), torch.zeros(1, dtype=torch.long), topk)[1][0])

    exported = stat(module(image))
    noiseprint = {id(m) for m in batchnorms(net.dncnn)}
    layers = [m for m in batchnorms(net) if id(m) not in noiseprint]
    kept = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in layers]
    for m in layers:  # as a phase-2 step runs them (Noiseprint++ stays in eval mode there)
        m.train()
    try:
        trained = stat(module(image))
    finally:
        for m, (mean, var, count) in zip(layers, kept):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(count)
            m.eval()
    return exported, trained


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", type=Path)
    ap.add_argument("--n", type=int, default=8, help="images of each list (default 8)")
    ap.add_argument("--fakes", type=Path, default=REPO / "out/lists/imd2020_val_fake.txt")
    ap.add_argument("--reals", type=Path, default=REPO / "out/lists/imd2020_val_real.txt")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--topk", type=float, default=0.005, help="loss.image_level_topk (default 0.005)")
    args = ap.parse_args(argv)
    for f in (args.weights, args.fakes, args.reals):
        if not f.is_file():
            print(f"{f}: not found", file=sys.stderr)
            return 2
    torch.set_num_threads(2)
    loaded = read_weights(args.weights)
    net = build_model(config_of(loaded))
    load_into(net, {k: v.float() if v.is_floating_point() else v for k, v in loaded.state_dict.items()},
              str(args.weights))
    rows = []
    print("| label | image | size | exported (running statistics) | image-level step (its own statistics) |")
    print("| --- | --- | --- | --- | --- |")
    for label, list_file in ((1, args.fakes), (0, args.reals)):
        for rel in first_paths(list_file, args.n):
            image = whole_image(args.data / rel)
            exported, trained = statistic_both_ways(net, image, args.topk)
            rows.append((label, exported, trained))
            size = "x".join(str(s) for s in image.shape[-2:])
            print(f"| {'fake' if label else 'real'} | {Path(rel).name} | {size} | {exported:+.3f} | {trained:+.3f} |",
                  flush=True)
    r = np.array(rows)
    print(f"\n{len(r)} images: correlation of the two statistics {np.corrcoef(r[:, 1], r[:, 2])[0, 1]:+.3f}; "
          f"AUC fakes vs originals: exported {roc_auc_score(r[:, 0], r[:, 1]):.3f}, "
          f"image-level step {roc_auc_score(r[:, 0], r[:, 2]):.3f}; mean |difference| "
          f"{np.abs(r[:, 1] - r[:, 2]).mean():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
