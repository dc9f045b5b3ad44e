"""The HTTP side of ``trufor serve``: the REST API under /api/v1, /metrics, and the web page at /.

The API never analyses anything itself: an upload is checked (size, then the project's reader on the
stored bytes: format, pixel cap, damage), stored under a server-chosen name and queued in the database;
worker processes (:mod:`trufor.service.worker`) do the analyses. Errors are JSON ``{"detail": "..."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from ..errors import ImageReadError
from ..outputs import atomic_write
from .config import ServiceConfig
from .files import ARTIFACTS, DataDir, valid_id
from .report import public, report_html, report_json, short_name
from .security import GuardMiddleware
from .store import STATUSES, Store

log = logging.getLogger("trufor.service")

API = "/api/v1"
_CHUNK = 1 << 20
_figure_lock = threading.Lock()


def model_fingerprint(model_info: dict[str, Any], read_options: dict[str, Any]) -> str:
    """What, besides the bytes, makes two analyses the same: the weights and the read options."""
    keys = {k: model_info.get(k) for k in ("name", "weights_sha256", "weights", "variant", "precision", "engine")}
    return hashlib.sha256(json.dumps([keys, read_options], sort_keys=True, default=str).encode()).hexdigest()


def clean_filename(name: str | None) -> str:
    """The client's file name for display only (last path component, printable, at most 200 characters)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(c for c in base if c.isprintable()).strip()
    return base[:200] or "upload"


def read_error_status(message: str) -> int:
    """413 for the pixel cap, 415 for what is not a (supported) image, 422 for a damaged image."""
    if "decompression-bomb guard" in message or "over the limit" in message:
        return 413
    low = message.lower()
    if any(s in low for s in ("not an image", "not a recognised", "not a supported", "cannot identify",
                              "postscript", "not read (vector")):
        return 415
    return 422


class _Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def purge_older(store: Store, data: DataDir, days: float) -> int:
    """Remove the finished analyses created more than ``days`` ago (rows and files); how many."""
    ids = store.older_than(time.time() - days * 86400)
    for analysis_id in ids:
        if store.delete(analysis_id):
            data.remove(analysis_id)
    return len(ids)


