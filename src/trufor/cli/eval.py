"""``trufor eval``: run a model over a benchmark and write a metrics report.

The report folder holds metrics.json, per_image.csv, summary.md, plots and report.html; the
per-image outputs are cached as npz under REPORT_DIR/npz (or --npz-dir), so a second run, or a run
after an interruption, only analyses what is missing.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from ..errors import TruForError
from ._common import (add_device_arguments, add_read_arguments, add_tta_argument, add_weights_argument, console,
                      device_from_args, fail, read_options_from_args)

CHANNELS = {"r": 0, "red": 0, "g": 1, "green": 1, "b": 2, "blue": 2}
MODEL_SIDECAR = "model.json"  # in the npz folder: which model wrote the cached outputs


def register(subparsers) -> None:
    from ..evaluation.datasets import KNOWN_DATASETS, MISMATCH_POLICIES

    known = ", ".join(KNOWN_DATASETS)
    p = subparsers.add_parser(
        "eval",
        help="evaluate on a benchmark: F1, AUC... with the authors' protocol, and an HTML report",
        description="Analyse every image of a dataset (reusing cached outputs), compute detection and "
                    "localization metrics with the TruFor authors' protocol, and write a report folder "
                    "(metrics.json, per_image.csv, summary.md, plots, report.html). "
                    f"DATASET is a known layout ({known}), list:FAKE_LIST[,REAL_LIST] (the authors' list "
                    "files, paths relative to --root), or folder (with --images, --masks, --pattern, --real).",
        epilog="Examples: trufor eval casia1 --root data/CASIA1 -o reports/casia1 | "
               "trufor eval list:coverage_fake.txt,coverage_real.txt --root data/COVERAGE | "
               "trufor eval folder --root data/mine --images fake --masks gt --pattern '{stem}_gt.png' --real real",
    )
    p.add_argument("dataset", metavar="DATASET", help=f"{known}, list:FAKE[,REAL] or folder")
    p.add_argument("--root", required=True, metavar="DIR", help="dataset root folder")
    p.add_argument("-o", "--output", default=None, metavar="REPORT_DIR",
                   help="report folder (default: ./trufor_eval_<dataset>)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="evaluate only N images, taken alternately from fakes and reals")
    p.add_argument("--npz-dir", default=None, metavar="DIR",
                   help="where per-image outputs are cached and looked up (default: REPORT_DIR/npz); "
                        "may point to the output folder of the official tool")
    p.add_argument("--recompute", action="store_true", help="analyse every image again, ignoring cached outputs")
    g = p.add_argument_group("ground truth")
    g.add_argument("--mask-root", default=None, metavar="DIR",
                   help="folder the mask paths are relative to (list files, DSO-1); default: --root")
    g.add_argument("--invert-masks", action=argparse.BooleanOptionalAction, default=None,
                   help="black marks the forgery (default for dso1 and nist16; --no-invert-masks to undo)")
    g.add_argument("--mask-threshold", type=int, default=None, metavar="T",
                   help="a mask pixel is forged when its level is > T (default 0; 127 for columbia)")
    g.add_argument("--mask-channel", choices=sorted(CHANNELS), default=None,
                   help="read this RGB channel instead of the grey level (columbia: green)")
    g.add_argument("--mask-mismatch", choices=MISMATCH_POLICIES, default="fix",
                   help="mask of another size than its image: fix (re-orient a swapped mask, resize one of "
                        "the same aspect ratio, skip others), resize (always), skip (default: fix)")
    f = p.add_argument_group("folder layout (DATASET = folder)")
    f.add_argument("--images", default=None, metavar="DIR", help="folder of fake images (relative to --root)")
    f.add_argument("--masks", default=None, metavar="DIR", help="folder of masks (relative to --root)")
    f.add_argument("--pattern", default="{stem}.png",
                   help="mask file name, from {stem}, {name}, {ext} of the image (default: {stem}.png)")
    f.add_argument("--real", default=None, metavar="DIR", help="folder of real images (relative to --root)")
    r = p.add_argument_group("report")
    r.add_argument("--gallery", type=int, default=6, metavar="K", help="worst and best images shown (default 6)")
    r.add_argument("--no-plots", action="store_true", help="skip the figures (faster)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no table")
    add_read_arguments(p)
    add_weights_argument(p)
    add_tta_argument(p)
    add_device_arguments(p)
    p.set_defaults(func=run)


class LazyModel:
    """Loads the model on the first image that has no cached output, so a fully cached run needs
    neither weights nor torch time; remembers in the npz folder which model wrote the outputs."""

    def __init__(self, weights: str | None, device: str, npz_dir: Path, notify, tta: str = "none") -> None:
        self.weights, self.device, self.npz_dir, self.notify = weights, device, npz_dir, notify
        self.tta = tta
        self._model = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def cached_name(self) -> str | None:
        try:
            return json.loads((self.npz_dir / MODEL_SIDECAR).read_text())["name"]
        except Exception:
            return None

    @property
    def name(self) -> str | None:
        if self._model is not None:
            return self._model.name
        cached = self.cached_name()
        return f"{cached} (cached outputs)" if cached else None

    def analyze(self, image, noiseprint: bool = False):
        if self._model is None:
            from .. import load_model
            from ..evaluation import EvaluationAborted
            from ..outputs import atomic_write

            try:
                self._model = load_model(self.weights, device=self.device, tta=self.tta)
            except TruForError as exc:
                raise EvaluationAborted(str(exc)) from None
            previous = self.cached_name()
            if previous and previous != self._model.name:
                self.notify(f"cached outputs in {self.npz_dir} come from {previous}, new ones from "
                            f"{self._model.name}; use --recompute or another -o to avoid mixing them")
            describe = getattr(self._model, "describe", None)
            info = describe() if callable(describe) else {"name": self._model.name}
            with atomic_write(self.npz_dir / MODEL_SIDECAR, "w") as fh:
                json.dump(info, fh, indent=2, default=str)
        return self._model.analyze(image, noiseprint=noiseprint)


def _mask_overrides(args) -> dict:
    channel = None if args.mask_channel is None else CHANNELS[args.mask_channel]
    return {"threshold": args.mask_threshold, "invert": args.invert_masks, "channel": channel}


def _default_output(spec: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", spec.replace("list:", "")).strip("_.") or "dataset"
    return Path(f"trufor_eval_{slug[:60]}")


def run(args: argparse.Namespace) -> int:
    from ..evaluation.datasets import load_dataset
    from ..evaluation import SKIPPED, evaluate, write_report

    err = console(err=True)
    if args.limit is not None and args.limit <= 0:
        return fail("--limit must be a positive number of images")
    if args.gallery < 0:
        return fail("--gallery must be >= 0")
    try:
        dataset = load_dataset(args.dataset, args.root, mask_root=args.mask_root, images=args.images,
                               masks=args.masks, pattern=args.pattern, real=args.real,
                               mask_overrides=_mask_overrides(args))
        dataset = dataset.limited(args.limit)
        out_dir = Path(args.output) if args.output else _default_output(args.dataset)
        npz_dir = Path(args.npz_dir) if args.npz_dir else out_dir / "npz"
        device = device_from_args(args)
        options = read_options_from_args(args)
    except (TruForError, argparse.ArgumentTypeError) as exc:
        return fail(str(exc))

    if not args.quiet:
        err.print(f"{dataset.summary()}; ground truth {dataset.mask_format.describe()}; report -> {out_dir}")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TimeRemainingColumn(), console=err, disable=args.quiet, transient=False)
    model = LazyModel(args.weights, device, npz_dir, lambda m: progress.console.print(f"[yellow]warning:[/] {m}"),
                      tta=args.tta)
    problems: list[str] = []

    def on_record(rec) -> None:
        progress.advance(task)
        if rec.status == SKIPPED and rec.reason.startswith("analysis failed"):
            problems.append(rec.reason)
            progress.console.print(f"[red]error:[/] {rec.name}: {rec.reason}")

    try:
        with progress:
            task = progress.add_task("evaluating", total=len(dataset.samples))
            result = evaluate(dataset, model, npz_dir, mismatch=args.mask_mismatch, recompute=args.recompute,
                              on_record=on_record, options=options)
        files = write_report(result, out_dir, plots_too=not args.no_plots, gallery_size=args.gallery)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted: outputs analysed so far are cached; run the same command to resume[/]")
        return 130
    except TruForError as exc:
        return fail(str(exc))

    if not args.quiet:
        _print_table(result, files["html"])
    if result.counts["evaluated"] == 0:
        return fail("no image could be evaluated (see the reasons in per_image.csv)")
    return 0


def _print_table(result, html_path: Path) -> None:
    from rich.table import Table

    from ..evaluation.report import headline_rows

    c = result.counts
    table = Table(title=f"TruFor evaluation: {result.dataset.name}")
    table.add_column("")
    table.add_column("metric")
    table.add_column("value", justify="right")
    last = None
    for section, name, value in headline_rows(result):
        table.add_row(section if section != last else "", name, value)
        last = section
    out = console()
    out.print(table)
    out.print(f"model: {result.model_name or 'n/a'}")
    for note in result.notes:
        out.print(f"[yellow]note:[/] {note}")
    out.print(f"{c['evaluated']} images evaluated ({c['cached']} from cache), {c['detection_only']} fake without "
              f"usable mask, {c['skipped']} skipped; report: {html_path}")
