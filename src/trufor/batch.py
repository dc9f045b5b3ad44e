"""The one job runner: analysing many images, as ``trufor detect`` and ``trufor eval`` do.

A *job* is one image and the ``.npz`` its result goes to. A run is built from stages that can also be
called one by one (a service worker fed from a database queue, or the stages of a cluster pipeline,
call the same functions):

1. **plan** (:func:`iter_jobs`): inputs (files, folders, globs) -> jobs, lazily: a folder of a million
   images is never held as one list. Output layout as the official tool: ``OUT/<path relative to the
   input root>.npz``, where the root is the folder given, the folder of a single file, or the folder part
   of a glob before its first wildcard.
2. **resume** (:func:`existing_result`): a job whose output is already complete is skipped (only the
   npz headers are read), unless ``overwrite``.
3. **read** (:func:`read_stage`): decode the image with the job's :class:`~trufor.imageio.ReadOptions`.
4. **analyse** (:func:`analyse_stage`): the model's ``analyze``.
5. **write** (:func:`write_stage`): the npz (and figures) atomically.

:func:`iter_results` overlaps them (the next image is decoded and the previous result written while the
current one is analysed) and yields one :class:`JobResult` per job, in input order. One failing image is
reported and the run goes on, except when the output disk is full or read-only: that would repeat for
every image, so the run stops with an ``OutputError``. :class:`ReportWriter` appends each result to
``results.jsonl`` as it comes, then writes ``results.csv`` and ``results.json`` (schema:
``trufor/schemas/results.schema.json``) from it, never holding the whole run in memory.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import heapq
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .errors import EvaluationAborted, OutputError, TruForError
from .imageio import LoadedImage, ReadOptions, scan_images
from .outputs import FATAL_ERRNOS, atomic_write, part_target, remove_stale_parts
from .provenance.custody import custody_header, sha256_file
from .results import AnalysisResult, npz_summary

_WILDCARDS = "*?["

#: Version of the layout of results.json / results.jsonl (``trufor/schemas/results.schema.json``).
RESULTS_SCHEMA_VERSION = 1

#: Files written beside each ``.npz`` with ``save_png``.
PNG_SUFFIXES = (".figure.png", ".overlay.png")


@dataclass(frozen=True)
class Job:
    """One image to analyse and the file its result goes to (``problem``: why it cannot run, if any)."""

    image: Path
    output: Path
    relative: str
    problem: str | None = None
    note: str | None = None  # told with the job's result (e.g. a damaged earlier output was replaced)


@dataclass
class JobResult:
    """What happened to one job (``status``: ok, skipped or failed): one row of results.csv/json/jsonl."""

    image: str
    output: str
    status: str
    score: float | None = None
    height: int | None = None
    width: int | None = None
    seconds: float | None = None
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    #: the analysis itself, only when the run was asked to keep it (``keep_analysis``); never serialised
    analysis: AnalysisResult | None = field(default=None, repr=False, compare=False)
    #: the EXIF orientation applied when the image was read (None: the stored grid); never serialised
    orientation: int | None = field(default=None, repr=False, compare=False)
    #: SHA-256 of the input file's bytes as read in this run (chain of custody); None when not read
    sha256: str | None = None
    #: the provenance report of the input (``trufor.provenance``), only when the run asked for it
    provenance: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The serialised record (the ``result`` of the JSON schema)."""
        record = {"image": self.image, "output": self.output, "status": self.status, "score": self.score,
                  "height": self.height, "width": self.width, "seconds": self.seconds, "message": self.message,
                  "warnings": list(self.warnings), "sha256": self.sha256}
        if self.provenance is not None:
            record["provenance"] = self.provenance
        return record


# --------------------------------------------------------------------------------------- 1. plan
def expand_input(spec: str) -> tuple[Path, Iterator[Path]]:
    """The root folder of one INPUT (file, folder or glob) and the image files it names (lazily)."""
    if any(c in spec for c in _WILDCARDS) and not os.path.exists(spec):
        prefix = spec[: min(spec.find(c) for c in _WILDCARDS if c in spec)]
        root = Path(os.path.dirname(prefix) or ".")
        return root, (Path(p) for p in sorted(glob.iglob(spec, recursive=True)) if os.path.isfile(p))
    path = Path(spec)
    if path.is_dir():
        return path, (p for p, _ in scan_images(path))
    if path.exists() or path.is_symlink():
        return path.parent, iter([path])
    raise TruForError(f"{spec}: no such file or folder")


