"""``trufor detect``: analyse images, folders or globs; write one ``.npz`` per image and a summary.

Also accepts the official ``trufor_test.py`` flags unchanged (``-gpu N``, ``-in``, ``-out``,
``-save_np`` and trailing ``KEY VALUE`` options such as ``TEST.MODEL_FILE path``).
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from ..errors import TruForError
from ._common import add_device_arguments, add_weights_argument, console, device_from_args, fail, parse_bytes

DEFAULT_OUTPUT = "trufor_out"
TABLE_ROWS = 40


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "detect",
        help="analyse images: integrity score, localization and confidence maps",
        description="Analyse images (files, folders searched recursively, or globs). For each image writes "
                    "OUT/<path relative to the input root>.npz with the keys of the official tool (map, conf, "
                    "score, imgsize, and np++ with --save-np), then results.csv and results.json in OUT. "
                    "Existing outputs are skipped, so an interrupted run resumes where it stopped.",
        epilog="The official trufor_test.py command lines work unchanged, e.g. "
               "`trufor detect -gpu -1 -in images/ -out output/ -save_np`.",
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image file, folder (recursive) or glob ('data/**/*.jpg')")
    p.add_argument("-in", "--input", dest="extra_inputs", action="append", default=[], metavar="INPUT",
                   help="same as INPUT (official flag; may be repeated)")
    p.add_argument("-o", "-out", "--output", default=None, metavar="OUT",
                   help=f"output folder (default: ./{DEFAULT_OUTPUT}), or a file name when there is one image")
    p.add_argument("-save_np", "--save_np", "--save-np", dest="save_np", action="store_true",
                   help="also save the Noiseprint++ fingerprint (key np++)")
    p.add_argument("--save-png", action="store_true",
                   help="also write <name>.figure.png (image | map | confidence) and <name>.overlay.png")
    p.add_argument("--overwrite", action="store_true", help="redo images whose .npz already exists")
    p.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="refuse images larger than N pixels (decompression-bomb guard; default 200 MP)")
    p.add_argument("--allow-truncated", action="store_true",
                   help="analyse truncated images (the missing part is filled) instead of refusing them")
    p.add_argument("--exif-transpose", action="store_true",
                   help="rotate images by their EXIF orientation first (default: analyse the stored pixel grid)")
    p.add_argument("--max-memory", type=parse_bytes, default=None, metavar="SIZE",
                   help="working-memory budget for the tiled parts, e.g. 2G (smaller tiles: slower, same results)")
    p.add_argument("--engine", choices=("efficient", "reference"), default="efficient",
                   help="efficient (default: tiled, fused; same numbers) or reference (the plain forward pass)")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help="fp32 (default, exact) or bf16/fp16 mixed precision (faster on suitable hardware, approximate)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary table")
    add_weights_argument(p)
    add_device_arguments(p)
    p.set_defaults(func=run)


_OPT_KEY = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+$")


def split_official_opts(tokens: list[str]) -> tuple[list[str], dict[str, str]]:
    """Separate the official tool's trailing ``KEY VALUE`` options (e.g. ``TEST.MODEL_FILE path``)
    from the inputs; a token is a key when it looks like ``SECTION.NAME`` and is not an existing path."""
    inputs: list[str] = []
    opts: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if _OPT_KEY.match(tok) and not os.path.exists(tok):
            if i + 1 >= len(tokens):
                raise TruForError(f"option {tok} needs a value")
            opts[tok] = tokens[i + 1]
            i += 2
            continue
        inputs.append(tok)
        i += 1
    return inputs, opts


def run(args: argparse.Namespace) -> int:
    from functools import partial

    from .. import load_model
    from ..batch import plan_jobs, run_jobs, write_reports
    from ..imageio import read_image
    from ..outputs import ensure_output_folder

    try:
        positional, opts = split_official_opts(list(args.inputs))
        unknown = [k for k in opts if k != "TEST.MODEL_FILE"]
        if unknown:
            console(err=True).print(f"[yellow]ignoring official options without effect here: {', '.join(unknown)}[/]")
        weights = args.weights or opts.get("TEST.MODEL_FILE")
        inputs = positional + list(args.extra_inputs)
        if not inputs:
            return fail("no input given: trufor detect IMAGE_OR_FOLDER [-o OUT]")
        output = Path(args.output or DEFAULT_OUTPUT)
        jobs = plan_jobs(inputs, output)
        if not jobs:
            return fail(f"no images found in {', '.join(inputs)}")
        report_dir = output if not (output.suffix and not output.is_dir()) else output.parent
        ensure_output_folder(report_dir)  # an unusable output folder fails here, before any work
        model = load_model(weights, device=device_from_args(args), max_memory=args.max_memory, engine=args.engine,
                           precision=args.precision)
    except TruForError as exc:
        return fail(str(exc))

    read_kwargs = {"exif_transpose": args.exif_transpose, "allow_truncated": args.allow_truncated}
    if args.max_pixels is not None:
        read_kwargs["max_pixels"] = args.max_pixels
    reader = partial(read_image, **read_kwargs)
    err = console(err=True)
    if not args.quiet:
        err.print(f"model: {model.name} on {model.device}  ({len(jobs)} images -> {output})")
    if model.origin == "bundled":
        err.print("[yellow]note:[/] the bundled model is small and trained on little data: weak evidence "
                  "(see docs/MODEL_CARD.md). For real cases use the authors' weights: `trufor weights download`.")

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TimeRemainingColumn(), console=err, disable=args.quiet, transient=False)
    failures: list[str] = []

    def on_result(res) -> None:
        progress.advance(task)
        if res.status == "failed":
            failures.append(res.message)
            progress.console.print(f"[red]error:[/] {res.message}")
        for w in res.warnings:
            progress.console.print(f"[yellow]warning:[/] {res.image}: {w}")

    with progress:
        task = progress.add_task("analysing", total=len(jobs))
        try:
            results = run_jobs(model, jobs, overwrite=args.overwrite, save_noiseprint=args.save_np,
                               save_png=args.save_png, read=reader, on_result=on_result)
        except KeyboardInterrupt:
            err.print("[yellow]interrupted: finished outputs are complete; run the same command again to resume[/]")
            return 130
        except TruForError as exc:  # the output disk is full or read-only: every further save would fail
            return fail(f"{exc}; stopped: the outputs written so far are complete, run the same command "
                        "again to resume")
    try:
        write_reports(report_dir, results, model.describe())
    except TruForError as exc:
        return fail(str(exc))
    if not args.quiet:
        _print_summary(results, report_dir)
    return 1 if failures else 0


def _print_summary(results, report_dir: Path) -> None:
    from rich.table import Table

    out = console()
    rows = results
    note = ""
    if len(results) > TABLE_ROWS:
        failed = [r for r in results if r.status == "failed"]
        scored = sorted((r for r in results if r.score is not None), key=lambda r: -r.score)
        rows = failed[:TABLE_ROWS // 2] + scored[: TABLE_ROWS - min(len(failed), TABLE_ROWS // 2)]
        note = f" (showing {len(rows)} of {len(results)}: failures first, then the highest scores)"
    table = Table(title=f"TruFor results{note}")
    table.add_column("file", overflow="fold")
    table.add_column("score", justify="right")
    table.add_column("time (s)", justify="right")
    table.add_column("status")
    for r in rows:
        score = "" if r.score is None else f"{r.score:.3f}"
        secs = "" if r.seconds is None else f"{r.seconds:.2f}"
        colour = {"ok": "green", "skipped": "cyan", "failed": "red"}[r.status]
        table.add_row(r.image, score, secs, f"[{colour}]{r.status}[/]")
    out.print(table)
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "skipped", "failed")}
    out.print(f"{counts['ok']} analysed, {counts['skipped']} skipped (already done), {counts['failed']} failed; "
              f"table in {report_dir / 'results.csv'}")
