#!/usr/bin/env python
"""One figure comparing the confidence maps of evaluated models on the same images (their cached maps).

    python benchmarks/confidence_figure.py NAME [NAME ...] --images SET/IMAGE [SET/IMAGE ...] -o FIGURE.png
                                           [--reports out/reports]

Each row is an image of a report ``SET_NAME`` (``trufor eval`` caches one ``.npz`` per image, with ``map`` and
``conf``), named as ``benchmarks/confidence_quality.py`` names them: ``heldout/forgeries/imd2020_subset/fake/x.jpg``.
Columns: the image, its ground truth (blank for an authentic photo), the first model's localization map, then each
model's confidence map, titled with its standard deviation and, where the map is wrong somewhere, the error AUC of
``1 - conf`` (see ``benchmarks/confidence_quality.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from trufor.imageio import read_image
from trufor.masks import read_mask, resize_nearest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from confidence_quality import image_figures  # noqa: E402
from paired_bootstrap import report_rows  # noqa: E402


def _row(reports: Path, name: str, key: str) -> dict:
    set_name, image = key.split("/", 1)
    for r in report_rows(reports, set_name, name):
        if r["name"] == image:
            return r
    raise SystemExit(f"{reports / f'{set_name}_{name}'}: no image {image}")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="+", help="models (names given to scripts/evaluate_bundled.sh)")
    p.add_argument("--images", nargs="+", required=True, help="SET/IMAGE, e.g. heldout/pristine/camera/x.jpg")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--reports", type=Path, default=Path("out/reports"))
    args = p.parse_args(argv[1:])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 3 + len(args.names)
    fig, axes = plt.subplots(len(args.images), cols, figsize=(2.6 * cols, 2.4 * len(args.images)), squeeze=False)
    for i, key in enumerate(args.images):
        rows = [_row(args.reports, n, key) for n in args.names]
        data = []
        for r in rows:
            with np.load(r["npz"]) as z:
                data.append((z["map"], z["conf"], float(z["score"])))
        m0 = data[0][0]
        gt = None
        if rows[0].get("mask"):
            gt = read_mask(rows[0]["mask"])
            gt = gt if gt.shape == m0.shape else resize_nearest(gt, m0.shape)
        ax = axes[i]
        ax[0].imshow(read_image(rows[0]["image"]).pixels if rows[0].get("image") else np.zeros((*m0.shape, 3)))
        ax[0].set_title(Path(key).name, fontsize=8)
        ax[1].imshow(gt if gt is not None else np.zeros(m0.shape), cmap="gray", vmin=0, vmax=1)
        ax[1].set_title("ground truth" if gt is not None else "authentic", fontsize=8)
        ax[2].imshow(m0, cmap="RdBu_r", vmin=0, vmax=1)
        ax[2].set_title(f"localization ({args.names[0]})", fontsize=8)
        for j, (name, (m, c, score)) in enumerate(zip(args.names, data)):
            f = image_figures(m, c, gt, key)
            auc = "" if np.isnan(f.error_auc) else f", error AUC {f.error_auc:.2f}"
            ax[3 + j].imshow(c, cmap="gray", vmin=0, vmax=1)
            ax[3 + j].set_title(f"confidence {name}\nstd {f.conf_std:.3f}{auc}, score {score:.2f}", fontsize=8)
        for a in ax:
            a.axis("off")
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
