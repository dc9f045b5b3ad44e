"""``trufor visualize``: draw image | localization map | confidence map (| mask) from an ``.npz``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import TruForError
from ._common import console, fail


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "visualize",
        help="draw an image with its localization and confidence maps",
        description="Draw IMAGE | localization map | confidence map (| ground-truth MASK) from a result .npz "
                    "written by `trufor detect` or by the official tool. The title shows the integrity score.",
    )
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("npz", metavar="NPZ")
    p.add_argument("--mask", "-m", default=None, metavar="MASK", help="ground-truth mask to show beside the maps")
    p.add_argument("-o", "--output", default=None, metavar="PNG",
                   help="where to write the figure (default: <NPZ without .npz>.figure.png)")
    p.add_argument("--overlay", default=None, metavar="PNG", help="also write the heat-map overlay here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..visualize import result_figure, save_figure, save_overlay

    npz = Path(args.npz)
    try:
        with np.load(npz, allow_pickle=False) as data:
            result = {k: data[k] for k in data.files}
    except FileNotFoundError:
        return fail(f"{npz}: file not found")
    except Exception as exc:
        return fail(f"{npz}: not a readable .npz result ({type(exc).__name__}: {exc})")
    if "map" not in result:
        return fail(f"{npz}: no 'map' array: not a TruFor result")
    out = Path(args.output) if args.output else npz.with_name(npz.name.removesuffix(".npz") + ".figure.png")
    try:
        fig = result_figure(result, image=args.image, mask=args.mask, title=Path(args.image).name)
        save_figure(fig, out)
        if args.overlay:
            save_overlay(args.image, result["map"], args.overlay)
    except TruForError as exc:
        return fail(str(exc))
    console().print(f"wrote {out}" + (f" and {args.overlay}" if args.overlay else ""))
    return 0
