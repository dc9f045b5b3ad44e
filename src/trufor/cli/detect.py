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
from ._common import (add_device_arguments, add_read_arguments, add_tta_argument, add_weights_argument, console,
                      device_from_args, fail, parse_bytes, read_options_from_args)

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
    p.add_argument("--max-memory", type=parse_bytes, default=None, metavar="SIZE",
                   help="working-memory budget for the tiled parts, e.g. 2G (smaller tiles: slower, same results); "
                        "for --backend onnxruntime/openvino the budget behind their pixel cap")
    p.add_argument("--engine", choices=("efficient", "reference"), default="efficient",
                   help="efficient (default: tiled, fused; same numbers) or reference (the plain forward pass)")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16", "bf16-mixed", "fp16-mixed"), default="fp32",
                   help="fp32 (default, exact); bf16/fp16: every part in that precision; bf16-mixed/fp16-mixed: "
                        "Noiseprint++ exact fp32, encoder and decoders lower. Faster on suitable hardware (bf16 "
                        "on CPUs with AVX-512 BF16 or AMX, fp16 on GPUs), approximate: measured speed and "
                        "deviation in docs/PERFORMANCE.md")
    p.add_argument("--backend", choices=("torch", "onnxruntime", "openvino"), default="torch",
                   help="torch (default: this engine, tiled, any image size, CPU or CUDA), or onnxruntime / "
                        "openvino: the exported ONNX graph on the CPU (--weights may be an .onnx file from "
                        "`trufor export onnx`; other weights are exported on the fly into the user cache). The "
                        "ONNX graph cannot tile, so its memory grows faster with the image: images above a pixel "
                        "cap (the --max-memory budget, default 80%% of RAM, over ~3 kB per pixel) are refused "
                        "with a message; use --backend torch for those. See docs/DEPLOY.md")
    p.add_argument("--mode", choices=("exact", "fast"), default="exact",
                   help="for --backend onnxruntime/openvino: exact (default: rounding-changing graph "
                        "optimisations off, float32) or fast (onnxruntime: all graph optimisations, same bound; "
                        "openvino: its default precision, bf16 on CPUs that have it: approximate). Measured "
                        "deviations: docs/DEPLOY.md")
    p.add_argument("--batch-size", type=int, default=1, metavar="N",
                   help="analyse up to N consecutive images of one size in one forward pass (default 1). Same "
                        "outputs within float rounding, not bit for bit. It pays on a GPU; on a CPU it measured no faster "
                        "than one by one (docs/PERFORMANCE.md)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary table")
    p.add_argument("--provenance", action="store_true",
                   help="also report each file's metadata, JPEG coding and C2PA content credentials (results.json, "
                        "a column of the summary, a line under --save-png figures; see docs/PROVENANCE.md)")
    from .provenance import add_trust_argument

    add_trust_argument(p)
    add_read_arguments(p)
    add_weights_argument(p)
    add_tta_argument(p)
    add_device_arguments(p)
    g = p.add_argument_group(
        "running on Ray (pip install 'trufor[ray]'; see docs/SCALING.md)",
        "With --ray the same outputs are written (npz files, results.csv/.json/.jsonl, plus results.parquet), "
        "and INPUT and -o may also be object-store URLs (s3://bucket/prefix, through fsspec). Every option above "
        "works with --ray except: -o must be a folder (not one file name), -gpu N / --device cuda:N pick no "
        "GPU index (each actor gets the GPU Ray gives it), and --backend / --batch-size (each actor runs the torch "
        "engine one image at a time).")
    g.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run on Ray: 'local' (start a private Ray instance on this machine), 'auto' (join the "
                        "cluster of this machine) or ray://HOST:PORT")
    g.add_argument("--ray-actors", type=int, default=None, metavar="N",
                   help="number of model actors (default: one per GPU, else as many as fit the nodes' CPUs)")
    g.add_argument("--ray-threads", type=int, default=None, metavar="N",
                   help="torch threads (and CPUs) per actor on CPU nodes (default: the CPUs of the smallest node, "
                        "i.e. one actor per node, as a plain run there)")
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
    from itertools import chain

    from .. import load_model
    from ..batch import ReportWriter, count_images, iter_jobs, iter_results
    from ..outputs import ensure_output_folder

    try:
        positional, opts = split_official_opts(list(args.inputs))
        unknown = [k for k in opts if k != "TEST.MODEL_FILE"]
        if unknown:
            console(err=True).print(f"[yellow]ignoring official options without effect here: {', '.join(unknown)}[/]")
        weights = args.weights or opts.get("TEST.MODEL_FILE")
        inputs = positional + list(args.extra_inputs)
        if args.batch_size < 1:
            return fail(f"--batch-size must be at least 1, got {args.batch_size}")
        if not inputs:
            return fail("no input given: trufor detect IMAGE_OR_FOLDER [-o OUT]")
        options = read_options_from_args(args)
        if args.ray:
            if args.backend != "torch" or args.batch_size != 1:
                return fail("--ray runs the torch engine one image at a time on each actor: drop --backend "
                            f"{args.backend} / --batch-size {args.batch_size} (or run without --ray)")
            return _run_on_ray(args, inputs, weights, options)
        output = Path(args.output or DEFAULT_OUTPUT)
        jobs = iter_jobs(inputs, output)  # lazily: a folder of a million images is never one list
        first = next(jobs, None)
        if first is None:
            return fail(f"no images found in {', '.join(inputs)}")
        total = None if args.quiet else count_images(inputs)
        report_dir = output if not (output.suffix and not output.is_dir()) else output.parent
        ensure_output_folder(report_dir)  # an unusable output folder fails here, before any work
        device = device_from_args(args) if args.backend == "torch" or args.gpu is not None or args.device != "auto" \
            else "cpu"
        model = load_model(weights, device=device, max_memory=args.max_memory, engine=args.engine,
                           precision=args.precision, backend=args.backend, mode=args.mode, tta=args.tta)
        anchors = None
        if args.provenance:
            from ..provenance import trust_anchor_text

            try:
                anchors = trust_anchor_text(args.trust_anchors)
            except OSError as exc:
                raise TruForError(f"{args.trust_anchors}: cannot read the trust anchors: {exc.strerror or exc}") from None
        reports = ReportWriter(report_dir, model.describe(), read_options=options, table_rows=TABLE_ROWS,
                               options=_run_options(args, inputs, output, weights))
    except (TruForError, argparse.ArgumentTypeError) as exc:
        return fail(str(exc))
    if args.provenance and not args.quiet:
        from ..provenance import c2pa_available
        from ..provenance.credentials import missing_message

        if not c2pa_available():
            console(err=True).print(f"[yellow]note:[/] {missing_message()}")

    err = console(err=True)
    if not args.quiet:
        err.print(f"model: {model.name} on {model.device}  ({total} images -> {output})")
    if model.origin == "bundled":
        err.print("[yellow]note:[/] the bundled model is small and trained on little data: weak evidence "
                  "(see docs/MODEL_CARD.md). For real cases use the authors' weights: `trufor weights download`.")

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TimeRemainingColumn(), console=err, disable=args.quiet, transient=False)
    with progress:
        task = progress.add_task("analysing", total=total)
        try:
            for res in iter_results(model, chain([first], jobs), overwrite=args.overwrite,
                                    save_noiseprint=args.save_np, save_png=args.save_png, options=options,
                                    provenance=args.provenance, trust_anchors=anchors,
                                    batch_size=args.batch_size):
                reports.add(res)  # results.jsonl grows as the run goes
                progress.advance(task)
                if res.status == "failed":
                    progress.console.print(f"[red]error:[/] {res.message}")
                for w in res.warnings:
                    progress.console.print(f"[yellow]warning:[/] {res.image}: {w}")
        except KeyboardInterrupt:
            _close_quietly(reports)
            err.print("[yellow]interrupted: finished outputs are complete; run the same command again to resume[/]")
            return 130
        except TruForError as exc:  # the output disk is full or read-only: every further save would fail
            reports.abort()  # results.jsonl keeps what was done; no report is attempted on a full disk
            return fail(f"{exc}; stopped: the outputs written so far are complete, run the same command "
                        "again to resume")
    try:
        reports.close()
    except TruForError as exc:
        return fail(str(exc))
    if not args.quiet:
        _print_summary(reports, report_dir, provenance=args.provenance)
    return 1 if reports.counts["failed"] else 0