def _output_is_file(output: Path) -> bool:
    return bool(output.suffix) and not output.is_dir()


def iter_jobs(inputs: Iterable[str], output: str | os.PathLike) -> Iterator[Job]:
    """Map every image named by ``inputs`` to its ``.npz`` under ``output``, lazily.

    ``output`` is a folder, or (for a single image) a file name with an extension, as in the official
    tool; ``.npz`` is appended when missing. Every INPUT is checked to exist before the first job is
    yielded. When several inputs would write the same output, the later job carries a ``problem``.
    """
    output = Path(output)
    inputs = list(inputs)
    expanded = [expand_input(spec) for spec in inputs]  # a missing INPUT fails before any work
    if _output_is_file(output):
        pairs = [(f, root) for root, files in expanded for f in files]
        if len(pairs) != 1:
            raise TruForError(f"{output}: an output file name needs exactly one input image, got {len(pairs)}; "
                              "give an output folder instead")
        target = output if output.suffix == ".npz" else output.with_name(output.name + ".npz")
        yield Job(pairs[0][0], target, pairs[0][0].name)
        return
    # Within one input the relative paths are distinct; only several inputs can collide.
    seen: dict[str, Path] | None = {} if len(inputs) > 1 else None
    for root, files in expanded:
        for f in files:
            try:
                rel = f.relative_to(root).as_posix()
            except ValueError:
                rel = f.name
            problem = None
            if seen is not None:
                if rel in seen:
                    problem = f"output {output / (rel + '.npz')} would also be written by {seen[rel]}; rename one input"
                else:
                    seen[rel] = f
            yield Job(f, output / (rel + ".npz"), rel, problem)


def plan_jobs(inputs: Iterable[str], output: str | os.PathLike) -> list[Job]:
    """:func:`iter_jobs` as a list (convenient for small runs)."""
    return list(iter_jobs(inputs, output))


def count_images(inputs: Iterable[str]) -> int:
    """How many images ``inputs`` name (a scan without building jobs, e.g. for a progress bar)."""
    return sum(sum(1 for _ in expand_input(spec)[1]) for spec in inputs)


# ------------------------------------------------------------------------------------- 2-5. stages
def existing_result(job: Job, require: tuple[str, ...] = ("map", "score")) -> JobResult | None:
    """The result of a job whose output is already complete (holds ``require``), or None when it must
    be (re)done. Only the npz headers and the score are read."""
    try:
        height, width, score = npz_summary(job.output, require)
    except Exception:  # absent, incomplete, damaged or not a result: analyse the image again
        return None
    return JobResult(str(job.image), str(job.output), "skipped", score, height, width,
                     message="output exists (use --overwrite to redo)")


def read_stage(job: Job, options: ReadOptions | None = None,
               read: Callable[[Path], Any] | None = None) -> tuple[LoadedImage | None, str | None]:
    """Decode a job's image: ``(image, None)`` or ``(None, error message)``; never raises."""
    try:
        reader = read or (options or ReadOptions()).read
        return reader(job.image), None
    except TruForError as exc:
        return None, str(exc)
    except Exception as exc:  # a decoder bug must not stop the batch
        return None, f"{job.image}: cannot read image: {type(exc).__name__}: {exc}"


def inspect_stage(job: Job, *, provenance: bool = False,
                  trust_anchors: str | None = None) -> tuple[str | None, dict[str, Any] | None, list[str]]:
    """The chain-of-custody hash of a job's input and, with ``provenance``, its provenance report:
    ``(sha256, report, warnings)``; never raises (a file that cannot be read has no hash, and its read
    stage reports why).

    Run just before :func:`read_stage` on the same thread: the hash reads the file once in chunks and the
    decoder then finds it in the page cache; with ``provenance`` the file is read once into memory, hashed
    and parsed from there (``trufor.provenance.inspect_file``).
    """
    try:
        if provenance:
            from .provenance import inspect_file

            report = inspect_file(job.image, trust_anchors=trust_anchors)
            return report["file"]["sha256"], report, [f"metadata: {w}" for w in report.get("warnings", [])]
        return sha256_file(job.image), None, []
    except OSError:
        return None, None, []
    except Exception as exc:  # a provenance bug must never stop the analysis
        return None, None, [f"provenance not read: {type(exc).__name__}: {exc}"]