def create_app(config: ServiceConfig, *, store: Store | None = None,
               workers_alive: Callable[[], int] | None = None) -> FastAPI:
    data = DataDir(config.data_dir).prepare()
    store = store or Store(config.database_url).create()
    fingerprint = model_fingerprint(config.model_info, config.read_options)
    model_name = str(config.model_info.get("name", ""))
    model_licence = str(config.model_info.get("licence", ""))
    rejected = {413: 0, 415: 0, 422: 0}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        task = None
        if config.retention_days:
            async def purge_loop():
                while True:
                    try:
                        n = await asyncio.to_thread(purge_older, store, data, config.retention_days)
                        if n:
                            log.info("retention: removed %d analyses older than %g days", n, config.retention_days)
                    except Exception as exc:
                        log.warning("retention purge failed: %s", exc)
                    await asyncio.sleep(3600)
            task = asyncio.create_task(purge_loop())
        yield
        if task:
            task.cancel()

    app = FastAPI(title="TruFor analysis service", version="1",
                  description="Image forgery detection and localization (TruFor) for a team: upload images, "
                              "read the integrity score, localization and confidence maps, download the results. "
                              "Send `Authorization: Bearer TOKEN` when the server was started with a token.",
                  docs_url=None, redoc_url=None, openapi_url=f"{API}/openapi.json", lifespan=lifespan)
    app.state.store, app.state.data, app.state.config = store, data, config

    # ------------------------------------------------------------------------------------ upload
    def _store_upload(upload: UploadFile) -> dict[str, Any]:
        name = clean_filename(upload.filename)
        digest, size = hashlib.sha256(), 0
        upload.file.seek(0)
        while chunk := upload.file.read(_CHUNK):
            size += len(chunk)
            if size > config.max_upload_bytes:
                raise _Rejected(413, f"{name}: file is over the upload limit of {config.max_upload_bytes} bytes")
            digest.update(chunk)
        if size == 0:
            raise _Rejected(422, f"{name}: the file is empty")
        sha = digest.hexdigest()
        key = hashlib.sha256(f"{sha}:{fingerprint}".encode()).hexdigest()
        existing = store.find_by_key(key)
        if existing:
            store.requeue_failed(existing)  # a failed analysis (timeout, crashes) is tried again; others stand
            return {"id": existing, "filename": name, "existing": True}
        analysis_id = uuid.uuid4().hex
        path = data.path(analysis_id, "upload")
        upload.file.seek(0)
        with atomic_write(path) as f:
            while chunk := upload.file.read(_CHUNK):
                f.write(chunk)
        try:
            from ..imageio import ReadOptions

            ReadOptions(**config.read_options).read(path)  # the project's reader: format, pixel cap, damage
        except ImageReadError as exc:
            data.remove(analysis_id)
            message = str(exc).replace(str(path), name)
            raise _Rejected(read_error_status(message), message) from None
        except Exception as exc:
            data.remove(analysis_id)
            raise _Rejected(422, f"{name}: cannot read image: {type(exc).__name__}: {exc}") from None
        return {"id": analysis_id, "filename": name, "existing": False, "sha256": sha, "key": key, "size": size}

    @app.post(f"{API}/analyses", status_code=202, tags=["analyses"],
              summary="Upload one or several images to analyse",
              responses={413: {"description": "file (bytes or pixels) too large"},
                         415: {"description": "not a supported image"}, 422: {"description": "damaged image"}})
    def submit(files: list[UploadFile] = File(..., description="image files (field name: files)")):
        """Queue each file; returns one id per file, in order. The same bytes analysed with the same model and
        read options return the existing analysis at once (``existing: true``; a failed one is queued again).
        Nothing is queued when a file is refused (the error names it)."""
        if not files:
            raise HTTPException(422, "no file uploaded (multipart field 'files')")
        if len(files) > config.max_files:
            raise HTTPException(413, f"{len(files)} files in one request, over the limit of {config.max_files}")
        staged: list[dict[str, Any]] = []
        try:
            for f in files:
                staged.append(_store_upload(f))
        except _Rejected as exc:
            for s in staged:
                if not s["existing"]:
                    data.remove(s["id"])
            rejected[exc.status] = rejected.get(exc.status, 0) + 1
            raise HTTPException(exc.status, exc.message) from None
        out = []
        for s in staged:
            if not s["existing"]:
                got, created = store.add(dedup_key=s["key"], sha256=s["sha256"], filename=s["filename"],
                                         size_bytes=s["size"], model_name=model_name, model_licence=model_licence,
                                         read_options=config.read_options, analysis_id=s["id"])
                if not created:  # the same bytes came in another request meanwhile
                    data.remove(s["id"])
                    s = dict(s, id=got, existing=True)
            row = store.get(s["id"])
            out.append({"id": s["id"], "filename": s["filename"], "existing": s["existing"],
                        "status": row["status"] if row else "queued", "url": f"{API}/analyses/{s['id']}"})
        return {"analyses": out}

    # ------------------------------------------------------------------------------------- reads
    def _row(analysis_id: str) -> dict[str, Any]:
        row = store.get(analysis_id) if valid_id(analysis_id) else None
        if row is None:
            raise HTTPException(404, f"no analysis {analysis_id[:40]!r}")
        return row

    @app.get(f"{API}/analyses", tags=["analyses"], summary="List analyses, newest first")
    def list_analyses(status: str | None = Query(None, description="queued, running, done or failed"),
                      limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)):
        if status is not None and status not in STATUSES:
            raise HTTPException(422, f"status must be one of {', '.join(STATUSES)}")
        rows, total = store.list(status=status, limit=limit, offset=offset)
        return {"items": [public(r) for r in rows], "total": total, "limit": limit, "offset": offset}

    @app.get(f"{API}/analyses/{{analysis_id}}", tags=["analyses"], summary="One analysis: status, score, timings")
    def get_analysis(analysis_id: str):
        return public(_row(analysis_id))

    @app.delete(f"{API}/analyses/{{analysis_id}}", status_code=204, tags=["analyses"],
                summary="Delete an analysis and its files")
    def delete_analysis(analysis_id: str):
        _row(analysis_id)
        store.delete(analysis_id)
        data.remove(analysis_id)
        return Response(status_code=204)

    @app.get(f"{API}/analyses/{{analysis_id}}/{{name}}", tags=["files"],
             summary="A file of a finished analysis",
             description="map.png (RGBA heat layer), conf.png, overlay.png, figure.png, image.png, thumb.png "
                         "(previews at most 1600 px), result.npz (official layout, full size), report.json (with "
                         "the upload's provenance: metadata, JPEG coding, C2PA), report.html (self-contained, printable).")
    def get_file(analysis_id: str, name: str):
        if name not in ARTIFACTS:
            raise HTTPException(404, f"no such file: {name[:40]!r} (one of {', '.join(ARTIFACTS)})")
        row = _row(analysis_id)
        if row["status"] != "done":
            raise HTTPException(409, f"analysis {analysis_id} is {row['status']}: no files yet")
        if name == "report.json":
            return JSONResponse(report_json(row, data))
        if name == "report.html":
            return HTMLResponse(report_html(row, data), headers={
                "content-disposition": f'inline; filename="trufor-report-{analysis_id[:8]}.html"'})
        path = data.path(analysis_id, name)
        if name == "figure.png" and not path.is_file():
            _render_figure(data, analysis_id, row)
        if not path.is_file():
            raise HTTPException(410, f"{name} of analysis {analysis_id} is missing from the data folder")
        download = name if name != "result.npz" else f"{Path(row['filename']).stem or 'result'}.npz"
        return FileResponse(path, media_type=ARTIFACTS[name],
                            headers={"content-disposition": f'inline; filename="{_ascii(download)}"'})

    # ----------------------------------------------------------------------------- service state
    @app.get(f"{API}/healthz", tags=["service"], summary="Liveness: the database answers")
    def healthz():
        try:
            ok = store.ping()
        except Exception as exc:
            return JSONResponse({"status": "error", "database": str(exc)[:200]}, status_code=503)
        body = {"status": "ok" if ok else "error", "model": model_name}
        if workers_alive is not None:
            body["workers"] = workers_alive()
        return body

    @app.get("/healthz", include_in_schema=False)
    def healthz_root():
        return healthz()

    @app.get(f"{API}/info", tags=["service"], summary="Model, limits and whether a token is needed")
    def info():
        return {"model": {k: config.model_info.get(k) for k in ("name", "licence", "variant", "provenance", "device")},
                "read_options": config.read_options, "max_upload_bytes": config.max_upload_bytes,
                "max_files": config.max_files, "token_required": bool(config.token)}

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics (text format)")
    def metrics():
        counts = store.counts()
        buckets, total, count = store.seconds_histogram()
        lines = ["# HELP trufor_queue_length Analyses waiting for a worker.", "# TYPE trufor_queue_length gauge",
                 f"trufor_queue_length {counts['queued']}",
                 "# HELP trufor_analyses Analyses in the database by status.", "# TYPE trufor_analyses gauge"]
        lines += [f'trufor_analyses{{status="{s}"}} {n}' for s, n in counts.items()]
        lines += ["# HELP trufor_analysis_seconds Time in the network per finished analysis.",
                  "# TYPE trufor_analysis_seconds histogram"]
        lines += [f'trufor_analysis_seconds_bucket{{le="{b:g}"}} {n}' for b, n in buckets]
        lines += [f'trufor_analysis_seconds_bucket{{le="+Inf"}} {count}', f"trufor_analysis_seconds_sum {total:.6f}",
                  f"trufor_analysis_seconds_count {count}",
                  "# HELP trufor_uploads_rejected_total Uploads refused by this API process, by HTTP status.",
                  "# TYPE trufor_uploads_rejected_total counter"]
        lines += [f'trufor_uploads_rejected_total{{code="{c}"}} {n}' for c, n in sorted(rejected.items())]
        if workers_alive is not None:
            lines += ["# HELP trufor_workers Worker processes alive.", "# TYPE trufor_workers gauge",
                      f"trufor_workers {workers_alive()}"]
        return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4; charset=utf-8")

    # ------------------------------------------------------------------------ docs and the page
    _mount_docs(app)
    static = resources.files("trufor.service") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(str(static / "index.html"), media_type="text/html; charset=utf-8")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return Response(status_code=204)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    # per file limit x files, plus the multipart framing
    app.add_middleware(GuardMiddleware, token=config.token, max_body=config.max_upload_bytes * config.max_files + 2**20,
                       timeout=config.request_timeout)
    return app


