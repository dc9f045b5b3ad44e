#!/usr/bin/env python
"""The IMD2020 subset's manipulated photos paired with their originals, the parts each falls in, and derived masks.

The subset's SOURCE.txt says its 100 originals are originals of other manipulations; in fact many are the very
photos its fakes were made from (``trufor.evaluation.pairs``). The bundled model's split is by file name
(``scripts/make_heldout_lists.py``), so a pair may straddle the training side and a held-out part. This script:

* finds the pairs (``find_pairs``: thumbnails, then ORB keypoints for resized or cropped fakes) and writes
  ``OUT/imd2020_pairs.csv``: fake, original, distance, geometry, inliers, the part of each (train / val / calib),
  whether the pair crosses from the training side into a held-out part (``leak``: the held-out member's partner was
  trained on), and for the fakes with a hand-made mask the agreement of the derived mask with it (F1, IoU);
* writes a mask derived from the difference (``difference_mask``) for every paired fake to
  ``OUT/imd2020_derived_masks/<stem>_mask.png`` (0/255);
* writes ``OUT/imd2020_derived_list.txt`` (the authors' list format, images relative to the subset, masks as
  absolute paths; pass ``root:`` the subset in a training config): the fakes without a hand-made mask whose derived
  mask covers at most ``REGION_MAX_FRACTION`` of the image (larger: a new background, or the original was the donor);
  a list source splits it by image name as it splits the subset's own lists;
* writes ``OUT/imd2020_matched_originals.txt`` (same format; a list source with ``focus: true``): the originals of
  the pairs whose fake and original are both on the training side and of the same geometry (the fake is the original
  edited in place), each with its fake's derived mask (at most ``REGION_MAX_FRACTION`` of the image) as the region to
  crop around: authentic crops of the very content the fake changed (run 34);
* writes ``OUT/imd2020_training_pair_fakes.txt`` and ``OUT/imd2020_training_pair_originals.txt`` (images relative
  to the subset, one per line, in the same order: line i of one is the fake made from line i of the other): the pairs
  whose two members are both on the training side, for an image-level stream whose two labels share their content,
  so that only the edit tells them apart (run 50);
* prints the counts of pairs by parts, and the agreement of derived and hand-made masks.

Usage: python scripts/imd2020_pairs.py [OUT_DIR] [--from-csv] (default out/lists; data from $TRUFOR_SHARED or
../shared). ``--from-csv`` reads the pairs from ``OUT/imd2020_pairs.csv`` (and its derived masks) instead of finding
them again, and writes the lists only.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_heldout_lists import imd_part, read_list  # noqa: E402

from trufor.evaluation.pairs import REGION_MAX_FRACTION, align, difference_mask, find_pairs  # noqa: E402
from trufor.imageio import read_image  # noqa: E402
from trufor.masks import read_mask  # noqa: E402
from trufor.training.config import find_repo_root, shared_root  # noqa: E402

FIELDS = ["fake", "original", "distance", "geometry", "inliers", "fake_part", "original_part", "leak",
          "derived_mask", "derived_fraction", "hand_fraction", "f1_vs_hand", "iou_vs_hand"]


def agreement(derived: np.ndarray, hand: np.ndarray) -> tuple[float, float]:
    """F1 and IoU of the derived mask against the hand-made one (same size)."""
    tp = float((derived & hand).sum())
    fp, fn = float((derived & ~hand).sum()), float((~derived & hand).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    iou = tp / (tp + fp + fn) if tp + fp + fn else 1.0
    return f1, iou


def _write(path: Path, lines: list[str]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)


def write_lists(out: Path, rows: list[dict], hand: dict[str, str]) -> tuple[list[str], list[str]]:
    """Write ``imd2020_derived_list.txt`` and ``imd2020_matched_originals.txt`` from the pairs' rows; return their
    lines."""
    def small(r: dict) -> bool:
        return bool(r.get("derived_mask")) and float(r["derived_fraction"]) <= REGION_MAX_FRACTION

    listed = [f"{r['fake']},{(out / r['derived_mask']).resolve()}" for r in rows if small(r) and r["fake"] not in hand]
    matched = [f"{r['original']},{(out / r['derived_mask']).resolve()}" for r in rows if small(r)
               and r["geometry"] == "same" and r["fake_part"] == r["original_part"] == "train"]
    _write(out / "imd2020_derived_list.txt", listed)
    _write(out / "imd2020_matched_originals.txt", matched)
    return listed, matched


def write_pair_lists(out: Path, rows: list[dict]) -> list[tuple[str, str]]:
    """Write ``imd2020_training_pair_fakes.txt`` and ``imd2020_training_pair_originals.txt``: the pairs with both
    members on the training side, line for line; return them as (fake, original)."""
    both = [(r["fake"], r["original"]) for r in rows if r["fake_part"] == r["original_part"] == "train"]
    _write(out / "imd2020_training_pair_fakes.txt", [f for f, _ in both])
    _write(out / "imd2020_training_pair_originals.txt", [o for _, o in both])
    return both


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if a != "--from-csv"]
    out = Path(args[0]) if args else find_repo_root() / "out" / "lists"
    imd = shared_root(find_repo_root()) / "data" / "forgeries" / "imd2020_subset"
    if not imd.is_dir():
        print(f"{imd}: not found (set TRUFOR_SHARED)", file=sys.stderr)
        return 2
    hand = {}
    for line in read_list(imd / "fake_list.txt"):
        image, mask = (p.strip() for p in line.split(","))
        hand[image] = mask
    if "--from-csv" in argv:
        try:
            with open(out / "imd2020_pairs.csv", newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        except OSError as exc:
            print(f"{out / 'imd2020_pairs.csv'}: cannot read ({exc.strerror or exc}); run without --from-csv",
                  file=sys.stderr)
            return 2
        listed, matched = write_lists(out, rows, hand)
        both = write_pair_lists(out, rows)
        print(f"{len(listed)} fakes given a derived mask, {len(matched)} matched originals, {len(both)} training-side "
              f"pairs: {out}")
        return 0
    fakes = {name: read_image(imd / name).pixels
             for name in [*hand, *read_list(imd / "fake_without_mask_list.txt")]}
    originals = {name: read_image(imd / name).pixels for name in read_list(imd / "real_list.txt")}
    pairs = find_pairs(fakes, originals)
    masks_dir = out / "imd2020_derived_masks"
    masks_dir.mkdir(parents=True, exist_ok=True)
    rows, crossing = [], Counter()
    for p in pairs:
        fp, op = imd_part(p.fake), imd_part(p.original)
        crossing[(fp, op)] += 1
        row = {"fake": p.fake, "original": p.original, "distance": f"{p.distance:.1f}", "geometry": p.geometry,
               "inliers": p.inliers, "fake_part": fp, "original_part": op,
               "leak": int((fp == "train") != (op == "train"))}
        try:
            derived = difference_mask(fakes[p.fake], *align(fakes[p.fake], originals[p.original]))
        except ValueError as exc:
            print(f"{p.fake}: no derived mask ({exc})", file=sys.stderr)
            rows.append(row)
            continue
        path = masks_dir / f"{Path(p.fake).stem}_mask.png"
        tmp = path.with_suffix(".tmp.png")
        Image.fromarray(derived.astype(np.uint8) * 255).save(tmp)
        tmp.replace(path)
        row |= {"derived_mask": path.relative_to(out).as_posix(), "derived_fraction": f"{derived.mean():.4f}"}
        if p.fake in hand:
            h = read_mask(imd / hand[p.fake])
            if h.shape == derived.shape:
                f1, iou = agreement(derived, h)
                row |= {"hand_fraction": f"{h.mean():.4f}", "f1_vs_hand": f"{f1:.3f}", "iou_vs_hand": f"{iou:.3f}"}
        rows.append(row)
    listed, matched = write_lists(out, rows, hand)
    both = write_pair_lists(out, rows)
    derived_list = out / "imd2020_derived_list.txt"
    target = out / "imd2020_pairs.csv"
    tmp = target.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(target)
    print(f"{len(pairs)} of {len(fakes)} manipulated photos paired with one of the {len(originals)} originals "
          f"({Counter(p.geometry for p in pairs)}); {target}")
    print("pairs by (fake part, original part): " + ", ".join(f"{a}/{b} {n}" for (a, b), n in sorted(crossing.items())))
    print(f"pairs crossing between the training side and a held-out part: {sum(int(r['leak']) for r in rows)}")
    print(f"{len(listed)} fakes without a hand-made mask given a derived one: {derived_list}")
    print(f"{len(matched)} training-side originals to crop where their fake was edited: "
          f"{out / 'imd2020_matched_originals.txt'}")
    print(f"{len(both)} pairs with both members on the training side: {out / 'imd2020_training_pair_fakes.txt'}, "
          f"{out / 'imd2020_training_pair_originals.txt'}")
    f1s = [float(r["f1_vs_hand"]) for r in rows if r.get("f1_vs_hand")]
    if f1s:
        print(f"derived vs hand-made masks, {len(f1s)} fakes with both: F1 median {np.median(f1s):.3f}, "
              f"mean {np.mean(f1s):.3f}, share >= 0.5 {np.mean(np.array(f1s) >= 0.5):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
