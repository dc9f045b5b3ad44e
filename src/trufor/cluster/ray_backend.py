"""``trufor detect`` on a Ray cluster: the stages of :mod:`trufor.batch`, scheduled by Ray Data.

The run is the plain one cut at its stage boundaries; every stage is the function of ``batch.py``:

1. **plan** (driver): :func:`trufor.batch.iter_jobs` for local inputs; for object-store inputs
   (``s3://...``, any fsspec URL) the same layout (``OUT/<path relative to the input root>.npz``, hidden
   files skipped, the scan order of :func:`trufor.imageio.scan_images`) from an fsspec listing. The jobs
   become a Ray Dataset (``ray.data.from_items``; one row per image: paths, a few hundred bytes).
2. **resume + read** (Ray tasks, in parallel): stale temporary files are removed, a complete output is
   reported as skipped (:func:`~trufor.batch.existing_result`), else the input is hashed
   (:func:`~trufor.batch.inspect_stage`) and decoded (:func:`~trufor.batch.read_stage`). An object-store
   input is copied to a node-local temporary file first. The decoded image travels pickled to the next stage.
3. **analyse + write** (a Ray actor pool, one model per actor): :func:`~trufor.batch.analyse_stage` and
   :func:`~trufor.batch.write_stage` (atomic: a temporary file renamed). An object-store output is written
   to a node-local file and uploaded in one PUT (an object appears whole or not at all). On GPU nodes each
   actor holds one GPU (``num_gpus=1``); on CPU nodes each holds ``threads`` CPUs and runs torch with that
   many threads. The pool size follows the cluster's resources.
4. **report** (driver): rows come back in input order (``preserve_order``) and go to
   :class:`~trufor.batch.ReportWriter` (``results.jsonl``, ``results.csv``, ``results.json``, the same
   rows as a plain run) and to ``results.parquet`` (path, output, score, image size, model, seconds,
   status, error, sha256, the Ray node that did the work).

Fault tolerance is Ray's: a killed actor is restarted and its unfinished rows are analysed again (Ray
Data's actor pools retry their tasks); since every output is renamed into place whole, and leftover
temporary files are removed before a write, a retry leaves no half-written file, and the driver receives
each row once, so ``results.*`` have no duplicate rows.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..batch import (Job, JobResult, ReportWriter, analyse_stage, existing_result, inspect_stage, iter_jobs, png_paths,
                     read_stage, write_stage)
from ..errors import OutputError, TruForError
from ..imageio import IMAGE_EXTENSIONS, ReadOptions
from ..outputs import atomic_write, ensure_output_folder, remove_stale_parts

#: How to install what a Ray run needs (said by every error about it).
RAY_EXTRA = "pip install 'trufor[ray]'"

#: Columns of results.parquet.
PARQUET_COLUMNS = ("path", "output", "status", "score", "height", "width", "model", "seconds", "error", "sha256",
                   "node")

_WILDCARDS = "*?["


def require_ray():
    """The ``ray`` module with Ray Data, or a :class:`TruForError` naming the extra to install."""
    try:
        import pyarrow  # noqa: F401
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise TruForError(f"running on Ray needs Ray Data, which is not installed (no module {exc.name!r}): "
                          f"{RAY_EXTRA}") from None
    return ray


def is_url(spec: str | os.PathLike) -> bool:
    """An object-store or other fsspec URL (``s3://bucket/key``), as opposed to a local path."""
    return "://" in str(spec)


def _filesystem(url: str, storage_options: dict | None):
    try:
        import fsspec
    except ImportError:
        raise TruForError(f"{url}: object-store paths need fsspec: {RAY_EXTRA}") from None
    try:
        return fsspec.core.url_to_fs(url, **(storage_options or {}))
    except (ImportError, ValueError) as exc:
        raise TruForError(f"{url}: no file system for this URL ({exc}); for s3:// URLs: {RAY_EXTRA}") from None


def _join(url: str, relative: str) -> str:
    return url.rstrip("/") + "/" + relative


# --------------------------------------------------------------------------------------- 1. plan
def _scan_key(relative: str) -> list[tuple[int, str]]:
    """Sort key giving :func:`trufor.imageio.scan_images` order: a folder's files by name, then its subfolders."""
    parts = relative.split("/")
    return [(1, p) for p in parts[:-1]] + [(0, parts[-1])]


def _list_remote(spec: str, storage_options: dict | None) -> tuple[str, list[tuple[str, str]]]:
    """The root URL of one object-store INPUT and its images as ``(url, relative path)``, in scan order.

    URLs are spelled as the INPUT spells its root (the root, ``/``, the relative path)."""
    fs, path = _filesystem(spec, storage_options)
    try:
        if any(c in path for c in _WILDCARDS):
            cut = min(spec.find(c) for c in _WILDCARDS if c in spec)
            root_url = spec[: spec.rfind("/", 0, cut)]
            root = path[: path.rfind("/", 0, min(path.find(c) for c in _WILDCARDS if c in path))]
            files = [f for f in fs.glob(path) if fs.isfile(f)]
        elif fs.isdir(path):
            root_url, root, files = spec.rstrip("/"), path.rstrip("/"), fs.find(path)
        elif fs.isfile(path):
            root_url, root, files = spec.rsplit("/", 1)[0], path.rsplit("/", 1)[0], [path]
        else:
            raise TruForError(f"{spec}: no such file or folder")
    except OSError as exc:
        raise TruForError(f"{spec}: cannot list: {exc}") from None
    found = []
    for f in files:
        rel = f[len(root):].lstrip("/") if f.startswith(root) else f.rsplit("/", 1)[-1]
        if any(p.startswith(".") for p in rel.split("/")) or os.path.splitext(rel)[1].lower() not in IMAGE_EXTENSIONS:
            continue
        found.append((_join(root_url, rel), rel))
    found.sort(key=lambda item: _scan_key(item[1]))
    return root_url, found


def plan_rows(inputs: Iterable[str], output: str, *, storage_options: dict | None = None) -> list[dict[str, Any]]:
    """The jobs of a run as rows of a Ray Dataset (``index``, ``image``, ``output``, ``relative``, ``problem``).

    Local inputs are planned by :func:`trufor.batch.iter_jobs`; object-store inputs by the same rules.
    ``output`` must be a folder (local path or URL).
    """
    inputs = [str(i) for i in inputs]
    output = str(output)
    rows: list[dict[str, Any]] = []
    if not is_url(output) and Path(output).suffix and not Path(output).is_dir():
        raise TruForError(f"{output}: a Ray run writes to an output folder, not to one file; give a folder with -o")
    local_inputs = [i for i in inputs if not is_url(i)]
    if local_inputs and len(local_inputs) == len(inputs):
        # iter_jobs maps local inputs; a URL output is one folder: its jobs get the same relative names.
        marker = Path(output) if not is_url(output) else Path("/trufor-ray-output")
        for job in iter_jobs(inputs, marker):
            out = str(job.output) if not is_url(output) else _join(output, job.relative + ".npz")
            problem = (job.problem or "").replace(str(marker), output.rstrip("/"))
            rows.append({"index": len(rows), "image": str(job.image), "output": out, "relative": job.relative,
                         "problem": problem})
        return rows
    if local_inputs:
        raise TruForError("give either local inputs or object-store URLs in one run, not both: "
                          f"{local_inputs[0]} and {next(i for i in inputs if is_url(i))}")
    listed = [_list_remote(spec, storage_options) for spec in inputs]  # a missing INPUT fails before any work
    seen: dict[str, str] = {}
    for _, files in listed:
        for url, rel in files:
            out = _join(output, rel + ".npz") if is_url(output) else str(Path(output) / (rel + ".npz"))
            problem = ""
            if len(inputs) > 1:
                if rel in seen:
                    problem = f"output {out} would also be written by {seen[rel]}; rename one input"
                else:
                    seen[rel] = url
            rows.append({"index": len(rows), "image": url, "output": out, "relative": rel, "problem": problem})
    return rows


# ----------------------------------------------------------------------------- 2. resume + read
@dataclass(frozen=True)
class StageSettings:
    """What the read and analyse stages of a run need to know (travels to every Ray worker)."""

    read_options: ReadOptions = field(default_factory=ReadOptions)
    overwrite: bool = False
    save_noiseprint: bool = False
    save_png: bool = False
    provenance: bool = False
    trust_anchors: str | None = None
    require: tuple[str, ...] = ("map", "score")
    storage_options: dict | None = None
    #: the driver's working folder: relative local paths are resolved against it on every node (a Ray
    #: worker's own working folder is not the driver's), and reported as given
    cwd: str | None = None


class _Staged:
    """A row's job as local files: remote inputs and outputs go through a node-local temporary folder,
    and the names of those temporary files are put back to the URLs in every message."""

    def __init__(self, row: dict[str, Any], settings: StageSettings) -> None:
        self.row, self.settings = row, settings
        self.image_url = row["image"] if is_url(row["image"]) else None
        self.output_url = row["output"] if is_url(row["output"]) else None
        sub = _node_tmp() if (self.image_url or self.output_url) else ""
        cwd = settings.cwd or ""
        image = os.path.join(sub, "in", os.path.basename(row["relative"])) if self.image_url else \
            os.path.join(cwd, row["image"])
        output = os.path.join(sub, "out", os.path.basename(row["output"])) if self.output_url else \
            os.path.join(cwd, row["output"])
        self.sub = sub
        self.job = Job(Path(image), Path(output), row["relative"])
        # what the files are called in rows and messages: the URL, or the local path as the user gave it
        self.names = [(str(self.job.image), row["image"]), (str(self.job.output), row["output"])]

    def fix(self, text: str) -> str:
        for actual, shown in self.names:
            if actual != shown:
                text = text.replace(actual, shown)
        return text

    def fix_result(self, res: JobResult) -> JobResult:
        res.image, res.output = self.row["image"], self.row["output"]
        res.message = self.fix(res.message)
        res.warnings = [self.fix(w) for w in res.warnings]
        return res

    def fetch_input(self) -> None:
        if self.image_url:
            fs, path = _filesystem(self.image_url, self.settings.storage_options)
            self.job.image.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError, FileNotFoundError):  # a missing object: read_stage says so
                fs.get_file(path, str(self.job.image))

    def output_exists(self) -> bool:
        if not self.output_url:
            return self.job.output.is_file()
        fs, path = _filesystem(self.output_url, self.settings.storage_options)
        if not fs.exists(path):
            return False
        self.job.output.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(path, str(self.job.output))
        return True

    def upload_outputs(self) -> None:
        if not self.output_url:
            return
        fs, path = _filesystem(self.output_url, self.settings.storage_options)
        locals_ = [self.job.output, *(png_paths(self.job.output) if self.settings.save_png else [])]
        remotes = [path, *(str(p) for p in png_paths(Path(path)))] if self.settings.save_png else [path]
        for local, remote in zip(locals_, remotes):
            fs.put_file(str(local), remote)  # one PUT: the object appears whole

    def cleanup(self) -> None:
        if self.image_url or self.output_url:
            shutil.rmtree(self.sub, ignore_errors=True)