def _run_on_ray(args: argparse.Namespace, inputs: list[str], weights, options) -> int:
    """``--ray``: the same run through :func:`trufor.cluster.run_detect`, with a progress bar and the summary."""
    import time

    from ..cluster import run_detect

    output = args.output or DEFAULT_OUTPUT
    device = "cpu" if (args.gpu is not None and args.gpu < 0) else ("cuda" if args.gpu is not None else args.device)
    err = console(err=True)
    anchors = None
    if args.provenance:
        from ..provenance import trust_anchor_text

        try:
            anchors = trust_anchor_text(args.trust_anchors)
        except OSError as exc:
            return fail(f"{args.trust_anchors}: cannot read the trust anchors: {exc.strerror or exc}")

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                        disable=args.quiet, transient=False)
    state = {"task": None, "t0": 0.0, "n": 0}

    def on_start(total: int, pool: dict) -> None:
        if not args.quiet:
            err.print(f"Ray: {pool['size']} actor(s) on {pool['device']}"
                      + (f", {pool['threads']} thread(s) each" if pool["device"] == "cpu" else "")
                      + f"  ({total} images -> {output})")
        if pool["model"].get("origin") == "bundled":
            err.print("[yellow]note:[/] the bundled model is small and trained on little data: weak evidence "
                      "(see docs/MODEL_CARD.md). For real cases use the authors' weights: `trufor weights download`.")
        state["task"] = progress.add_task("analysing", total=total, rate="")
        state["t0"] = time.perf_counter()

    def on_result(res) -> None:
        state["n"] += 1
        elapsed = time.perf_counter() - state["t0"]
        rate = f"{state['n'] / elapsed:.2f} img/s" if elapsed > 0 else ""
        progress.update(state["task"], advance=1, rate=rate)
        if res.status == "failed":
            progress.console.print(f"[red]error:[/] {res.message}")
        for w in res.warnings:
            progress.console.print(f"[yellow]warning:[/] {res.image}: {w}")

    try:
        with progress:
            run = run_detect(inputs, output, address=args.ray, weights=weights, read_options=options,
                             overwrite=args.overwrite, save_noiseprint=args.save_np, save_png=args.save_png,
                             engine=args.engine, precision=args.precision, tta=args.tta, max_memory=args.max_memory,
                             device=device, provenance=args.provenance, trust_anchors=anchors,
                             threads=args.ray_threads, actors=args.ray_actors,
                             run_options=_run_options(args, inputs, output, weights),
                             on_start=on_start, on_result=on_result)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted: finished outputs are complete; run the same command again to resume[/]")
        return 130
    except TruForError as exc:
        return fail(str(exc))
    except Exception as exc:  # a failure of Ray itself (lost cluster, ...): one line, not a traceback
        if not type(exc).__module__.startswith("ray"):
            raise
        return fail(f"the Ray run failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    if not args.quiet:
        err.print(f"Ray start-up {run.startup_seconds:.1f} s, run {run.run_seconds:.1f} s; "
                  f"table also in {run.parquet}")
        _print_summary(run.reports, Path(output) if "://" not in str(output) else output, provenance=args.provenance)
    return 1 if run.counts["failed"] else 0


def _run_options(args: argparse.Namespace, inputs: list[str], output: Path, weights) -> dict:
    """The options of this run, for the chain of custody in results.json."""
    return {"command": "detect", "inputs": [str(i) for i in inputs], "output": str(output),
            "weights_argument": None if weights is None else str(weights), "engine": args.engine,
            "backend": args.backend, "mode": args.mode, "batch_size": args.batch_size,
            "precision": args.precision, "tta": args.tta, "max_memory": args.max_memory, "save_np": bool(args.save_np),
            "save_png": bool(args.save_png), "overwrite": bool(args.overwrite), "provenance": bool(args.provenance),
            "trust_anchors": args.trust_anchors}


def _close_quietly(reports) -> None:
    """Write the reports of an interrupted run (what was done so far), ignoring a second failure."""
    try:
        reports.close()
    except Exception:
        reports.abort()


def _print_summary(reports, report_dir: Path, provenance: bool = False) -> None:
    from rich.table import Table

    out = console()
    rows, cut = reports.table()
    note = f" (showing {len(rows)} of {reports.total}: failures first, then the highest scores)" if cut else ""
    table = Table(title=f"TruFor results{note}")
    table.add_column("file", overflow="fold")
    table.add_column("score", justify="right")
    table.add_column("time (s)", justify="right")
    table.add_column("status")
    if provenance:
        table.add_column("provenance", overflow="fold")
    for r in rows:
        score = "" if r.score is None else f"{r.score:.3f}"
        secs = "" if r.seconds is None else f"{r.seconds:.2f}"
        colour = {"ok": "green", "skipped": "cyan", "failed": "red"}[r.status]
        cells = [r.image, score, secs, f"[{colour}]{r.status}[/]"]
        if provenance:
            cells.append((r.provenance or {}).get("short") or "")
        table.add_row(*cells)
    out.print(table)
    counts = reports.counts
    out.print(f"{counts['ok']} analysed, {counts['skipped']} skipped (already done), {counts['failed']} failed; "
              f"table in {_in_folder(report_dir, 'results.csv')}")


def _in_folder(folder, name: str):
    """``folder / name`` for a local folder (a Path) or an object-store URL (a str)."""
    return folder / name if isinstance(folder, Path) else f"{str(folder).rstrip('/')}/{name}"