def analyse_stage(model, job: Job, image, *, noiseprint: bool = False) -> tuple[Any, str | None]:
    """``model.analyze(image)``: ``(result, None)`` or ``(None, error message)``.

    Raises only :class:`~trufor.errors.EvaluationAborted` (a model that asks to stop the whole run).
    """
    try:
        result = model.analyze(image, noiseprint=noiseprint)
        result.path = str(job.image)
        return result, None
    except EvaluationAborted:
        raise
    except TruForError as exc:
        return None, str(exc)
    except Exception as exc:  # e.g. out of memory on one huge image: report it, analyse the others
        return None, f"{job.image}: analysis failed: {type(exc).__name__}: {exc}"


def png_paths(output: Path) -> list[Path]:
    """The figure and overlay written beside ``output`` (an ``.npz``) with ``save_png``."""
    base = str(output)[: -len(".npz")] if str(output).endswith(".npz") else str(output)
    return [Path(base + suffix) for suffix in PNG_SUFFIXES]


def write_stage(job: Job, result, image, *, noiseprint: bool = False, save_png: bool = False,
                provenance_line: str | None = None) -> JobResult:
    """Write a job's npz (and figures) atomically; a failure is reported in the returned record.

    Raises :class:`~trufor.errors.OutputError` when the disk is full or read-only (it would repeat).
    ``provenance_line`` is printed under the figure (``trufor.provenance.summary_line``).
    """
    res = JobResult(str(job.image), str(job.output), "failed")
    try:
        result.save_npz(job.output, include_noiseprint=noiseprint)
        if save_png:
            from .visualize import result_figure, save_figure, save_overlay

            figure, overlay = png_paths(job.output)
            save_figure(result_figure(result, image=image, provenance=provenance_line), figure)
            save_overlay(image, result.map, overlay)
        return JobResult(str(job.image), str(job.output), "ok", result.score, *result.image_size,
                         seconds=result.seconds, warnings=list(result.warnings))
    except OutputError as exc:
        if getattr(exc, "errno", None) in FATAL_ERRNOS:
            raise
        res.message = str(exc)
    except Exception as exc:  # keep going: report this image and the others
        res.message = f"{job.output}: cannot save: {type(exc).__name__}: {exc}"
    return res


# ------------------------------------------------------------------------------------------- run
class _StaleParts:
    """Removes the temporary files a killed run left for this run's outputs: each output folder is
    listed once (not once per job), and only files named as ``atomic_write`` names them are touched."""

    def __init__(self, save_png: bool) -> None:
        self.save_png = save_png
        self.parts: dict[Path, dict[str, list[str]]] = {}  # folder -> target name -> its leftover parts

    def _folder(self, folder: Path) -> dict[str, list[str]]:
        if folder not in self.parts:
            found: dict[str, list[str]] = {}
            with contextlib.suppress(OSError):
                for entry in os.scandir(folder):
                    target = part_target(entry.name)
                    if target:
                        found.setdefault(target, []).append(entry.name)
            self.parts[folder] = found
        return self.parts[folder]

    def __call__(self, job: Job) -> None:
        for target in [job.output, *(png_paths(job.output) if self.save_png else [])]:
            for name in self._folder(target.parent).pop(target.name, []):
                with contextlib.suppress(OSError):
                    os.unlink(target.parent / name)