def _decided(row: dict[str, Any], res: JobResult) -> dict[str, Any]:
    return {"index": row["index"], "image": row["image"], "output": row["output"], "relative": row["relative"],
            "record": json.dumps(res.to_dict()), "loaded": b""}


def read_row(row: dict[str, Any], settings: StageSettings) -> dict[str, Any]:
    """Stage 2 for one row: the resume check, then hash + decode (``batch.inspect_stage``, ``batch.read_stage``).

    Returns the row with ``record`` (a finished JobResult as JSON: skipped, or refused) or ``loaded``
    (the pickled decoded image, its read error, the custody facts and a note). Never raises for a bad file.
    """
    if row["problem"]:
        return _decided(row, JobResult(row["image"], row["output"], "failed", message=row["problem"]))
    staged = _Staged(row, settings)
    try:
        note = None
        if not staged.output_url:  # temporary files a killed run left beside this output
            remove_stale_parts([staged.job.output, *(png_paths(staged.job.output) if settings.save_png else [])])
        if not settings.overwrite and staged.output_exists():
            done = existing_result(staged.job, settings.require)
            if done is not None:
                return _decided(row, staged.fix_result(done))
            note = f"existing output {staged.job.output.name} is incomplete or unreadable: analysed again"
        staged.fetch_input()
        facts = inspect_stage(staged.job, provenance=settings.provenance, trust_anchors=settings.trust_anchors)
        image, error = read_stage(staged.job, settings.read_options)
        if image is not None:
            image.path = row["image"]
            image.warnings = [staged.fix(w) for w in image.warnings]
        facts = (facts[0], facts[1], [staged.fix(w) for w in facts[2]])
        error = staged.fix(error) if error else error
        out = dict(_decided(row, JobResult(row["image"], row["output"], "failed")), record="")
        out["loaded"] = pickle.dumps((image, error, facts, note), protocol=5)
        return out
    finally:
        staged.cleanup()


