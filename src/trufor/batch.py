"""Analysing many images: which files, where their outputs go, and a run that survives bad files.

Output layout follows the official tool: ``OUT/<path relative to the input root>.npz``, where the
root is the folder given, the folder of a single file, or the folder part of a glob before its first
wildcard. Outputs already present and complete are skipped (so an interrupted run resumes), unless
``overwrite`` is set; temporary files left by a killed run for these outputs are removed. One failing
image is reported and the batch goes on, except when the output disk is full or read-only: that would
repeat for every image, so :func:`run_jobs` stops with an ``OutputError``.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .errors import OutputError, TruForError
from .imageio import LoadedImage, read_image, scan_images
from .outputs import FATAL_ERRNOS, atomic_write, npz_summary, remove_stale_parts

_WILDCARDS = "*?["


@dataclass
class Job:
    """One image to analyse and the file its result goes to."""

    image: Path
    output: Path
    relative: str


@dataclass
class JobResult:
    """What happened to one job (``status``: ok, skipped or failed)."""

    image: str
    output: str
    status: str
    score: float | None = None
    height: int | None = None
    width: int | None = None
    seconds: float | None = None
    message: str = ""
    warnings: list[str] = field(default_factory=list)


def _walk_images(folder: Path) -> Iterator[Path]:
    return (path for path, _ in scan_images(folder))


def expand_input(spec: str) -> tuple[Path, list[Path]]:
    """The root folder of one INPUT (file, folder or glob) and the image files it names."""
    if any(c in spec for c in _WILDCARDS) and not os.path.exists(spec):
        prefix = spec[: min(spec.find(c) for c in _WILDCARDS if c in spec)]
        root = Path(os.path.dirname(prefix) or ".")
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
        return root, files
    path = Path(spec)
    if path.is_dir():
        return path, list(_walk_images(path))
    if path.exists() or path.is_symlink():
        return path.parent, [path]
    raise TruForError(f"{spec}: no such file or folder")


def plan_jobs(inputs: Iterable[str], output: str | os.PathLike) -> list[Job]:
    """Map every image named by ``inputs`` to its ``.npz`` under ``output``.

    ``output`` is a folder, or (for a single image) a file name with an extension, as in the
    official tool; ``.npz`` is appended when missing.
    """
    output = Path(output)
    pairs: list[tuple[Path, str]] = []
    for spec in inputs:
        root, files = expand_input(spec)
        for f in files:
            try:
                rel = f.relative_to(root).as_posix()
            except ValueError:
                rel = f.name
            pairs.append((f, rel))
    if output.suffix and not output.is_dir():
        if len(pairs) != 1:
            raise TruForError(f"{output}: an output file name needs exactly one input image, got {len(pairs)}; "
                              "give an output folder instead")
        target = output if output.suffix == ".npz" else output.with_name(output.name + ".npz")
        return [Job(pairs[0][0], target, pairs[0][1])]
    return [Job(f, output / (rel + ".npz"), rel) for f, rel in pairs]


def _read_existing(job: Job) -> JobResult | None:
    """The result of a job whose output is already complete, or None when it must be (re)done."""
    try:
        height, width, score = npz_summary(job.output)
    except Exception:  # incomplete, damaged or not a result: analyse the image again
        return None
    return JobResult(str(job.image), str(job.output), "skipped", score, height, width,
                     message="output exists (use --overwrite to redo)")


def run_jobs(
    model,
    jobs: list[Job],
    *,
    overwrite: bool = False,
    save_noiseprint: bool = False,
    save_png: bool = False,
    read: Callable[[Path], LoadedImage] = read_image,
    on_result: Callable[[JobResult], None] | None = None,
) -> list[JobResult]:
    """Analyse every job with ``model``; decoding the next image and writing the previous result overlap
    the current analysis.

    Raises :class:`~trufor.errors.OutputError` (and stops) when an output cannot be saved because
    the disk is full or read-only; outputs written until then are complete.
    """
    targets = [j.output for j in jobs]
    if save_png:
        targets += [Path(str(j.output)[: -len(".npz")] + ext) for j in jobs for ext in (".figure.png", ".overlay.png")]
    remove_stale_parts(targets)
    results: list[JobResult] = []
    seen: dict[Path, Path] = {}
    todo: list[Job] = []
    for job in jobs:
        key = job.output.resolve()
        if key in seen:
            res = JobResult(str(job.image), str(job.output), "failed",
                            message=f"output {job.output} would also be written by {seen[key]}; rename one input")
            results.append(res)
            if on_result:
                on_result(res)
            continue
        seen[key] = job.image
        existing = _read_existing(job) if not overwrite and job.output.is_file() else None
        if existing is not None:
            results.append(existing)
            if on_result:
                on_result(existing)
            continue
        todo.append(job)

    def load(job: Job):
        try:
            return read(job.image), None
        except TruForError as exc:
            return None, str(exc)
        except Exception as exc:  # a decoder bug must not stop the batch
            return None, f"{job.image}: cannot read image: {type(exc).__name__}: {exc}"

    def save(job: Job, out, image: LoadedImage) -> JobResult:
        res = JobResult(str(job.image), str(job.output), "failed")
        try:
            out.save_npz(job.output, include_noiseprint=save_noiseprint)
            if save_png:
                from .visualize import result_figure, save_figure, save_overlay

                base = str(job.output)[: -len(".npz")]
                save_figure(result_figure(out, image=image), base + ".figure.png")
                save_overlay(image, out.map, base + ".overlay.png")
            return JobResult(str(job.image), str(job.output), "ok", out.score, *out.image_size,
                             seconds=out.seconds, warnings=out.warnings)
        except OutputError as exc:
            if getattr(exc, "errno", None) in FATAL_ERRNOS:
                raise
            res.message = str(exc)
        except Exception as exc:  # keep going: report this image and the others
            res.message = f"{job.output}: cannot save: {type(exc).__name__}: {exc}"
        return res

    def report(res: JobResult) -> None:
        results.append(res)
        if on_result:
            on_result(res)

    # Three stages overlap: the next image is decoded and the previous result written (one thread
    # each) while the current one is analysed. At most one result waits to be written, so memory
    # stays bounded, and results are reported in input order.
    with ThreadPoolExecutor(max_workers=1) as reader, ThreadPoolExecutor(max_workers=1) as writer:
        pending = reader.submit(load, todo[0]) if todo else None
        writing = None
        try:
            for i, job in enumerate(todo):
                image, error = pending.result()
                pending = reader.submit(load, todo[i + 1]) if i + 1 < len(todo) else None
                res = JobResult(str(job.image), str(job.output), "failed", message=error or "")
                out = None
                if image is not None:
                    try:
                        out = model.analyze(image, noiseprint=save_noiseprint)
                        out.path = str(job.image)
                    except TruForError as exc:
                        res.message = str(exc)
                    except Exception as exc:  # keep going: report this image and analyse the others
                        res.message = f"{job.image}: analysis failed: {type(exc).__name__}: {exc}"
                if writing is not None:  # a fatal output error surfaces here and stops the batch
                    report(writing.result())
                    writing = None
                if out is not None:
                    writing = writer.submit(save, job, out, image)
                else:
                    report(res)
            if writing is not None:
                report(writing.result())
        finally:
            if pending is not None:
                pending.cancel()
    return results


REPORT_FIELDS = ("image", "output", "status", "score", "height", "width", "seconds", "message", "model")


def write_reports(folder: str | os.PathLike, results: list[JobResult], model_info: dict) -> tuple[Path, Path]:
    """``results.csv`` and ``results.json`` in ``folder`` (atomically), one row per image."""
    folder = Path(folder)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=REPORT_FIELDS)
    writer.writeheader()
    for r in results:
        row = {k: v for k, v in asdict(r).items() if k in REPORT_FIELDS}
        row["model"] = model_info.get("name", "")
        if r.seconds is not None:
            row["seconds"] = f"{r.seconds:.3f}"
        writer.writerow(row)
    csv_path, json_path = folder / "results.csv", folder / "results.json"
    remove_stale_parts([csv_path, json_path])
    with atomic_write(csv_path, "w") as f:
        f.write(buf.getvalue())
    doc = {
        "model": model_info,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "counts": {s: sum(r.status == s for r in results) for s in ("ok", "skipped", "failed")},
        "results": [asdict(r) for r in results],
    }
    with atomic_write(json_path, "w") as f:
        json.dump(doc, f, indent=2)
    return csv_path, json_path
