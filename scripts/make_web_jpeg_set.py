#!/usr/bin/env python
"""Write web-sized JPEG copies of authentic photos: the form most photos reach a fact-checker in.

Photos shared online are downscaled and re-compressed, often several times; a detector whose score
rises with that history flags authentic pictures. This writes, for each photo of a list (paths relative
to the data root, e.g. ``out/lists/heldout_real.txt``), one copy with its longer side drawn from
``--sides`` (never enlarged), EXIF dropped, saved as JPEG at a quality drawn from ``--quality`` (4:2:0
chroma, PIL's default), a second time with probability ``--twice`` (at another quality). Draws are seeded by
file name, so a rerun writes the same files. Output: ``OUT/web__<first two folders>/<path with / as __>.jpg``
(one folder per source group, so that ``trufor train calibrate --groups folder`` bounds the false positives of
each kind of photo on its own) and ``OUT/real_list.txt`` (the authors' list layout, relative to OUT), for
``trufor eval`` and calibration:

    python scripts/make_web_jpeg_set.py out/lists/heldout_real.txt out/testsets/web_jpeg_heldout
    python scripts/make_web_jpeg_set.py out/lists/calib_groups_real.txt out/testsets/web_jpeg_calib

Only held-out photos make the held-out copies and only calibration-part photos the calibration copies
(the lists of ``scripts/make_heldout_lists.py``), so the split of the originals carries over.

``--fakes LIST [LIST ...]`` adds manipulated images (lists of ``image,mask`` lines, the mask ``None`` or absent when
unknown): each gets a copy drawn the same way (the draws do not depend on the label, so after it the final size and
quality say nothing about it), its mask resized with it (nearest neighbour; written as ``<copy>.mask.png``, 0/255,
forged where the source mask is > 127), listed in ``OUT/fake_list.txt``. The real-life judge re-saved alike:

    python scripts/make_web_jpeg_set.py out/lists/imd2020_val_real.txt out/lists/imd2020_calib_real.txt \
        out/testsets/web_jpeg_judge --fakes out/lists/imd2020_val_fake.txt out/lists/imd2020_calib_fake.txt
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from trufor.synthesis.processing import web_copy
from trufor.training.config import find_repo_root, shared_root


def rng_for(name: str, seed: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{name}".encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("lists", nargs="+", metavar="LIST", help="lists of authentic photos, paths relative to --root")
    p.add_argument("out", help="output folder")
    p.add_argument("--fakes", nargs="+", default=[], metavar="LIST",
                   help="lists of manipulated images (image,mask per line; mask None when unknown)")
    p.add_argument("--root", default=None, help="data root (default: ../shared/data)")
    p.add_argument("--sides", default="384,512,640,800,1024", help="longer sides to draw from")
    p.add_argument("--quality", default="60,95", help="JPEG quality range, inclusive")
    p.add_argument("--twice", type=float, default=0.3, help="probability of a second compression")
    p.add_argument("--seed", type=int, default=20261204)
    args = p.parse_args(argv)
    root = Path(args.root) if args.root else shared_root(find_repo_root()) / "data"
    sides = [int(s) for s in args.sides.split(",")]
    lo, hi = (int(q) for q in args.quality.split(","))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names, fakes, failed = [], [], 0
    entries = [(line, False) for lst in args.lists for line in Path(lst).read_text(encoding="utf-8").splitlines()]
    entries += [(line, True) for lst in args.fakes for line in Path(lst).read_text(encoding="utf-8").splitlines()]
    for line, fake in entries:
        fields = [f.strip() for f in line.split(",")]
        rel = fields[0]
        if not rel:
            continue
        mask_rel = fields[1] if fake and len(fields) > 1 and fields[1] not in ("", "None") else None
        src = root / rel
        folder = "web__" + "__".join(rel.split("/")[:2])
        name = folder + "/" + rel.replace("/", "__").rsplit(".", 1)[0] + ".jpg"
        try:
            with Image.open(src) as image:
                pixels = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
            mask = None
            if mask_rel is not None:
                with Image.open(root / mask_rel) as m:
                    mask = (np.asarray(m.convert("L")) > 127).astype(np.uint8)
                if mask.shape != pixels.shape[:2]:
                    raise ValueError(f"mask {mask_rel} is {mask.shape[1]}x{mask.shape[0]}, the image "
                                     f"{pixels.shape[1]}x{pixels.shape[0]}")
            _, mask, data, what = web_copy(pixels, rng_for(rel, args.seed), sides=tuple(sides),
                                           quality_range=(lo, hi), twice=args.twice, mask=mask)
        except (OSError, ValueError) as exc:
            print(f"{src}: skipped ({exc})", file=sys.stderr)
            failed += 1
            continue
        (out / folder).mkdir(exist_ok=True)
        tmp = out / folder / f".{Path(name).name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(out / name)
        if not fake:
            names.append(name)
            continue
        mask_name = "None"
        if mask is not None:
            mask_name = name.rsplit(".", 1)[0] + ".mask.png"
            tmp = out / folder / f".{Path(mask_name).name}.tmp"
            Image.fromarray(mask * 255).save(tmp, format="PNG")
            tmp.replace(out / mask_name)
        fakes.append(f"{name},{mask_name}")
    (out / "real_list.txt").write_text("".join(n + "\n" for n in names), encoding="utf-8")
    (out / "fake_list.txt").write_text("".join(n + "\n" for n in fakes), encoding="utf-8")
    print(f"{out}: {len(names)} web-sized copies of authentic photos, {len(fakes)} of manipulated ones "
          f"({failed} unreadable)")
    return 0 if names or fakes else 1


if __name__ == "__main__":
    raise SystemExit(main())