def iter_results(
    model,
    jobs: Iterable[Job],
    *,
    overwrite: bool = False,
    save_noiseprint: bool = False,
    save_png: bool = False,
    options: ReadOptions | None = None,
    read: Callable[[Path], Any] | None = None,
    keep_analysis: bool = False,
    require: tuple[str, ...] = ("map", "score"),
    provenance: bool = False,
    trust_anchors: str | None = None,
    hash_inputs: bool = True,
    batch_size: int = 1,
) -> Iterator[JobResult]:
    """Run every job with ``model`` and yield one :class:`JobResult` per job, in input order.

    With ``batch_size`` > 1 (and a model with ``analyze_batch``), consecutive images of one size are analysed
    ``batch_size`` at a time in one forward pass (:func:`analyse_batch_stage`); up to ``2 * batch_size``
    decoded images then wait in memory.

    Decoding the next image and writing the previous result overlap the current analysis (one thread
    each; at most one decoded image and one result wait, so memory stays bounded whatever the number
    of jobs). ``options`` are the read options (or ``read``, any callable path -> image). With
    ``keep_analysis`` each computed result rides along in ``JobResult.analysis`` (for ``trufor eval``).
    An existing output holding the keys ``require`` counts as done (unless ``overwrite``).
    Each analysed input is hashed (``JobResult.sha256``, unless ``hash_inputs=False``); with ``provenance``
    its provenance report rides in ``JobResult.provenance`` (``trust_anchors``: PEM text for C2PA) and its
    one-line summary goes under the figure of ``save_png``. Both run on the prefetch thread.

    Raises :class:`~trufor.errors.OutputError` (and stops) when an output cannot be saved because the
    disk is full or read-only; outputs written until then are complete.
    """
    stale = _StaleParts(save_png)

    def todo() -> Iterator[Job | JobResult]:
        for job in jobs:
            if job.problem:
                yield JobResult(str(job.image), str(job.output), "failed", message=job.problem)
                continue
            stale(job)
            if not overwrite and job.output.is_file():
                existing = existing_result(job, require)
                if existing is not None:
                    yield existing
                    continue
                job = replace(job, note=f"existing output {job.output.name} is incomplete or unreadable: "
                                        "analysed again")
            yield job

    def load(item):
        if isinstance(item, JobResult):
            return item
        facts = inspect_stage(item, provenance=provenance, trust_anchors=trust_anchors) \
            if (hash_inputs or provenance) else (None, None, [])
        return (*read_stage(item, options, read), facts)

    def attach(res: JobResult, facts) -> JobResult:
        res.sha256, res.provenance = facts[0], facts[1]
        res.warnings.extend(facts[2])
        return res

    def finish(job: Job, out, image, facts) -> JobResult:
        line = facts[1].get("summary") if facts[1] else None
        res = write_stage(job, out, image, noiseprint=save_noiseprint, save_png=save_png, provenance_line=line)
        if keep_analysis and res.status == "ok":
            res.analysis = out
        res.orientation = getattr(image, "orientation", None)
        if job.note:
            res.warnings.insert(0, job.note)
        return attach(res, facts)

    items = todo()
    if batch_size > 1 and hasattr(model, "analyze_batch"):
        yield from _iter_batched(model, items, load, finish, attach, batch_size, save_noiseprint)
        return
    with ThreadPoolExecutor(max_workers=1) as reader, ThreadPoolExecutor(max_workers=1) as writer:
        current = next(items, None)
        pending = reader.submit(load, current) if current is not None else None
        writing = None
        try:
            while current is not None:
                loaded = pending.result()
                following = next(items, None)
                pending = reader.submit(load, following) if following is not None else None
                if isinstance(current, JobResult):  # skipped or refused: reported in order
                    if writing is not None:
                        yield writing.result()
                        writing = None
                    yield current
                    current = following
                    continue
                job = current
                image, error, facts = loaded
                out = None
                if image is not None:
                    out, error = analyse_stage(model, job, image, noiseprint=save_noiseprint)
                if writing is not None:  # a fatal output error surfaces here and stops the run
                    yield writing.result()
                    writing = None
                if out is not None:
                    writing = writer.submit(finish, job, out, image, facts)
                else:
                    yield attach(JobResult(str(job.image), str(job.output), "failed", message=error or "",
                                           warnings=[job.note] if job.note else []), facts)
                current = following
            if writing is not None:
                yield writing.result()
                writing = None
        finally:
            if pending is not None:
                pending.cancel()


