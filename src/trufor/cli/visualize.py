"""``trufor visualize``: draw image | ground truth | Noiseprint++ | localization | confidence from an ``.npz``.

Two command lines, told apart by ``--image``:

* ``trufor visualize IMAGE NPZ [--mask M] [-o PNG]``: writes the figure to PNG (default
  ``<NPZ without .npz>.figure.png``);
* ``trufor visualize --image IMAGE --output NPZ [--mask M]``: the authors' ``visualize.py`` unchanged,
  where ``--output`` names the result ``.npz``; the figure opens in a window when a display exists,
  else it is written to ``<NPZ without .npz>.figure.png`` (or ``--figure PNG``), and the path is printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import TruForError
from ._common import console, fail


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "visualize",
        help="draw an image with its Noiseprint++, localization and confidence maps",
        description="Draw IMAGE | ground-truth MASK | Noiseprint++ | localization map | confidence map (the panels "
                    "of the authors' visualize.py, each when available; Noiseprint++ when the npz holds np++, "
                    "e.g. from detect --save-np) from a result .npz written by `trufor detect` or by the "
                    "official tool. The title shows the integrity score.\n\n"
                    "Two forms: `trufor visualize IMAGE NPZ [-o PNG]` writes the figure (-o/--output names the "
                    "PNG); `trufor visualize --image IMAGE --output NPZ` is the authors' command line: there "
                    "--output names the .npz to read, and the figure opens in a window when a display exists, "
                    "else it is written to <NPZ without .npz>.figure.png (or --figure PNG). The form is chosen "
                    "by --image; mixing them (e.g. IMAGE NPZ with an --output ending in .npz) is an error.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("image", metavar="IMAGE", nargs="?", help="the analysed image (first form)")
    p.add_argument("npz", metavar="NPZ", nargs="?", help="its result .npz (first form)")
    p.add_argument("--image", dest="image_flag", default=None, metavar="IMAGE",
                   help="the analysed image (authors' form; then --output names the .npz)")
    p.add_argument("--mask", "-m", default=None, metavar="MASK", help="ground-truth mask to show beside the maps")
    p.add_argument("-o", "--output", default=None, metavar="PNG_OR_NPZ",
                   help="first form: where to write the figure (default: <NPZ without .npz>.figure.png); "
                        "with --image: the result .npz to read (as in the authors' visualize.py)")
    p.add_argument("--figure", default=None, metavar="PNG",
                   help="write the figure here instead of showing a window (authors' form)")
    p.add_argument("--overlay", default=None, metavar="PNG", help="also write the heat-map overlay here")
    p.set_defaults(func=run)


def _forms(args: argparse.Namespace) -> tuple[str, Path, Path | None, bool]:
    """``(image, npz, figure file or None, official form)``; raises TruForError on a mixed command line."""
    if args.image_flag is not None:
        if args.image is not None or args.npz is not None:
            raise TruForError("give either IMAGE NPZ (positional) or --image IMAGE --output NPZ, not both")
        if not args.output:
            raise TruForError("--image needs --output NPZ: the result file to draw (the authors' command line)")
        if not args.output.lower().endswith(".npz"):
            raise TruForError(f"with --image, --output names the result .npz to read (the authors' command "
                              f"line), got {args.output!r}; to choose the figure file use --figure PNG")
        return args.image_flag, Path(args.output), Path(args.figure) if args.figure else None, True
    if args.image is None:
        raise TruForError("nothing to draw: trufor visualize IMAGE NPZ [-o PNG], or --image IMAGE --output NPZ")
    if args.npz is None:
        if args.output and args.output.lower().endswith(".npz"):
            raise TruForError(f"ambiguous: is {args.output!r} the result to read or the figure to write? For the "
                              "authors' command line write --image IMAGE --output NPZ; else IMAGE NPZ -o PNG")
        raise TruForError("missing NPZ: trufor visualize IMAGE NPZ [-o PNG]")
    if args.output and args.output.lower().endswith(".npz"):
        raise TruForError(f"ambiguous: -o/--output names the figure in `trufor visualize IMAGE NPZ -o PNG`, but "
                          f"{args.output!r} ends in .npz; write the figure to a .png (or use --image IMAGE "
                          "--output NPZ to read that file)")
    figure = Path(args.output or args.figure) if (args.output or args.figure) else None
    return args.image, Path(args.npz), figure, False


def run(args: argparse.Namespace) -> int:
    from ..results import AnalysisResult
    from ..visualize import open_windows, result_figure, save_figure, save_overlay, show

    try:
        image, npz, figure, official = _forms(args)
        result = AnalysisResult.from_npz(npz, image=image)
    except TruForError as exc:
        return fail(str(exc))
    out = figure or npz.with_name(npz.name.removesuffix(".npz") + ".figure.png")
    window = official and figure is None and open_windows()
    try:
        fig = result_figure(result, image=image, mask=args.mask, title=Path(image).name)
        if window:
            show(fig)
        else:
            save_figure(fig, out)
        if args.overlay:
            save_overlay(image, result.map, args.overlay)
    except TruForError as exc:
        return fail(str(exc))
    if window:
        console().print("figure shown in a window" + (f"; wrote {args.overlay}" if args.overlay else ""))
    else:
        prefix = "no display: figure written to " if official and figure is None else "wrote "
        console().print(f"{prefix}{out}" + (f" and {args.overlay}" if args.overlay else ""))
    return 0
