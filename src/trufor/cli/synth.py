"""``trufor synth``: write synthetic forgeries (images, exact masks, list files) from pristine photos."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import TruForError


def _kinds(text: str) -> tuple[str, ...]:
    from ..synthesis.forgeries import KINDS

    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"unknown kind(s) {', '.join(bad) or '(none)'}; choose from {','.join(KINDS)}")
    return kinds


def _shapes(text: str) -> tuple[str, ...]:
    from ..synthesis.regions import SHAPES

    shapes = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in shapes if k not in SHAPES]
    if bad or not shapes:
        raise argparse.ArgumentTypeError(
            f"unknown region shape(s) {', '.join(bad) or '(none)'}; choose from {','.join(SHAPES)}")
    return shapes


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "synth",
        help="generate synthetic forgeries with exact masks from a folder of pristine photos",
        description=(
            "Generate N synthetic samples (splicing, copy-move, inpainting, retouching, and pristine "
            "negatives) from the photos under SRC (jpg/png/tif, recursively), through a resize + crop + "
            "JPEG chain. Writes OUT/fake/*, OUT/masks/* (PNG 0/255), OUT/real/*, OUT/fake_list.txt "
            "('image,mask' per line), OUT/real_list.txt ('image' per line) and OUT/manifest.csv. "
            "Sample i is the same as item i of trufor.synthesis.SyntheticForgeryDataset with the same seed "
            "and settings (epoch 0). See docs/SYNTHESIS.md."
        ),
    )
    p.add_argument("src", metavar="SRC", help="folder of pristine photos (scanned recursively)")
    p.add_argument("out", metavar="OUT", help="output folder (created if needed)")
    p.add_argument("-n", type=int, required=True, metavar="N", help="number of samples to write")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--kinds", type=_kinds, default=None, metavar="LIST",
        help="comma-separated forgery kinds (default: splice,copymove,inpaint,retouch)",
    )
    p.add_argument(
        "--shapes", type=_shapes, default=None, metavar="LIST",
        help="comma-separated region shapes every kind draws from (default: polygon,blob,segment; "
             "segment follows the photo's content, as an object would)",
    )
    p.add_argument(
        "--pristine-fraction", type=_fraction, default=0.2, metavar="P",
        help="fraction of pristine (real) samples, 0..1 (default 0.2)",
    )
    p.add_argument(
        "--donor-jpeg", type=_fraction, default=0.0, metavar="P",
        help="probability that a splice donor first gets a JPEG history of its own (quality 50-95, grid "
             "shifted by 0-7 px), as a region copied from a web image (default 0)",
    )
    p.add_argument(
        "--web-scale", type=_fraction, default=0.0, metavar="P",
        help="probability that a sample is edited at web scale: host and donor first downscaled to a longer "
             "side of 384-1024 px and saved as JPEG (quality 60-95, 30%% of them twice), as a photo found "
             "online (default 0)",
    )
    p.add_argument(
        "--web-pristine", type=_fraction, default=None, metavar="P",
        help="fraction of pristine samples among the web-scale ones (default: --pristine-fraction), so that a "
             "web history can be as often authentic as edited",
    )
    p.add_argument(
        "--gradient-blend", type=_fraction, default=0.0, metavar="P",
        help="probability that a splice or copy-move is pasted in the gradient domain (Poisson blending, as a "
             "seamless paste or a healing brush: no seam, the host's colours at the border) instead of an alpha "
             "blend (default 0)",
    )
    p.add_argument(
        "--size", type=int, default=512, metavar="PX",
        help="crop outputs to at most PX x PX (default 512; 0 = no crop)",
    )
    p.add_argument("--start", type=int, default=0, metavar="I", help="index of the first sample (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..synthesis.forgeries import KINDS
    from ..synthesis.regions import SHAPES
    from ..synthesis.synthetic import SynthConfig, scan_sources, write_dataset

    if args.n < 0 or args.start < 0:
        print("trufor synth: -n and --start must not be negative", file=sys.stderr)
        return 2
    if args.size < 0 or 0 < args.size < 8:
        print("trufor synth: --size must be 0 (no crop) or at least 8", file=sys.stderr)
        return 2
    try:
        sources = scan_sources(args.src)
    except FileNotFoundError as exc:
        print(f"trufor synth: {exc}", file=sys.stderr)
        return 2
    if not sources:
        print(f"trufor synth: {args.src}: no jpg/png/tif images found", file=sys.stderr)
        return 2
    config = SynthConfig(
        kinds=args.kinds or KINDS, pristine_fraction=args.pristine_fraction, size=args.size or None,
        donor_jpeg_prob=args.donor_jpeg, web_prob=args.web_scale, shapes=args.shapes or SHAPES,
        gradient_prob=args.gradient_blend, web_pristine_fraction=args.web_pristine,
    )
    n_cam = sum(s.camera is not None for s in sources)
    if not args.quiet:
        print(f"{len(sources)} source images ({n_cam} with EXIF camera model) in {args.src}", file=sys.stderr)

    def progress(index, sample):
        if not args.quiet and ((index - args.start + 1) % 50 == 0 or index == args.start + args.n - 1):
            print(f"  {index - args.start + 1}/{args.n}", file=sys.stderr)

    try:
        counts = write_dataset(
            sources, args.out, args.n, seed=args.seed, config=config, start=args.start, progress=progress
        )
    except TruForError as exc:
        print(f"trufor synth: {exc}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"wrote {args.n} samples to {os.path.abspath(args.out)} ({summary or 'none'})")
    return 0
