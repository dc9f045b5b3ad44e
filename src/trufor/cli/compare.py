"""``trufor compare SUSPECT ORIGINAL``: where a suspect image differs from the photo it may have been made from.

A verification desk often finds a candidate original (a reverse image search, an agency archive, the photographer's
file). This aligns the original onto the suspect (resized, cropped or re-framed: ORB keypoints), matches out a global
colour grade, and writes the changed pixels as a mask and an overlay (``trufor.evaluation.pairs.compare``). It is
evidence of a different kind from the model's map: exact where the original is the true source, silent otherwise.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import TruForError
from ._common import console, fail

GEOMETRY_TEXT = {
    "same": "same size",
    "scaled": "the original resized to the suspect's size",
    "warped": "the original re-framed onto the suspect (keypoints: scale, rotation, shift)",
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="where a suspect image differs from the photo it may have been made from",
        description="Align ORIGINAL onto SUSPECT (same size; resized; or cropped, padded or re-framed, by ORB "
                    "keypoints), match out a global colour grade, and mark where they differ. Writes "
                    "PREFIX.mask.png (white = changed, SUSPECT's size) and PREFIX.overlay.png (SUSPECT with the "
                    "changes in red). A change over more than half of the image is reported as such: a new "
                    "background, a global edit, or an ORIGINAL that was the donor of a pasted object rather than "
                    "the host. No change found says nothing about images ORIGINAL is not the source of.",
    )
    p.add_argument("suspect", metavar="SUSPECT", help="the image under examination")
    p.add_argument("original", metavar="ORIGINAL", help="the photo it may have been made from")
    p.add_argument("-o", "--output", default=None, metavar="PREFIX",
                   help="prefix of the files written (default: SUSPECT's name without extension + '.compare', in "
                        "the current folder)")
    p.add_argument("--threshold", type=float, default=24.0, metavar="T",
                   help="smallest colour difference (0-255, after smoothing) counted as a change (default 24)")
    p.add_argument("--json", action="store_true", help="print the findings as one JSON object")
    p.set_defaults(func=run)


def _overlay(pixels, mask):
    import cv2
    import numpy as np

    out = pixels.astype(np.float32)
    out[mask] = 0.5 * out[mask] + np.array([127.0, 0.0, 0.0])
    out = out.astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    width = max(1, round(min(mask.shape) / 300))
    cv2.drawContours(out, contours, -1, (255, 40, 40), width)
    return out


def _write_png(array, path: Path) -> None:
    from PIL import Image

    tmp = path.with_name(path.name + ".part")
    try:
        Image.fromarray(array).save(tmp, format="PNG")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..evaluation.pairs import compare
    from ..imageio import read_image

    if not args.threshold > 0:
        return fail(f"--threshold must be > 0, got {args.threshold}")
    try:
        suspect = read_image(args.suspect).pixels
        original = read_image(args.original).pixels
    except TruForError as exc:
        return fail(str(exc))
    try:
        found = compare(suspect, original, threshold=args.threshold)
    except ValueError as exc:
        return fail(f"{args.suspect} vs {args.original}: {exc}")
    prefix = Path(args.output) if args.output else Path(Path(args.suspect).stem + ".compare")
    mask_path = prefix.with_name(prefix.name + ".mask.png")
    overlay_path = prefix.with_name(prefix.name + ".overlay.png")
    try:
        mask_path.parent.mkdir(parents=True, exist_ok=True)
        _write_png(found.mask.astype(np.uint8) * 255, mask_path)
        _write_png(_overlay(suspect, found.mask), overlay_path)
    except OSError as exc:
        mask_path.unlink(missing_ok=True)
        return fail(f"cannot write {prefix}.*.png: {exc.strerror or exc}")
    if args.json:
        print(json.dumps({"suspect": args.suspect, "original": args.original, "geometry": found.geometry,
                          "coverage": round(found.coverage, 4), "changed": round(found.changed, 4),
                          "regions": found.regions, "is_region": found.is_region, "mask": str(mask_path),
                          "overlay": str(overlay_path)}))
        return 0
    out = console()
    out.print(f"{args.suspect} vs {args.original}: {GEOMETRY_TEXT[found.geometry]}"
              + (f", covering {found.coverage:.1%} of the suspect" if found.coverage < 0.999 else ""))
    if found.changed == 0:
        out.print("no change found (above the threshold, outside recompression noise)")
    elif found.is_region:
        out.print(f"changed: {found.changed:.1%} of the suspect, in {found.regions} region(s)")
    else:
        out.print(f"changed: {found.changed:.1%} of the suspect: most of the image differs (a new background, a "
                  "global edit, or ORIGINAL is the donor of a pasted object rather than the host)")
    out.print(f"mask: {mask_path}\noverlay: {overlay_path}")
    return 0
