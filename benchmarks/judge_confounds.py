#!/usr/bin/env python
"""Can the real-life judge be passed without looking at the edit? File properties and content against the labels.

    python benchmarks/judge_confounds.py [RUN ...] [--reports out/reports] [--data ../shared/data]
                                         [--sets heldout calibpart] [--match 2] [--content] [--web-halves]
                                         [--twins out/lists/imd2020_pairs.csv]

Since run 20 every candidate model has been chosen on the IMD2020 subset's real fakes against its real-life originals
(the held-out and calibration parts: 41 fakes, 36 originals). A figure on them means "finds edits" only if nothing
else about the files tells the two classes apart. This prints, first, how well trivial file properties alone rank the
fakes above the originals (AUC, 0.5 = no information), on the judging parts and on the whole subset (100 fakes, 100
originals): the IJG quality of the JPEG tables (`trufor.provenance.jpeg`; a file never JPEG-compressed counts as 101),
bits per pixel, pixels, longer side, PNG or not. Then, for each RUN (reports ``SET_RUN/per_image.csv`` of
`scripts/evaluate_bundled.sh`), whether its score leans on the JPEG quality: the AUC on all judging images and on the
JPEG ones only, the rank correlation of score and quality within each class (Spearman), and the AUC over quality-matched
pairs only (a fake and an original whose qualities differ by at most ``--match``): a model that reads the quality
would lose most of its AUC there.

``--content`` adds the photos' content: the ImageNet classifier of the pretrained EfficientNet-Lite0 wheel (the
``pretrained`` extra) gives each scored image its animal share (softmax mass of ImageNet classes 0-397, the animal
classes); per group of authentic photos and for the fakes: how many are mostly animal (> 0.5), the rank correlation of
score and animal share, and the share scored >= 0.5 with and without an animal.

``--web-halves`` reads each RUN's report of (e), ``judge_web_RUN`` (the judging images re-saved alike as web copies of
384-1024 px, ``scripts/make_web_jpeg_set.py``), and splits its images at the median longer side of their web copies:
the AUC on the smaller and the larger half, of the web copies and of the same images as they came (the RUN's held-out
and calibration reports), and the median downscale of each half. Whether re-saving costs the ranking more where it
downscales more: the drop from "as they came" to "web copy" in each half (the halves are drawn by the copies' sizes,
which do not depend on the label, so the two halves' "as they came" AUCs differ by the draw alone).

``--twins PAIRS`` (``out/lists/imd2020_pairs.csv``, ``scripts/imd2020_pairs.py``) splits the judging images by where
their pair partner lies: the originals whose fake was trained on, the fakes whose original was trained on, and the rest
(the leak-free images of ``benchmarks/paired_bootstrap.py --leak-free``); per RUN, the AUC of all fakes against all
originals, of all fakes against the originals whose fake was trained on, of the fakes whose original was trained on
against the other originals, and of the other fakes against the other originals (the leak-free figure). A network that
recognises the training photos' content, and takes their label along, would rank the two leaking groups toward their
trained twin's label: the middle two figures would fall where the leak-free one holds (runs 34 and 35: with 14 and 17
images they also move that much from one draw to the next).

Reads the images in place under ``--data``; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout_table import group_of  # noqa: E402
from paired_bootstrap import leaked, read_pairs, report_rows  # noqa: E402

from trufor.provenance.jpeg import estimate_quality, parse_jpeg  # noqa: E402

IMD = "forgeries/imd2020_subset/"
#: Quality given to a file that was never JPEG-compressed (PNG...): above every JPEG quality.
NEVER_JPEG = 101.0
#: ImageNet-1k classes 0-397 are animals (fish, birds, amphibians, reptiles, invertebrates, mammals).
ANIMAL_CLASSES = 398


def file_properties(path: Path) -> dict[str, float]:
    """JPEG quality (NEVER_JPEG when not a JPEG), bits per pixel, pixels, longer side and PNG flag of one file."""
    from PIL import Image

    data = path.read_bytes()
    with Image.open(path) as im:
        width, height = im.size
        fmt = im.format
    quality = NEVER_JPEG
    if fmt == "JPEG":
        coding = parse_jpeg(data)
        estimate = estimate_quality(coding.tables, coding.component_tables) if coding else None
        if estimate is None:
            raise SystemExit(f"{path}: a JPEG file without quantisation tables")
        quality = float(estimate["quality"])
    return {"quality": quality, "bits per pixel": len(data) * 8 / (width * height), "pixels": float(width * height),
            "longer side": float(max(width, height)), "PNG": float(fmt == "PNG")}


def subset_names(data: Path) -> list[tuple[str, int]]:
    """(name relative to the data root, label) of every image of the IMD2020 subset: 1 manipulated, 0 original."""
    root = data / IMD
    if not root.is_dir():
        raise SystemExit(f"{root}: the IMD2020 subset is not there (give --data, the shared data folder)")
    out = []
    for folder, label in (("fake", 1), ("fake_unlabelled_mask", 1), ("real", 0)):
        for p in sorted((root / folder).iterdir()):
            if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"):
                out.append((f"{IMD}{folder}/{p.name}", label))
    return out


def read_scores(reports: Path, sets: list[str], run: str) -> dict[str, tuple[str, float]]:
    """name -> (group, score) of every scored image of the reports ``SET_RUN``; exits naming a missing report."""
    return {r["name"]: (group_of(r["name"]), float(r["score"]))
            for s in sets for r in report_rows(reports, s, run) if r["score"] != ""}


def auc(labels: np.ndarray, values: np.ndarray) -> float:
    return float(roc_auc_score(labels, values)) if 0 < labels.sum() < len(labels) else float("nan")


def matched_pair_auc(labels: np.ndarray, scores: np.ndarray, quality: np.ndarray, width: float) -> tuple[float, int]:
    """AUC over the (fake, original) pairs whose qualities differ by at most ``width``, and how many pairs."""
    f, r = labels == 1, labels == 0
    close = np.abs(quality[f][:, None] - quality[r][None, :]) <= width
    diff = scores[f][:, None] - scores[r][None, :]
    wins = (diff > 0) + 0.5 * (diff == 0)
    n = int(close.sum())
    return (float(wins[close].mean()) if n else float("nan")), n


def rho(a: np.ndarray, b: np.ndarray) -> float:
    return float(spearmanr(a, b)[0]) if len(a) > 2 and np.ptp(a) > 0 and np.ptp(b) > 0 else float("nan")


def property_table(props: dict[str, dict[str, float]], judged: list[tuple[str, int]],
                   whole: list[tuple[str, int]]) -> str:
    lines = ["| file property | AUC, judging parts (%d fakes / %d originals) | AUC, whole subset (%d / %d) | "
             "median fakes / originals (judging) |" % (sum(lab for _, lab in judged), sum(1 - lab for _, lab in judged),
                                                      sum(lab for _, lab in whole), sum(1 - lab for _, lab in whole)),
             "| --- | --- | --- | --- |"]
    for key in ("quality", "bits per pixel", "pixels", "longer side", "PNG"):
        cells = []
        for names in (judged, whole):
            y = np.array([lab for _, lab in names])
            x = np.array([props[n][key] for n, _ in names])
            cells.append(f"{auc(y, x):.3f}")
        y = np.array([lab for _, lab in judged])
        x = np.array([props[n][key] for n, _ in judged])
        lines.append(f"| {key} | {cells[0]} | {cells[1]} | {np.median(x[y == 1]):.4g} / {np.median(x[y == 0]):.4g} |")
    return "\n".join(lines)


def run_table(runs: dict[str, dict[str, tuple[str, float]]], props: dict[str, dict[str, float]],
              judged: list[tuple[str, int]], width: float) -> str:
    lines = [f"| run | AUC, all judging | AUC, JPEG only | Spearman(score, quality): fakes / originals | "
             f"AUC, quality-matched pairs (|dq| <= {width:g}) |", "| --- | --- | --- | --- | --- |"]
    y = np.array([lab for _, lab in judged])
    q = np.array([props[n]["quality"] for n, _ in judged])
    for run, scores in runs.items():
        s = np.array([scores[n][1] for n, _ in judged])
        jpeg = q < NEVER_JPEG
        m, pairs = matched_pair_auc(y, s, q, width)
        lines.append(f"| {run} | {auc(y, s):.3f} | {auc(y[jpeg], s[jpeg]):.3f} | "
                     f"{rho(s[y == 1], q[y == 1]):+.2f} / {rho(s[y == 0], q[y == 0]):+.2f} | {m:.3f} ({pairs} pairs) |")
    return "\n".join(lines)


def twins_table(runs: dict[str, dict[str, tuple[str, float]]], judged: list[tuple[str, int]],
                pairs: list[dict]) -> str:
    """AUCs of the judging images grouped by where their pair partner lies (``--twins``)."""
    crossing = {IMD + n for n in leaked(pairs)}  # held-out members whose partner is on the training side
    y = np.array([lab for _, lab in judged])
    twin = np.array([n in crossing for n, _ in judged])
    groups = {"fakes": y == 1, "originals": y == 0, "fakes, twin trained": (y == 1) & twin,
              "originals, twin trained": (y == 0) & twin, "other fakes": (y == 1) & ~twin,
              "other originals": (y == 0) & ~twin}
    n = {k: int(v.sum()) for k, v in groups.items()}
    columns = [("fakes", "originals"), ("fakes", "originals, twin trained"), ("fakes, twin trained", "other originals"),
               ("other fakes", "other originals")]
    lines = ["| run | " + " | ".join(f"AUC, {a} ({n[a]}) vs {b} ({n[b]})" for a, b in columns) + " |",
             "| --- " * (len(columns) + 1) + "|"]
    for run, scores in runs.items():
        s = np.array([scores[name][1] for name, _ in judged])
        cells = []
        for a, b in columns:
            keep = groups[a] | groups[b]
            cells.append(f"{auc(y[keep], s[keep]):.3f}")
        lines.append(f"| {run} | " + " | ".join(cells) + " |")
    lines.append("(twin trained: the held-out image's pair partner, its fake or its original, is on the training side; "
                 "the last column is the leak-free figure)")
    return "\n".join(lines)


def web_origin(name: str) -> str:
    """The path without extension, relative to the data root, of the image a web copy was made from: a copy is named
    ``web__<first two folders>/<path with / as __>.jpg`` by ``scripts/make_web_jpeg_set.py``."""
    return name.split("/", 1)[-1].rsplit(".", 1)[0].replace("__", "/")


def longer_side(path: Path) -> float:
    """Longer side of an image, from its header; exits naming the file when it cannot be read (a report names its
    images relative to the folder `trufor eval` ran in: run this from there, the repository root)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return float(max(im.size))
    except (OSError, UnidentifiedImageError) as exc:
        raise SystemExit(f"{path}: cannot read the web copy's size ({exc})") from None


