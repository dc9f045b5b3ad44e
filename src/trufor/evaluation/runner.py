"""Running a model over a dataset and scoring it with the authors' protocol.

The analyses go through the one job runner (:mod:`trufor.batch`, as ``trufor detect``), with a model
object (anything with ``analyze(image)`` returning an :class:`~trufor.results.AnalysisResult`-like
object; its ``name`` is recorded when present), so tests can pass a fake. Each analysed image is cached
as ``<npz_dir>/<sample name>.npz`` (keys map, conf, score, as the official tool writes them); a complete
npz already there (``map`` at least) is reused instead of running the model, and read back with
:meth:`AnalysisResult.from_npz`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import metrics as M
from .datasets import FAKE, Benchmark, Sample, load_mask
from ..errors import TruForError
from ..imageio import ReadOptions, apply_orientation, exif_orientation
from ..results import AnalysisResult

#: Per-image localization metrics, in report order.
LOCALIZATION_KEYS = ("f1_best", "f1_th", "iou_best", "iou_th", "mcc_best", "mcc_th", "pixel_auc")

# Record status values.
OK = "ok"  # evaluated (fake: detection and localization; real: detection)
DETECTION_ONLY = "detection only"  # fake image whose mask cannot be used
SKIPPED = "skipped"  # not evaluated at all


@dataclass
class ImageRecord:
    """What happened to one sample, and its metrics (NaN where not computed)."""

    name: str
    label: int
    image: str
    mask: str | None = None
    npz: str | None = None
    status: str = SKIPPED
    reason: str = ""
    score: float = math.nan
    cached: bool = False
    forged_fraction: float = math.nan  # share of the mask marked forged (before the protocol bands)
    metrics: dict[str, Any] = field(default_factory=dict)  # LocalizationResult fields, fakes only
    warnings: list[str] = field(default_factory=list)

    @property
    def is_fake(self) -> bool:
        return self.label == FAKE

    def metric(self, key: str) -> float:
        value = self.metrics.get(key, math.nan)
        return math.nan if value is None else float(value)


@dataclass
class EvalResult:
    """Everything a report needs: per-image records and the aggregated metrics."""

    dataset: Benchmark
    model_name: str | None
    records: list[ImageRecord]
    localization: dict[str, Any]
    detection: M.DetectionResult
    settings: dict[str, Any]
    seconds: float
    notes: list[str] = field(default_factory=list)  # dataset-level warnings found while evaluating

    @property
    def counts(self) -> dict[str, int]:
        recs = self.records
        return {
            "samples": len(recs),
            "fake": sum(r.is_fake for r in recs),
            "real": sum(not r.is_fake for r in recs),
            "evaluated": sum(r.status != SKIPPED for r in recs),
            "detection_only": sum(r.status == DETECTION_ONLY for r in recs),
            "skipped": sum(r.status == SKIPPED for r in recs),
            "cached": sum(r.cached for r in recs),
            "analyzed": sum(r.status != SKIPPED and not r.cached for r in recs),
        }

    def localized(self) -> list[ImageRecord]:
        """Fake images with localization metrics."""
        return [r for r in self.records if r.is_fake and r.status == OK]


def npz_path_for(npz_dir: str | os.PathLike, sample: Sample) -> Path:
    """Cache file of a sample: ``<npz_dir>/<name>.npz`` (the official tool's naming)."""
    return Path(npz_dir) / f"{sample.name}.npz"


class _NoModel:
    """Stands for a missing model: only cached outputs can be evaluated."""

    name = None

    def analyze(self, image, noiseprint: bool = False):
        raise TruForError(NO_MODEL)


NO_MODEL = "no cached output and no model to analyse the image"


def evaluate(
    dataset: Benchmark,
    model,
    npz_dir: str | os.PathLike,
    *,
    mismatch: str = "fix",
    recompute: bool = False,
    on_record: Callable[[ImageRecord], None] | None = None,
    options: ReadOptions | None = None,
) -> EvalResult:
    """Analyse every sample of ``dataset`` (or reuse its cached npz) and compute the metrics.

    The analyses run through the job runner of ``trufor detect`` (:func:`trufor.batch.iter_results`:
    decoding, analysis and writing overlap; a complete cached npz is reused; one bad image is reported
    and the run goes on).

    Args:
        model: object with ``analyze(image)``, or None to use cached outputs only.
        npz_dir: where outputs are cached (and looked up).
        mismatch: mask size policy, see :func:`trufor.evaluation.datasets.load_mask`.
        recompute: ignore cached outputs.
        on_record: called after each sample (progress display).
        options: how images are read (pixel cap, truncated files, EXIF orientation); with
            ``exif_transpose`` the ground-truth masks are turned like their images.
    """
    from ..batch import Job, iter_results

    options = options or ReadOptions()
    start = time.perf_counter()
    records: list[ImageRecord] = []
    pooled = M.PooledPixelAUC()
    runnable = [s for s in dataset.samples if not s.skip]
    jobs = (Job(Path(s.image), npz_path_for(npz_dir, s), s.name) for s in runnable)
    results = iter_results(model if model is not None else _NoModel(), jobs, overwrite=recompute,
                           options=options, keep_analysis=True, require=("map",))
    for sample in dataset.samples:
        rec = ImageRecord(name=sample.name, label=sample.label, image=sample.image, mask=sample.mask)
        records.append(rec)
        if sample.skip:
            rec.reason = sample.skip
        else:
            job = next(results)
            out = _outputs_of(job, rec)
            if out is not None:
                map_, rec.score = out
                rec.npz = job.output
                rec.status = OK
                if sample.label == FAKE:
                    orientation = None
                    if options.exif_transpose:
                        orientation = job.orientation if not rec.cached else exif_orientation(sample.image)
                    _localize(rec, sample, map_, dataset, mismatch, pooled, orientation)
        if on_record is not None:
            on_record(rec)

    localization = summarize_localization(records)
    localization["pixel_auc_pooled"] = pooled.value
    evaluated = [r for r in records if r.status != SKIPPED]
    detection = M.detection_metrics([r.score for r in evaluated], [r.label for r in evaluated])
    settings = {
        "erode_size": M.ERODE_SIZE,
        "dilate_size": M.DILATE_SIZE,
        "threshold": M.THRESHOLD,
        "mask_format": dataset.mask_format.describe(),
        "mask_mismatch": mismatch,
        "npz_dir": str(npz_dir),
        "read_options": options.to_dict(),
    }
    name = getattr(model, "name", None) if model is not None else None
    notes = []
    if localization["median_forged_fraction"] > 0.5:
        notes.append(f"most masks mark more than half of their image as forged (median "
                     f"{localization['median_forged_fraction']:.0%}): are they inverted? (--invert-masks)")
    return EvalResult(dataset, name, records, localization, detection, settings, time.perf_counter() - start, notes)


def _outputs_of(job, rec: ImageRecord) -> tuple[np.ndarray, float] | None:
    """The (map, score) of one runner result: the analysis just made, or the cached npz it found."""
    rec.warnings.extend(job.warnings)
    if job.status == "failed":
        message = job.message.split(": analysis failed: ", 1)[-1]  # the record names the image already
        rec.reason = message if message == NO_MODEL else f"analysis failed: {message}"
        return None
    if job.analysis is not None:
        return np.asarray(job.analysis.map), float(job.analysis.score)
    try:
        cached = AnalysisResult.from_npz(job.output)
    except TruForError as exc:  # changed since the runner looked at it
        rec.reason = str(exc)
        return None
    rec.cached = True
    return cached.map, cached.score


def _localize(rec: ImageRecord, sample: Sample, map_: np.ndarray, dataset: Benchmark, mismatch: str,
              pooled: M.PooledPixelAUC, orientation: int | None = None) -> None:
    if sample.mask_issue or not sample.mask:
        rec.status, rec.reason = DETECTION_ONLY, sample.mask_issue or "no ground-truth mask"
        return
    # The mask is drawn on the stored pixel grid; when the image was turned by its EXIF orientation,
    # the mask is read against the stored shape, then turned the same way.
    stored_shape = map_.shape[::-1] if orientation in (5, 6, 7, 8) else map_.shape
    loaded = load_mask(sample.mask, dataset.mask_format, stored_shape, mismatch=mismatch, image=sample.image)
    rec.warnings.extend(loaded.warnings)
    if loaded.mask is None:
        rec.status, rec.reason = DETECTION_ONLY, loaded.issue or "mask unusable"
        return
    gt = apply_orientation(loaded.mask, orientation)
    rec.forged_fraction = float(gt.mean())
    pristine, forged = M.protocol_regions(gt)
    result = M.localization_metrics_regions(map_, pristine, forged)
    rec.metrics = result.as_dict()
    if result.n_forged == 0 and gt.any():
        rec.warnings.append("no forged pixel left after the 15x15 erosion (thin forgery): best F1 is 0 by protocol")
    if np.isnan(map_).any():
        rec.warnings.append("map contains NaN")
    pooled.update(map_, pristine, forged)


def summarize_localization(records: list[ImageRecord]) -> dict[str, Any]:
    """NaN-safe means of the per-image localization metrics over fake images, with counts."""
    fakes = [r for r in records if r.is_fake and r.status == OK]
    out: dict[str, Any] = {"n_images": len(fakes)}
    for key in LOCALIZATION_KEYS:
        values = [r.metric(key) for r in fakes]
        out[key] = M.nanmean(values)
        out[f"n_nan_{key}"] = int(sum(math.isnan(v) for v in values))
    out["n_no_forged_after_erosion"] = sum(r.metrics.get("n_forged") == 0 for r in fakes)
    fractions = [r.forged_fraction for r in fakes]
    out["median_forged_fraction"] = float(np.median(fractions)) if fractions else math.nan
    return out
