"""Analysis workers: processes that take analyses from the database queue and run them.

Each worker loads the model once, then loops: claim a row (:meth:`Store.claim`, with a lease), extend the
lease from a heartbeat thread while it works, run the batch stages of :mod:`trufor.batch` (read ->
analyse), write every file atomically, and only then mark the row done. A worker killed at any point
leaves either nothing or complete files under their final names; its row's lease expires and another
worker (or the same one, restarted) takes it again. The heartbeat thread also enforces the analysis
timeout: past it the row is failed and the process exits (the supervisor starts a fresh one), since a
forward pass cannot be interrupted from another thread.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .files import DataDir
from .store import Claim, Store

log = logging.getLogger("trufor.service.worker")

#: Longest side of the PNG previews (image, map, conf) shown by the web page; result.npz keeps full size.
PREVIEW_SIDE = 1600
THUMB_SIDE = 160
#: Test hook only: seconds a worker sleeps after claiming a row, before analysing it (kill -9 tests).
DEBUG_DELAY_ENV = "TRUFOR_SERVICE_DEBUG_DELAY"


@dataclass
class WorkerSettings:
    """What a worker process needs (picklable: it crosses the process boundary)."""

    database_url: str
    data_dir: str
    weights: str | None = None
    device: str = "cpu"
    read_options: dict[str, Any] = field(default_factory=dict)
    lease: float = 60.0
    analysis_timeout: float = 600.0
    poll: float = 0.5
    max_attempts: int = 3
    threads: int | None = None
    engine: str = "efficient"
    max_memory: int | None = None
    tta: str = "none"


def summarise(heat: np.ndarray, conf: np.ndarray | None) -> dict[str, float]:
    """Figures the page and the report put into words: how much of the image the map flags, and how much
    of that the confidence map trusts."""
    flagged = heat > 0.5
    out = {"map_area": float(flagged.mean()), "map_max": float(heat.max())}
    if conf is not None:
        out["mean_confidence"] = float(conf.mean())
        out["trusted_map_area"] = float((flagged & (conf > 0.5)).mean())
    return out


def _preview_size(h: int, w: int, side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(h, w))
    return max(1, round(w * scale)), max(1, round(h * scale))


def write_artifacts(data: DataDir, analysis_id: str, result, image) -> None:
    """Every file of a finished analysis except the reports and the figure (made on request), atomically."""
    import matplotlib
    from PIL import Image

    from ..outputs import atomic_write
    from ..visualize import save_overlay

    def png(name: str, picture: Image.Image) -> None:
        with atomic_write(data.path(analysis_id, name)) as f:
            picture.save(f, format="PNG")

    from ..outputs import remove_stale_parts

    from .files import WRITTEN

    remove_stale_parts([data.path(analysis_id, n) for n in WRITTEN])  # left by a worker killed while writing
    result.save_npz(data.path(analysis_id, "result.npz"))
    h, w = result.image_size
    size = _preview_size(h, w, PREVIEW_SIDE)
    rgb = Image.fromarray(image.pixels)
    png("image.png", rgb.resize(size, Image.BILINEAR) if size != (w, h) else rgb)
    thumb = rgb.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    png("thumb.png", thumb)
    heat = np.clip(result.map, 0.0, 1.0)
    colours = matplotlib.colormaps["jet"](heat)  # RGBA; alpha = the map, so authentic areas stay clear
    colours[..., 3] = heat
    layer = Image.fromarray((colours * 255 + 0.5).astype(np.uint8), mode="RGBA")
    png("map.png", layer.resize(size, Image.BILINEAR) if size != (w, h) else layer)
    conf = Image.fromarray((np.clip(result.conf, 0.0, 1.0) * 255 + 0.5).astype(np.uint8), mode="L")
    png("conf.png", conf.resize(size, Image.BILINEAR) if size != (w, h) else conf)
    save_overlay(image, result.map, data.path(analysis_id, "overlay.png"))


def write_provenance(data: DataDir, analysis_id: str, filename: str | None) -> list[str]:
    """The provenance report of the stored upload (:mod:`trufor.provenance`: metadata, JPEG coding, C2PA
    content credentials), written atomically as ``provenance.json``; returns warnings for the analysis.

    Never raises: a provenance failure (module missing, a bug, an unwritable file) is one warning and the
    analysis goes on without the file. The server path of the upload never reaches the report.
    """
    import json

    from ..outputs import atomic_write, remove_stale_parts
    from .files import PROVENANCE

    target = data.path(analysis_id, PROVENANCE)
    upload = data.path(analysis_id, "upload")
    name = filename or "upload"
    try:
        remove_stale_parts([target])
        from ..provenance import inspect_file, trust_anchor_text

        report = inspect_file(upload, trust_anchors=trust_anchor_text())
        report["file"]["name"] = name
        text = json.dumps(report, ensure_ascii=False, default=str)  # path in warnings -> the file's name
        text = text.replace(json.dumps(str(upload))[1:-1], json.dumps(name, ensure_ascii=False)[1:-1])
        with atomic_write(target) as f:
            f.write(text.encode("utf-8"))
        return []
    except Exception as exc:  # never fail the analysis for its provenance
        log.warning("provenance of %s not read: %s", analysis_id, exc)
        return [f"provenance not read: {type(exc).__name__}: {str(exc).replace(str(upload), name)[:200]}"]


class _Heartbeat(threading.Thread):
    """Extends the lease of the row being analysed; fails it and ends the process past the timeout."""

    def __init__(self, store: Store, claim: Claim, settings: WorkerSettings) -> None:
        super().__init__(daemon=True, name="trufor-heartbeat")
        self.store, self.claim, self.settings = store, claim, settings
        self.stop = threading.Event()
        self.lost = False
        self.started_at = time.monotonic()

    def run(self) -> None:
        interval = max(0.2, self.settings.lease / 3)
        while not self.stop.wait(interval):
            if time.monotonic() - self.started_at > self.settings.analysis_timeout:
                self.store.fail(self.claim.id, self.claim.owner,
                                f"analysis timed out after {self.settings.analysis_timeout:g} s")
                log.error("analysis %s timed out; worker exits", self.claim.id)
                os._exit(3)
            try:
                if not self.store.heartbeat(self.claim.id, self.claim.owner, lease=self.settings.lease):
                    self.lost = True
                    return
            except Exception as exc:  # database briefly unreachable: try again at the next beat
                log.warning("heartbeat failed: %s", exc)


def process(store: Store, data: DataDir, model, claim: Claim, settings: WorkerSettings) -> str:
    """Run one claimed analysis to its end; returns the final status (done, failed or lost)."""
    from ..batch import Job, analyse_stage, read_stage
    from ..imageio import ReadOptions

    beat = _Heartbeat(store, claim, settings)
    beat.start()
    try:
        delay = float(os.environ.get(DEBUG_DELAY_ENV) or 0)
        if delay > 0:
            time.sleep(delay)
        upload = data.path(claim.id, "upload")
        job = Job(upload, data.path(claim.id, "result.npz"), claim.filename)
        image, error = read_stage(job, ReadOptions(**claim.read_options)) if upload.is_file() else (
            None, "the uploaded file is missing from the data folder")
        result = None
        if image is not None:
            result, error = analyse_stage(model, job, image, noiseprint=False)
        if result is None:
            message = (error or "analysis failed").replace(str(upload), claim.filename or "upload")
            return "failed" if store.fail(claim.id, claim.owner, message) else "lost"
        try:
            write_artifacts(data, claim.id, result, image)
        except Exception as exc:
            store.fail(claim.id, claim.owner, f"cannot save the results: {type(exc).__name__}: {exc}")
            return "failed"
        info = model.describe() if hasattr(model, "describe") else {}
        warnings = [w.replace(str(upload), claim.filename or "upload") for w in result.warnings]
        warnings += write_provenance(data, claim.id, claim.filename)
        ok = store.finish(claim.id, claim.owner, score=float(result.score), height=result.image_size[0],
                          width=result.image_size[1], seconds=float(result.seconds), warnings=warnings,
                          summary=summarise(result.map, result.conf), model_name=info.get("name", ""),
                          model_licence=info.get("licence", ""))
        if not ok and store.get(claim.id) is None:  # deleted while it ran: leave no files behind
            data.remove(claim.id)
        return "done" if ok else "lost"
    finally:
        beat.stop.set()


def worker_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_worker(settings: WorkerSettings, stop: Any = None) -> None:
    """A worker process's main loop (until ``stop``, an Event, is set)."""
    import torch

    from ..inference import load_model

    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(process)d %(levelname)s %(message)s")
    if settings.threads:
        torch.set_num_threads(settings.threads)
    store = Store(settings.database_url)
    data = DataDir(settings.data_dir)
    model = load_model(settings.weights, device=settings.device, engine=settings.engine,
                       max_memory=settings.max_memory, tta=settings.tta)
    owner = worker_owner()
    log.info("worker %s ready (%s)", owner, model.name)
    while stop is None or not stop.is_set():
        try:
            claim = store.claim(owner, lease=settings.lease, max_attempts=settings.max_attempts)
        except Exception as exc:  # database unreachable for a moment
            log.warning("cannot claim: %s", exc)
            time.sleep(max(settings.poll, 1.0))
            continue
        if claim is None:
            time.sleep(settings.poll)
            continue
        status = process(store, data, model, claim, settings)
        log.info("analysis %s: %s", claim.id, status)
