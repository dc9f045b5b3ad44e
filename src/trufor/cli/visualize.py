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
    problem = _check_result(result)
    if problem:
        return fail(f"{npz}: not a TruFor result: {problem}")
    if "score" in result:
        result["score"] = result["score"].reshape(())
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


def _check_result(result: dict) -> str | None:
    """What makes the arrays of an npz unusable for a figure, or None when they are fine."""
    if "map" not in result:
        return "no 'map' array"
    heat = result["map"]
    if heat.dtype.kind not in "fiub" or heat.ndim != 2 or 0 in heat.shape:
        return f"'map' is a {heat.dtype} array of shape {heat.shape}, expected a non-empty 2-D array of numbers"
    conf = result.get("conf")
    if conf is not None and (conf.dtype.kind not in "fiub" or conf.shape != heat.shape):
        return f"'conf' is a {conf.dtype} array of shape {conf.shape}, expected numbers shaped like 'map' {heat.shape}"
    score = result.get("score")
    if score is not None and (score.dtype.kind not in "fiub" or score.size != 1):
        return f"'score' is a {score.dtype} array of shape {score.shape}, expected a single number"
    return None
