#!/usr/bin/env python
"""Pack the training side of ../shared/data into small lossless crops, for a machine the data must travel to.

    python scripts/pack_crops.py OUT [--data ../shared/data] [--camera 512] [--other 768] [--no-bsds] [--digicam 0]

Used for the GPU run of the bundled model (configs/lite0_run5_gpu_phase{2,3}.yaml), whose machine takes only
a few tens of MB of files. OUT/data/... mirrors the folder layout and file names of the data root, so the same
configs run with ``TRUFOR_SHARED=OUT`` and every hash split by name (held-out, calibration) is unchanged.

Crops keep the forensic traces: a JPEG is cut with ``jpegtran -crop`` at an offset that is a multiple of 16
(the MCU), which copies the DCT coefficients as they are (no re-compression, same 8x8 grid phase, EXIF kept);
PNG files and masks are cut as pixels. Taken:
  * pristine/camera: every photo (the held-out 10 % serve validation there), one centred crop of --camera px;
  * pristine/digicam (with --digicam N > 0, for phase 1): every photo, one centred crop of N px without its
    metadata (maker notes of up to 700 kB; the camera model comes from manifest.csv, copied beside);
  * pristine/wallpapers and (unless --no-bsds) pristine/bsds500: the training 90 % only, crops of --other px;
  * forgeries/imd2020_subset: the training part of fake_list.txt and real_list.txt only (holdout 0.4 by
    name: the held-out and calibration parts never leave this machine), crops of --other px centred on the
    mask's forged region; the list files are rewritten with the entries taken.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from trufor.imageio import scan_images
from trufor.training.data import held_out, list_pairs

MCU = 16


def _window(size: tuple[int, int], crop: int, centre: tuple[float, float] | None = None) -> tuple[int, int, int, int]:
    """(x, y, w, h) of a crop at most ``crop`` px a side, its corner on the MCU grid, around ``centre``."""
    width, height = size
    w, h = min(crop, width), min(crop, height)
    cx, cy = centre if centre is not None else (width / 2, height / 2)
    x = int(np.clip(cx - w / 2, 0, width - w)) // MCU * MCU
    y = int(np.clip(cy - h / 2, 0, height - h)) // MCU * MCU
    return x, y, w, h


def _crop_file(src: Path, dst: Path, window: tuple[int, int, int, int], metadata: str = "all") -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    x, y, w, h = window
    if src.suffix.lower() in (".jpg", ".jpeg"):
        subprocess.run(["jpegtran", "-copy", metadata, "-crop", f"{w}x{h}+{x}+{y}", "-outfile", str(dst), str(src)],
                       check=True)
    else:
        with Image.open(src) as im:
            im.crop((x, y, x + w, y + h)).save(dst)


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


def pack_folder(data: Path, out: Path, folder: str, crop: int, holdout: float, metadata: str = "all") -> int:
    n = 0
    for path, name in scan_images(data / folder):
        if holdout and held_out(name, holdout):
            continue
        _crop_file(path, out / folder / name, _window(_size(path), crop), metadata)
        n += 1
    if (data / folder / "manifest.csv").exists():  # digicam's camera models by source folder
        shutil.copy2(data / folder / "manifest.csv", out / folder / "manifest.csv")
    return n


def pack_list(data: Path, out: Path, list_file: str, crop: int, holdout: float) -> int:
    src_list = data / list_file
    kept = []
    for pair in list_pairs(str(src_list)):
        if held_out(pair.name, holdout):
            continue
        image = Path(pair.image)
        centre = None
        if pair.mask:
            mask = np.asarray(Image.open(pair.mask).convert("L")) > 127
            if mask.shape[::-1] == _size(image) and mask.any():
                ys, xs = np.nonzero(mask)
                centre = ((xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2)
        window = _window(_size(image), crop, centre)
        rel_image = image.relative_to(src_list.parent)
        _crop_file(image, out / src_list.parent.relative_to(data) / rel_image, window)
        line = str(rel_image)
        if pair.mask:
            rel_mask = Path(pair.mask).relative_to(src_list.parent)
            mask_out = out / src_list.parent.relative_to(data) / rel_mask
            mask_out.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(pair.mask) as m:
                if m.size == _size(image):
                    x, y, w, h = window
                    m = m.crop((x, y, x + w, y + h))
                m.save(mask_out)
            line += f",{rel_mask}"
        kept.append(line)
    (out / list_file).parent.mkdir(parents=True, exist_ok=True)
    (out / list_file).write_text("\n".join(kept) + "\n", encoding="utf-8")
    return len(kept)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    p.add_argument("--camera", type=int, default=512, help="crop side for pristine/camera (default 512)")
    p.add_argument("--other", type=int, default=768, help="crop side for the other folders (default 768)")
    p.add_argument("--no-bsds", action="store_true", help="leave pristine/bsds500 out")
    p.add_argument("--digicam", type=int, default=0,
                   help="crop side for pristine/digicam, whose photos phase 1 needs (default 0: left out)")
    args = p.parse_args()
    if shutil.which("jpegtran") is None:
        sys.exit("jpegtran not found: install libjpeg-turbo-progs (Debian) or libjpeg-turbo (conda, brew)")
    out = args.out / "data"
    counts = {
        "pristine/camera": pack_folder(args.data, out, "pristine/camera", args.camera, 0.0),
        "pristine/wallpapers": pack_folder(args.data, out, "pristine/wallpapers", args.other, 0.1),
    }
    if args.digicam > 0:
        counts["pristine/digicam"] = pack_folder(args.data, out, "pristine/digicam", args.digicam, 0.0, "none")
    if not args.no_bsds:
        counts["pristine/bsds500"] = pack_folder(args.data, out, "pristine/bsds500", args.other, 0.1)
    for name in ("fake_list.txt", "real_list.txt"):
        counts[name] = pack_list(args.data, out, f"forgeries/imd2020_subset/{name}", args.other, 0.4)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    for k, v in counts.items():
        print(f"{k}: {v} files")
    print(f"{out}: {size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