def analyse_batch_stage(model, jobs: list[Job], images: list, *, noiseprint: bool = False) -> list[tuple[Any, str | None]]:
    """``model.analyze_batch(images)`` for images of one size: one ``(result, error)`` per job, as
    :func:`analyse_stage`. When the batch as a whole fails (e.g. out of memory), each image is analysed
    alone, so an error names its own file."""
    try:
        results = model.analyze_batch(images, noiseprint=noiseprint)
    except EvaluationAborted:
        raise
    except Exception:
        return [analyse_stage(model, job, image, noiseprint=noiseprint) for job, image in zip(jobs, images)]
    for job, result in zip(jobs, results):
        result.path = str(job.image)
    return [(result, None) for result in results]


def _pixel_size(image) -> tuple[int, ...] | None:
    pixels = getattr(image, "pixels", image)
    shape = getattr(pixels, "shape", None)
    return tuple(shape) if shape is not None else None


def _iter_batched(model, items: Iterator, load, finish, attach, batch_size: int,
                  noiseprint: bool) -> Iterator[JobResult]:
    """:func:`iter_results` with batches: decoding ahead on one thread, writing on another, in input order."""
    from collections import deque

    with ThreadPoolExecutor(max_workers=1) as reader, ThreadPoolExecutor(max_workers=1) as writer:
        queue: deque = deque()  # (item, future of load(item)) in input order
        exhausted = False

        def fill() -> None:
            nonlocal exhausted
            while not exhausted and len(queue) < 2 * batch_size:
                item = next(items, None)
                if item is None:
                    exhausted = True
                    return
                queue.append((item, reader.submit(load, item)))

        writing: deque = deque()  # futures of finish(), in order

        def drain() -> Iterator[JobResult]:
            while writing:  # a fatal output error surfaces here and stops the run
                yield writing.popleft().result()

        try:
            fill()
            while queue:
                group: list = []  # (job, image, facts) of one pixel size
                while queue and len(group) < batch_size:
                    item, future = queue[0]
                    if isinstance(item, JobResult):
                        if group:
                            break
                        queue.popleft()
                        yield from drain()
                        yield item
                        fill()
                        continue
                    image, error, facts = future.result()
                    if image is None:
                        if group:
                            break
                        queue.popleft()
                        yield from drain()
                        yield attach(JobResult(str(item.image), str(item.output), "failed", message=error or "",
                                               warnings=[item.note] if item.note else []), facts)
                        fill()
                        continue
                    if group and _pixel_size(image) != _pixel_size(group[0][1]):
                        break
                    queue.popleft()
                    group.append((item, image, facts))
                    fill()
                if not group:
                    continue
                outcomes = analyse_batch_stage(model, [g[0] for g in group], [g[1] for g in group],
                                               noiseprint=noiseprint)
                yield from drain()
                for (job, image, facts), (out, error) in zip(group, outcomes):
                    if out is not None:
                        writing.append(writer.submit(finish, job, out, image, facts))
                    else:
                        yield from drain()
                        yield attach(JobResult(str(job.image), str(job.output), "failed", message=error or "",
                                               warnings=[job.note] if job.note else []), facts)
            yield from drain()
        finally:
            for _, future in queue:
                future.cancel()


def run_jobs(model, jobs: Iterable[Job], *, on_result: Callable[[JobResult], None] | None = None,
             read: Callable[[Path], Any] | None = None, **kwargs: Any) -> list[JobResult]:
    """:func:`iter_results` collected into a list, calling ``on_result`` after each job."""
    results = []
    for res in iter_results(model, jobs, read=read, **kwargs):
        results.append(res)
        if on_result:
            on_result(res)
    return results


# --------------------------------------------------------------------------------------- reports
REPORT_FIELDS = ("image", "output", "status", "score", "height", "width", "seconds", "message", "model", "sha256",
                 "provenance")
STATUSES = ("ok", "skipped", "failed")