def _node_tmp() -> str:
    folder = os.path.join(tempfile.gettempdir(), f"trufor-ray-{os.getuid() if hasattr(os, 'getuid') else 0}")
    os.makedirs(folder, exist_ok=True)
    return tempfile.mkdtemp(dir=folder)


# ------------------------------------------------------------------------- 3. analyse + write
class Analyser:
    """One model per Ray actor: stage 3 (``batch.analyse_stage`` + ``batch.write_stage``) for each row."""

    def __init__(self, settings: StageSettings, weights: str | None, device: str, engine: str, precision: str,
                 max_memory: int | None, threads: int | None, tta: str = "none") -> None:
        import torch

        from ..inference import load_model

        if threads:
            torch.set_num_threads(int(threads))
        self.settings = settings
        self.model = load_model(weights, device=device, max_memory=max_memory, engine=engine, precision=precision,
                                tta=tta)
        self.name = self.model.name
        self.node = ""
        with contextlib.suppress(ImportError):
            import ray

            if ray.is_initialized():  # else: the stage run outside Ray (asking Ray would start it)
                self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["record"]:
            record = row["record"]
        else:
            record = json.dumps(self.analyse(row).to_dict())
        return {"index": row["index"], "record": record, "node": self.node, "model": self.name}

    def analyse(self, row: dict[str, Any]) -> JobResult:
        settings = self.settings
        image, error, facts, note = pickle.loads(row["loaded"])
        staged = _Staged(row, settings)
        try:
            out = None
            if image is not None:
                out, error = analyse_stage(self.model, staged.job, image, noiseprint=settings.save_noiseprint)
                if out is not None:
                    out.path = row["image"]
            if out is None:
                res = JobResult(row["image"], row["output"], "failed", message=staged.fix(error or ""),
                                warnings=[note] if note else [])
            else:
                targets = [staged.job.output, *(png_paths(staged.job.output) if settings.save_png else [])]
                remove_stale_parts(targets)  # left by an attempt whose process was killed while writing
                line = facts[1].get("summary") if facts[1] else None
                res = write_stage(staged.job, out, image, noiseprint=settings.save_noiseprint,
                                  save_png=settings.save_png, provenance_line=line)
                if res.status == "ok":
                    try:
                        staged.upload_outputs()
                    except Exception as exc:
                        res = JobResult(str(staged.job.image), str(staged.job.output), "failed",
                                        message=f"{row['output']}: cannot upload: {type(exc).__name__}: {exc}")
                res = staged.fix_result(res)
                if note:
                    res.warnings.insert(0, note)
            res.sha256, res.provenance = facts[0], facts[1]
            res.warnings.extend(facts[2])
            return res
        finally:
            staged.cleanup()


