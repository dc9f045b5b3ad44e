#!/usr/bin/env python
"""Write the list files of the held-out sets of the bundled model (docs/MODEL_CARD.md).

The splits are the ones the training configs use (a hash of each file name, functions
``held_out`` and ``in_calibration_part`` of ``trufor.training.data``), so nothing listed here as
``val`` or ``calib`` was trained on:

* IMD2020 subset (real manipulations): ``holdout 0.4, calibration 0.4`` as in configs/lite0_phase*.yaml;
  masked fakes, fakes without a mask (detection only) and originals, each split train / val / calib;
* ``pristine/digicam`` (camera originals, never used in training of any phase of the bundled models):
  half for calibration, half for the false-positive test (by the same calibration hash);
* ``pristine/camera``: the 10 % held out of every phase (``holdout 0.1``): false-positive test only; and the next
  20 % by the same hash (held out at 0.3, not at 0.1: ``camera_calib``), a part of the training side that the
  image-level fine-tunes of run 27 on never draw as whole authentic images (``holdout 0.3`` in their ``image_level``
  camera source), for calibration;
* ``pristine/bsds500`` (scanned film photos, a kind of authentic image that scores high): the 10 % held out
  of every phase, half for calibration and half for the false-positive test (by the calibration hash).

Unions: ``pristine_val_real`` and ``calib_real`` (digicam, camera, IMD2020 originals: the sets of runs 1-4),
``heldout_real`` and ``calib_groups_real`` (the same with the bsds500 halves: run 5 on), ``calib_groups_camera_real``
(the same with ``camera_calib``: run 27 on); ``fit_real``: the
training side's authentic photos (IMD2020 train originals, camera and bsds500 training parts) for re-fitting the
detection head on whole images (``trufor train fit-head``, with ``imd2020_train_fake``; it keeps the whole camera
training part, ``camera_calib`` included, as when runs 6 and 24 used it: a head fitted on it must not be calibrated on
``calib_groups_camera_real``).

Usage: python scripts/make_heldout_lists.py [OUT_DIR] (default out/lists; data from $TRUFOR_SHARED
or ../shared). Writes ``<set>_<part>_fake.txt`` / ``_real.txt`` in the authors' list format, with
paths relative to the data root printed at the end (pass it as ``trufor eval --root``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from trufor.imageio import scan_images
from trufor.training.config import find_repo_root, shared_root
from trufor.training.data import held_out, in_calibration_part

IMD_HOLDOUT, IMD_CALIBRATION = 0.4, 0.4
CAMERA_HOLDOUT = 0.1
CAMERA_CALIB_HOLDOUT = 0.3  # camera_calib: held out at 0.3 but not at 0.1 (the same hash)


def imd_part(name: str) -> str:
    if not held_out(name, IMD_HOLDOUT):
        return "train"
    return "calib" if in_calibration_part(name, IMD_CALIBRATION) else "val"


def read_list(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else find_repo_root() / "out" / "lists"
    data = shared_root(find_repo_root()) / "data"
    imd = data / "forgeries" / "imd2020_subset"
    if not imd.is_dir():
        print(f"{imd}: not found (set TRUFOR_SHARED)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    lists: dict[str, list[str]] = {}
    prefix = "forgeries/imd2020_subset/"
    for line in read_list(imd / "fake_list.txt"):
        image, mask = (p.strip() for p in line.split(","))
        lists.setdefault(f"imd2020_{imd_part(image)}_fake", []).append(f"{prefix}{image},{prefix}{mask}")
    for line in read_list(imd / "fake_without_mask_list.txt"):
        lists.setdefault(f"imd2020_{imd_part(line)}_fake", []).append(f"{prefix}{line},None")
    for line in read_list(imd / "real_list.txt"):
        lists.setdefault(f"imd2020_{imd_part(line)}_real", []).append(prefix + line)
    for path in sorted((data / "pristine" / "digicam").glob("*.[jJ][pP]*[gG]")):
        part = "calib" if in_calibration_part(path.name, 0.5) else "val"
        lists.setdefault(f"digicam_{part}_real", []).append(f"pristine/digicam/{path.name}")
    for path in sorted((data / "pristine" / "camera").rglob("*")):
        name = path.relative_to(data / "pristine" / "camera").as_posix()
        if path.is_file() and path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            part = "val" if held_out(name, CAMERA_HOLDOUT) else "train"
            lists.setdefault(f"camera_{part}_real", []).append(f"pristine/camera/{name}")
            if part == "train" and held_out(name, CAMERA_CALIB_HOLDOUT):  # a subset of camera_train
                lists.setdefault("camera_calib_real", []).append(f"pristine/camera/{name}")
    for path, name in scan_images(data / "pristine" / "bsds500"):
        if not held_out(name, CAMERA_HOLDOUT):
            lists.setdefault("bsds500_train_real", []).append(f"pristine/bsds500/{name}")
        else:
            part = "calib" if in_calibration_part(name, 0.5) else "val"
            lists.setdefault(f"bsds500_{part}_real", []).append(f"pristine/bsds500/{name}")
    for key, lines in sorted(lists.items()):
        (out / f"{key}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{out / (key + '.txt')}: {len(lines)}")
    # The union of the false-positive test sets, and of the calibration set, as single real lists.
    (out / "pristine_val_real.txt").write_text("\n".join(lists.get("digicam_val_real", []) + lists.get(
        "camera_val_real", []) + lists.get("imd2020_val_real", [])) + "\n", encoding="utf-8")
    (out / "calib_real.txt").write_text("\n".join(lists.get("digicam_calib_real", []) + lists.get(
        "imd2020_calib_real", [])) + "\n", encoding="utf-8")
    (out / "heldout_real.txt").write_text("\n".join(lists.get("digicam_val_real", []) + lists.get(
        "camera_val_real", []) + lists.get("imd2020_val_real", []) + lists.get("bsds500_val_real", [])) + "\n",
        encoding="utf-8")
    (out / "calib_groups_real.txt").write_text("\n".join(lists.get("digicam_calib_real", []) + lists.get(
        "imd2020_calib_real", []) + lists.get("bsds500_calib_real", [])) + "\n", encoding="utf-8")
    (out / "calib_groups_camera_real.txt").write_text("\n".join(lists.get("digicam_calib_real", []) + lists.get(
        "imd2020_calib_real", []) + lists.get("bsds500_calib_real", []) + lists.get("camera_calib_real", [])) + "\n",
        encoding="utf-8")
    # The whole-image fitting set of the detection head (trufor train fit-head): training side only.
    (out / "fit_real.txt").write_text("\n".join(lists.get("imd2020_train_real", []) + lists.get(
        "camera_train_real", []) + lists.get("bsds500_train_real", [])) + "\n", encoding="utf-8")
    print(f"data root: {data}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