class ReportWriter:
    """Writes a run's reports: ``results.jsonl`` line by line as results come (flushed, so an
    interrupted run keeps what it did), then ``results.csv`` and ``results.json`` (atomically, streamed
    from the JSON Lines file) on :meth:`close`. Counts and a short summary are kept, not the results.
    """

    def __init__(self, folder: str | os.PathLike, model_info: dict[str, Any], *, read_options: ReadOptions | None = None,
                 table_rows: int = 40, options: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        self.model_info = model_info
        self.options = options  # the run's options, recorded in the custody header
        self.read_options = read_options
        self.counts = {s: 0 for s in STATUSES}
        self.created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.custody = custody_header(model_info, options=options,
                                      read_options=None if read_options is None else read_options.to_dict(),
                                      started=self.created)
        self.jsonl_path = self.folder / "results.jsonl"
        self.csv_path, self.json_path = self.folder / "results.csv", self.folder / "results.json"
        remove_stale_parts([self.csv_path, self.json_path])
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._jsonl = open(self.jsonl_path, "w", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"{self.jsonl_path}: cannot write: {exc.strerror or exc}") from None
        self._table_rows = table_rows
        self._first: list[JobResult] = []  # the first rows, while the run is small enough to show whole
        self._failed: list[JobResult] = []
        self._top: list[tuple[float, int, JobResult]] = []  # heap of the highest scores
        self._n = 0

    def add(self, res: JobResult) -> None:
        self._n += 1
        self.counts[res.status] = self.counts.get(res.status, 0) + 1
        self._jsonl.write(json.dumps(res.to_dict()) + "\n")
        self._jsonl.flush()
        light = JobResult(res.image, res.output, res.status, res.score, res.height, res.width, res.seconds,
                          res.message, sha256=res.sha256,
                          provenance={"short": res.provenance.get("short")} if res.provenance else None)
        if len(self._first) <= self._table_rows:
            self._first.append(light)
        if res.status == "failed" and len(self._failed) < self._table_rows:
            self._failed.append(light)
        if res.score is not None:
            item = (res.score, self._n, light)
            if len(self._top) < self._table_rows:
                heapq.heappush(self._top, item)
            elif item[0] > self._top[0][0]:
                heapq.heapreplace(self._top, item)

    @property
    def total(self) -> int:
        return self._n

    def table(self) -> tuple[list[JobResult], bool]:
        """Rows to show (all of a small run, else failures first then the highest scores) and whether cut."""
        if self._n <= self._table_rows:
            return list(self._first), False
        failed = self._failed[: self._table_rows // 2]
        top = [r for _, _, r in sorted(self._top, key=lambda t: (-t[0], t[1]))]
        return failed + top[: self._table_rows - len(failed)], True

    def _records(self) -> Iterator[dict[str, Any]]:
        with open(self.jsonl_path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)

    def header(self) -> dict[str, Any]:
        return {
            "schema": "trufor/results",
            "schema_version": RESULTS_SCHEMA_VERSION,
            "model": self.model_info,
            "read_options": None if self.read_options is None else self.read_options.to_dict(),
            "created": self.created,
            "custody": self.custody,
            "counts": dict(self.counts),
        }

    def close(self) -> tuple[Path, Path]:
        """Finish results.jsonl and write results.csv and results.json (atomically)."""
        self._jsonl.close()
        name = self.model_info.get("name", "")
        with atomic_write(self.csv_path, "w") as f:
            writer = csv.DictWriter(f, fieldnames=REPORT_FIELDS, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            for rec in self._records():
                row = dict(rec, model=name)
                row["provenance"] = (rec.get("provenance") or {}).get("short", "")
                if rec.get("seconds") is not None:
                    row["seconds"] = f"{rec['seconds']:.3f}"
                writer.writerow(row)
        with atomic_write(self.json_path, "w") as f:
            head = json.dumps(self.header(), indent=2)
            f.write(head[:-2] + ',\n  "results": [')  # the header object, left open for the results
            for i, rec in enumerate(self._records()):
                f.write(("," if i else "") + "\n    " + json.dumps(rec))
            f.write("\n  ]\n}\n")
        return self.csv_path, self.json_path

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._jsonl.close()


def write_reports(folder: str | os.PathLike, results: Iterable[JobResult], model_info: dict,
                  read_options: ReadOptions | None = None) -> tuple[Path, Path]:
    """``results.jsonl``, ``results.csv`` and ``results.json`` in ``folder`` for finished ``results``."""
    writer = ReportWriter(folder, model_info, read_options=read_options)
    try:
        for res in results:
            writer.add(res)
    except BaseException:
        writer.abort()
        raise
    return writer.close()