def _ascii(name: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)


def _render_figure(data: DataDir, analysis_id: str, row: dict[str, Any]) -> None:
    """figure.png on first request (matplotlib is slow; most analyses never need it), atomically."""
    import numpy as np
    from PIL import Image

    from ..results import AnalysisResult
    from ..visualize import result_figure, save_figure

    with _figure_lock:  # pyplot is not thread-safe
        path = data.path(analysis_id, "figure.png")
        if path.is_file():
            return
        result = AnalysisResult.from_npz(data.path(analysis_id, "result.npz"))
        result.model_name = short_name(row["model_name"])
        h, w = result.image_size
        with Image.open(data.path(analysis_id, "image.png")) as im:  # the preview, at the maps' size
            rgb = np.asarray(im.convert("RGB").resize((w, h), Image.BILINEAR))
        save_figure(result_figure(result, image=rgb, title=row["filename"]), path)


def _mount_docs(app: FastAPI) -> None:
    """The generated OpenAPI page at /api/v1/docs, with Swagger UI served from the package (offline)."""
    from fastapi.openapi.docs import get_swagger_ui_html

    try:
        import swagger_ui_bundle

        app.mount(f"{API}/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")
        js, css = f"{API}/docs-assets/swagger-ui-bundle.js", f"{API}/docs-assets/swagger-ui.css"
    except ImportError:  # not installed: the page loads Swagger UI from its CDN (needs the internet)
        js = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
        css = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"

    @app.get(f"{API}/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url=f"{API}/openapi.json", title="TruFor service API",
                                   swagger_js_url=js, swagger_css_url=css, swagger_favicon_url="data:,")
