#!/usr/bin/env python
"""Write the held-out synthetic test set of the model card (or, with ``--part train``, its training-side twin).

Forgeries are made only from the photos that training held out (the same hash-based 10 % holdout of
``configs/bundled_phase*.yaml``), with a seed no training run uses, so no test pixel was seen in
training. ``--part train`` takes the other 90 % instead (the photos training used), for fitting the
detection head on whole images (``trufor train fit-head``, docs/TRAINING.md); use another seed.
Output: the authors' list-file layout (fake_list.txt, real_list.txt), for `trufor eval`:

    python scripts/make_synthetic_testset.py out/testsets/synthetic_holdout -n 300
    trufor eval list:out/testsets/synthetic_holdout/fake_list.txt,out/testsets/synthetic_holdout/real_list.txt \
        --root out/testsets/synthetic_holdout -o out/reports/synthetic_holdout
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trufor.synthesis import SynthConfig, scan_sources, write_dataset
from trufor.training.data import held_out

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("camera", "bsds500", "wallpapers")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("-n", type=int, default=300)
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument("--holdout", type=float, default=0.1)
    p.add_argument("--size", type=int, default=512, help="crop size (0 = whole images)")
    p.add_argument("--shared", default=str(REPO.parent / "shared"))
    p.add_argument("--donor-jpeg", type=float, default=0.0,
                   help="probability that a splice donor has a JPEG history of its own (trufor synth --donor-jpeg)")
    p.add_argument("--web-scale", type=float, default=0.0,
                   help="probability that a sample is edited at web scale (trufor synth --web-scale)")
    p.add_argument("--gradient-blend", type=float, default=0.0,
                   help="probability that a splice or copy-move is pasted in the gradient domain "
                        "(trufor synth --gradient-blend)")
    p.add_argument("--part", choices=("heldout", "train"), default="heldout",
                   help="heldout (default): photos every training phase held out; train: the others")
    p.add_argument("--kinds", default=None, help="comma-separated forgery kinds (default: all)")
    args = p.parse_args()
    sources = []
    for folder in FOLDERS:
        sources += [s for s in scan_sources(Path(args.shared) / "data" / "pristine" / folder)
                    if held_out(s.name, args.holdout) == (args.part == "heldout")]
    print(f"{len(sources)} {'held-out' if args.part == 'heldout' else 'training-side'} photos")
    extra = {"kinds": tuple(args.kinds.split(","))} if args.kinds else {}
    config = SynthConfig(size=args.size or None, pristine_fraction=0.4, donor_jpeg_prob=args.donor_jpeg,
                         web_prob=args.web_scale, gradient_prob=args.gradient_blend, **extra)
    counts = write_dataset(sources, args.out, args.n, seed=args.seed, config=config)
    print(counts)


if __name__ == "__main__":
    main()