# ------------------------------------------------------------------------------------ the run
@dataclass
class RayRun:
    """What a Ray run did: counts, where the reports are, and its timings (seconds)."""

    counts: dict[str, int]
    output: str
    reports: ReportWriter
    parquet: str
    actors: int
    threads: int | None
    device: str
    nodes: dict[str, int]  # Ray node id -> rows analysed there
    startup_seconds: float = 0.0  # connecting to (or starting) Ray
    run_seconds: float = 0.0  # planning to the last report written


def connect(address: str, *, num_cpus: int | None = None):
    """Connect to Ray: ``local`` starts a private instance (stopped at the end of the run), ``auto`` joins
    the cluster of this machine, ``ray://host:port`` a remote one through Ray Client (any other address is
    handed to ``ray.init``). Returns whether this call started the connection (so must close it)."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"logging_level": "WARNING", "log_to_driver": False}
    if address == "local":
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **kwargs)
    else:
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise TruForError(f"--ray {address}: cannot connect to a Ray cluster: {exc}") from None
    return True


def plan_pool(ray, device: str, threads: int | None, actors: int | None) -> dict[str, Any]:
    """Actor pool from the cluster's resources: one actor per GPU on GPU clusters (``num_gpus=1``), else
    ``threads`` CPUs per actor (default: the CPUs of the smallest node, i.e. one actor per node running
    like a plain run there) and as many actors as fit on the nodes."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    gpus = int(sum(n["Resources"].get("GPU", 0) for n in nodes))
    if device != "cpu" and gpus:
        return {"device": "cuda", "num_gpus": 1, "num_cpus": 1, "threads": threads, "size": actors or gpus}
    if device.startswith("cuda"):
        raise TruForError(f"--device {device}: the Ray cluster has no GPU")
    cpus = [int(n["Resources"].get("CPU", 0)) for n in nodes if n["Resources"].get("CPU", 0) >= 1]
    if not cpus:
        raise TruForError("the Ray cluster has no CPU to run on")
    per_actor = threads or min(cpus)
    size = actors or max(1, sum(c // per_actor for c in cpus))
    return {"device": "cpu", "num_gpus": 0, "num_cpus": min(per_actor, max(cpus)), "threads": per_actor, "size": size}


def _parquet_writer(path: str, storage_options: dict | None):
    """A streaming Parquet writer to ``path`` (local: atomically; URL: written locally, uploaded at close)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("path", pa.string()), ("output", pa.string()), ("status", pa.string()),
                        ("score", pa.float64()), ("height", pa.int64()), ("width", pa.int64()),
                        ("model", pa.string()), ("seconds", pa.float64()), ("error", pa.string()),
                        ("sha256", pa.string()), ("node", pa.string())])

    class Writer:
        def __init__(self) -> None:
            self.rows: list[dict[str, Any]] = []
            self.local = path if not is_url(path) else os.path.join(_node_tmp(), "results.parquet")
            self._ctx = atomic_write(self.local, "wb")
            self._file = self._ctx.__enter__()
            self._pq = pq.ParquetWriter(self._file, schema)

        def add(self, row: dict[str, Any]) -> None:
            self.rows.append(row)
            if len(self.rows) >= 10_000:
                self.flush()

        def flush(self) -> None:
            if self.rows:
                self._pq.write_table(pa.Table.from_pylist(self.rows, schema=schema))
                self.rows = []

        def close(self) -> None:
            self.flush()
            self._pq.close()
            self._ctx.__exit__(None, None, None)
            if is_url(path):
                fs, remote = _filesystem(path, storage_options)
                fs.put_file(self.local, remote)
                shutil.rmtree(os.path.dirname(self.local), ignore_errors=True)

        def abort(self) -> None:
            with contextlib.suppress(Exception):
                self._pq.close()
            with contextlib.suppress(BaseException):
                self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)

    return Writer()


def run_detect(
    inputs: Iterable[str],
    output: str | os.PathLike,
    *,
    address: str = "local",
    weights: str | os.PathLike | None = None,
    read_options: ReadOptions | None = None,
    overwrite: bool = False,
    save_noiseprint: bool = False,
    save_png: bool = False,
    engine: str = "efficient",
    precision: str = "fp32",
    tta: str = "none",
    max_memory: int | None = None,
    device: str = "auto",
    provenance: bool = False,
    trust_anchors: str | None = None,
    threads: int | None = None,
    actors: int | None = None,
    storage_options: dict | None = None,
    run_options: dict[str, Any] | None = None,
    on_start: Callable[[int, dict[str, Any]], None] | None = None,
    on_result: Callable[[JobResult], None] | None = None,
    num_cpus: int | None = None,
) -> RayRun:
    """Analyse ``inputs`` (local paths, globs or object-store URLs) into ``output`` on Ray, like ``trufor detect``.

    The outputs are those of a plain run (:func:`trufor.batch.iter_results`): the same ``.npz`` files and
    ``results.jsonl``/``.csv``/``.json`` rows, plus ``results.parquet``. ``address``: ``local``, ``auto`` or
    ``ray://host:port``. ``threads``: torch threads (and CPUs) per actor on CPU nodes; ``actors``: pool size
    (default: from the cluster's resources). ``storage_options``: fsspec options for URLs (e.g.
    ``{"client_kwargs": {"endpoint_url": ...}}``; the usual ``AWS_*`` variables work too, on every node).
    ``on_start(total, pool)`` is called once the jobs are planned and the pool sized (``pool["model"]``: the
    model's description), ``on_result`` with each row, in input order.
    A run stops with :class:`TruForError` when an output cannot be written (disk full, read-only).
    """
    inputs, output = [str(i) for i in inputs], str(output)
    rows = plan_rows(inputs, output, storage_options=storage_options)  # bad inputs fail before Ray starts
    if not rows:
        raise TruForError(f"no images found in {', '.join(inputs)}")
    if not is_url(output):
        ensure_output_folder(output)  # an unusable output folder fails here, before any work
    t0 = time.perf_counter()
    started = connect(address, num_cpus=num_cpus)
    import ray

    startup = time.perf_counter() - t0
    t1 = time.perf_counter()
    try:
        return _run(ray, rows, inputs, output, weights=weights, read_options=read_options or ReadOptions(),
                    overwrite=overwrite, save_noiseprint=save_noiseprint, save_png=save_png, engine=engine,
                    precision=precision, tta=tta, max_memory=max_memory, device=device, provenance=provenance,
                    trust_anchors=trust_anchors, threads=threads, actors=actors, storage_options=storage_options,
                    run_options=run_options, on_start=on_start, on_result=on_result, startup=startup, t1=t1,
                    address=address)
    finally:
        if started:
            ray.shutdown()


def _run(ray, rows, inputs, output, *, weights, read_options, overwrite, save_noiseprint, save_png, engine, precision,
         tta, max_memory, device, provenance, trust_anchors, threads, actors, storage_options, run_options, on_start,
         on_result, startup, t1, address) -> RayRun:
    import logging

    from ..inference import load_model

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # the caller reports progress and errors
    remote_out = is_url(output)
    report_dir = _node_tmp() if remote_out else output
    pool = plan_pool(ray, device, threads, actors)
    # The driver loads the weights once: bad weights fail here, and the reports name the model.
    model = load_model(weights, device="cpu", max_memory=max_memory, engine=engine, precision=precision, tta=tta)
    info = dict(model.describe(), device=pool["device"])
    weights_file = model.weights_path
    del model
    settings = StageSettings(read_options=read_options, overwrite=overwrite, save_noiseprint=save_noiseprint,
                             save_png=save_png, provenance=provenance, trust_anchors=trust_anchors,
                             storage_options=storage_options, cwd=os.getcwd())
    options = dict(run_options or {"command": "detect", "inputs": inputs, "output": output}, ray=address,
                   ray_actors=pool["size"], ray_threads=pool["threads"])
    reports = ReportWriter(report_dir, info, read_options=read_options, table_rows=40, options=options)
    parquet_path = _join(output, "results.parquet") if remote_out else os.path.join(output, "results.parquet")
    table = _parquet_writer(parquet_path, storage_options)
    if on_start:
        on_start(len(rows), dict(pool, model=info))

    from ray.data import ActorPoolStrategy, DataContext, TaskPoolStrategy

    ctx = DataContext.get_current()
    ctx.execution_options.preserve_order = True  # rows come back in input order, as in a plain run
    ctx.enable_progress_bars = False  # the caller shows its own
    ctx.print_on_execution_start = False
    blocks = max(1, min(len(rows), pool["size"] * 8))
    ds = ray.data.from_items(rows, override_num_blocks=blocks)
    ds = ds.map(read_row, fn_kwargs={"settings": settings}, num_cpus=0,
                compute=TaskPoolStrategy(size=max(2, pool["size"] * 2)))
    ds = ds.map(Analyser, fn_constructor_kwargs={"settings": settings, "weights": weights_file,
                                                 "device": pool["device"], "engine": engine, "precision": precision,
                                                 "max_memory": max_memory, "threads": pool["threads"],
                                                 "tta": tta},
                compute=ActorPoolStrategy(size=pool["size"]), num_cpus=pool["num_cpus"], num_gpus=pool["num_gpus"])
    nodes: dict[str, int] = {}
    try:
        for row in ds.iter_rows():
            res = JobResult(**json.loads(row["record"]))
            reports.add(res)
            if res.status == "ok":
                nodes[row["node"]] = nodes.get(row["node"], 0) + 1
            table.add({"path": res.image, "output": res.output, "status": res.status, "score": res.score,
                       "height": res.height, "width": res.width, "model": row["model"], "seconds": res.seconds,
                       "error": res.message if res.status == "failed" else "", "sha256": res.sha256,
                       "node": row["node"]})
            if on_result:
                on_result(res)
    except BaseException as exc:
        reports.abort()
        table.abort()
        fatal = _fatal_output_error(exc)
        if fatal is not None:
            raise OutputError(f"{fatal}; stopped: the outputs written so far are complete, run the same "
                              "command again to resume") from None
        raise
    reports.close()
    table.close()
    if remote_out:
        fs, remote = _filesystem(output, storage_options)
        for name in ("results.jsonl", "results.csv", "results.json"):
            fs.put_file(os.path.join(report_dir, name), _join(remote, name))
        shutil.rmtree(report_dir, ignore_errors=True)
    return RayRun(counts=dict(reports.counts), output=output, reports=reports, parquet=parquet_path,
                  actors=pool["size"], threads=pool["threads"], device=pool["device"], nodes=nodes,
                  startup_seconds=startup, run_seconds=time.perf_counter() - t1)


def _fatal_output_error(exc: BaseException) -> str | None:
    """The message of an OutputError (disk full, read-only) raised inside a Ray worker, if that is the cause."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OutputError):
            return str(exc)
        cause = getattr(exc, "cause", None)
        exc = cause if isinstance(cause, BaseException) else exc.__cause__
        seen += 1
    return None


def iter_rows_local(rows: Iterable[dict[str, Any]], settings: StageSettings, analyser: Analyser) -> Iterator[JobResult]:
    """The two worker stages run in this process, one row after the other (for tests and debugging)."""
    for row in rows:
        out = analyser(read_row(row, settings))
        yield JobResult(**json.loads(out["record"]))