def web_halves_table(reports: Path, runs: dict[str, dict[str, tuple[str, float]]], props: dict[str, dict[str, float]],
                     whole: list[tuple[str, int]]) -> str:
    """(e) split at the median longer side of its web copies: AUC of the copies and of the images as they came."""
    by_stem = {n.rsplit(".", 1)[0]: (n, lab) for n, lab in whole}
    lines = ["| run | half of (e) | images (fakes / originals) | median downscale | AUC, web copies | "
             "AUC, as they came | drop |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for run, came in runs.items():
        rows = report_rows(reports, "judge_web", run)
        origin, side = [], []
        for r in rows:
            if web_origin(r["name"]) not in by_stem:
                raise SystemExit(f"{reports}/judge_web_{run}: {r['name']} is no web copy of an image of {IMD}")
            origin.append(by_stem[web_origin(r["name"])])
            side.append(longer_side(Path(r["image"])))
        missing = [n for n, _ in origin if n not in came]
        if missing:
            raise SystemExit(f"{run}: {missing[0]} has a web copy in judge_web_{run} but no score as it came")
        y = np.array([lab for _, lab in origin])
        web = np.array([float(r["score"]) for r in rows])
        orig = np.array([came[n][1] for n, _ in origin])
        side_arr = np.array(side)
        ratio = side_arr / np.array([props[n]["longer side"] for n, _ in origin])
        median = np.median(side_arr)
        for label, keep in (("smaller (< %g px)" % median, side_arr < median), ("larger", side_arr >= median),
                            ("all", np.ones(len(y), bool))):
            a_web, a_orig = auc(y[keep], web[keep]), auc(y[keep], orig[keep])
            lines.append(f"| {run} | {label} | {int(keep.sum())} ({int(y[keep].sum())} / {int((1 - y[keep]).sum())}) | "
                         f"{np.median(ratio[keep]):.2f} | {a_web:.3f} | {a_orig:.3f} | {a_web - a_orig:+.3f} |")
    return "\n".join(lines)


def animal_shares(paths: list[Path]) -> np.ndarray:
    """ImageNet animal share of each image, from the pretrained EfficientNet-Lite0 classifier (224 px, whole image)."""
    import torch
    from PIL import Image
    from torch import nn

    from trufor.errors import TrainingError
    from trufor.modeling.efficientnet_lite import EFFICIENTNET_LITE_VARIANTS, build_blocks, conv_bn
    from trufor.training.pretrained import imagenet_state_dict, pretrained_file

    try:
        weights = imagenet_state_dict("efficientnet_lite0")
        raw = torch.load(pretrained_file("efficientnet_lite0"), map_location="cpu", weights_only=True)
    except TrainingError as exc:
        raise SystemExit(f"--content: {exc}") from None
    config = EFFICIENTNET_LITE_VARIANTS["efficientnet_lite0"]

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem, self.blocks, _ = build_blocks(config)
            self.head = conv_bn(config.stages[-1].out_channels, raw["_fc.weight"].shape[1], 1)
            self.fc = nn.Linear(raw["_fc.weight"].shape[1], raw["_fc.weight"].shape[0])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.stem(x)
            for block in self.blocks:
                x = block(x)
            return self.fc(self.head(x).mean((2, 3)))

    model = Classifier()
    weights.update({"head.0.weight": raw["_conv_head.weight"], "fc.weight": raw["_fc.weight"],
                    "fc.bias": raw["_fc.bias"]})
    weights.update({f"head.1.{k}": raw[f"_bn1.{k}"] for k in ("weight", "bias", "running_mean", "running_var")})
    model.load_state_dict(weights, strict=False)
    model.eval()
    out = []
    for p in paths:
        with Image.open(p) as im:
            x = np.asarray(im.convert("RGB").resize((224, 224), Image.BICUBIC), np.float32)
        x = torch.from_numpy((x - 127.0) / 128.0).permute(2, 0, 1)[None]  # EfficientNet-Lite's input scaling
        with torch.no_grad():
            out.append(float(model(x).softmax(1)[0, :ANIMAL_CLASSES].sum()))
    return np.array(out)


def content_table(runs: dict[str, dict[str, tuple[str, float]]], data: Path) -> str:
    first = next(iter(runs.values()))
    names = sorted(first)
    animal = dict(zip(names, animal_shares([data / n for n in names])))
    groups = sorted({g for g, _ in first.values()})
    lines = ["| group | run | n | mostly animal (> 0.5) | Spearman(score, animal share) | "
             "share >= 0.5: animal / other |",
             "| --- | --- | --- | --- | --- | --- |"]
    for g in groups:
        members = [n for n in names if first[n][0] == g]
        a = np.array([animal[n] for n in members])
        for run, scores in runs.items():
            s = np.array([scores[n][1] for n in members])
            hi = a > 0.5
            with_animal = f"{np.mean(s[hi] >= 0.5):.2f}" if hi.any() else "-"
            other = f"{np.mean(s[~hi] >= 0.5):.2f}" if (~hi).any() else "-"
            lines.append(f"| {g} | {run} | {len(members)} | {int(hi.sum())} | {rho(a, s):+.2f} | "
                         f"{with_animal} / {other} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help="names given to scripts/evaluate_bundled.sh (reports SET_RUN)")
    parser.add_argument("--reports", type=Path, default=Path("out/reports"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--sets", nargs="+", default=["heldout", "calibpart"])
    parser.add_argument("--match", type=float, default=2.0, help="largest quality difference of a matched pair")
    parser.add_argument("--content", action="store_true", help="also the ImageNet animal share (pretrained extra)")
    parser.add_argument("--web-halves", action="store_true",
                        help="also (e), the judge re-saved alike, split by the size of its web copies")
    parser.add_argument("--twins", type=Path, metavar="PAIRS",
                        help="also the AUCs by where each judging image's pair partner lies (imd2020_pairs.csv)")
    args = parser.parse_args(argv)

    whole = subset_names(args.data)
    props = {n: file_properties(args.data / n) for n, _ in whole}
    runs = {run: read_scores(args.reports, args.sets, run) for run in args.runs}
    if runs:  # the judging parts: the IMD2020 images every run scored
        scored = set.intersection(*(set(s) for s in runs.values()))
        judged = [(n, lab) for n, lab in whole if n in scored]
        if not judged:
            raise SystemExit(f"the reports of {', '.join(runs)} hold no image of {IMD}")
    else:
        judged = whole
    print(property_table(props, judged, whole))
    if runs:
        print()
        print(run_table(runs, props, judged, args.match))
    if args.content:
        if not runs:
            raise SystemExit("--content reads the runs' scores: name at least one RUN")
        print()
        print(content_table(runs, args.data))
    if args.twins is not None:
        if not runs:
            raise SystemExit("--twins reads the runs' scores: name at least one RUN")
        print()
        print(twins_table(runs, judged, read_pairs(args.twins)))
    if args.web_halves:
        if not runs:
            raise SystemExit("--web-halves reads the runs' scores: name at least one RUN")
        print()
        print(web_halves_table(args.reports, runs, props, whole))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
