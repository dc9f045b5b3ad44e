"""``trufor serve``: the analysis service for a team (REST API, web page, database queue, workers).

Needs the ``service`` extra (``pip install "trufor[service]"``); see docs/SERVICE.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import TruForError
from ._common import (add_device_arguments, add_read_arguments, add_tta_argument, add_weights_argument, console,
                      device_from_args, fail, read_options_from_args)

TOKEN_ENV = "TRUFOR_SERVE_TOKEN"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the analysis service: REST API, web page, worker processes",
        description="Serve TruFor to a team: a web page at / and a REST API under /api/v1 (OpenAPI page at "
                    "/api/v1/docs). Uploads are queued in a database (SQLite in the data folder, or PostgreSQL) "
                    "and analysed by worker processes; results are kept in the data folder.",
        epilog="Binding an address other than loopback needs a token (--token or $TRUFOR_SERVE_TOKEN). "
               "See docs/SERVICE.md.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--data-dir", default="trufor_service", metavar="DIR",
                   help="folder for the database (SQLite) and the files (default ./trufor_service)")
    p.add_argument("--database", default=None, metavar="URL",
                   help="database URL, e.g. postgresql://user:pass@host/db (default: sqlite in DIR/trufor.db)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="analysis worker processes (each loads the model once; 0: API only, e.g. when other "
                        "machines run the workers)")
    p.add_argument("--worker-only", action="store_true",
                   help="run the workers only, no HTTP server (a worker machine of a multi-machine deployment)")
    p.add_argument("--token", default=None,
                   help=f"bearer token required by the API (default: ${TOKEN_ENV}); required off loopback")
    p.add_argument("--retention", type=float, default=None, metavar="DAYS",
                   help="delete finished analyses (and their files) older than DAYS (checked hourly)")
    p.add_argument("--max-upload-mb", type=float, default=50.0, metavar="MB", help="largest file accepted (default 50)")
    p.add_argument("--max-files", type=int, default=32, metavar="N", help="most files in one upload (default 32)")
    p.add_argument("--request-timeout", type=float, default=120.0, metavar="S",
                   help="longest time one HTTP request may take (default 120 s)")
    p.add_argument("--analysis-timeout", type=float, default=600.0, metavar="S",
                   help="longest time one analysis may take; past it the analysis fails (default 600 s)")
    p.add_argument("--lease", type=float, default=60.0, metavar="S",
                   help="worker lease on an analysis, renewed every S/3; a dead worker's analysis is taken "
                        "again after S seconds (default 60)")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="allow browser calls from this origin (repeatable; default: CORS off)")
    add_read_arguments(p)
    add_weights_argument(p)
    add_tta_argument(p)
    add_device_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # noqa: F401

        from ..service.app import create_app
        from ..service.config import ServiceConfig, is_loopback
        from ..service.files import DataDir
        from ..service.server import Supervisor, file_sha256, worker_threads
        from ..service.store import Store
        from ..service.worker import WorkerSettings
    except ImportError as exc:
        return fail(f"trufor serve needs the service extra: pip install \"trufor[service]\" ({exc.name} is missing)")

    token = args.token or os.environ.get(TOKEN_ENV) or None
    if not args.worker_only and not is_loopback(args.host) and not token:
        return fail(f"binding {args.host} exposes the service to the network: set a token with --token or "
                    f"${TOKEN_ENV} (or bind 127.0.0.1)")
    if args.workers < 0:
        return fail("--workers must be 0 or more")
    try:
        options = read_options_from_args(args).to_dict()
        device = device_from_args(args)
        data = DataDir(args.data_dir).prepare()
        database = args.database or data.database_url()
        from .. import load_model

        model = load_model(args.weights, device=device, tta=args.tta)
        info = dict(model.describe(), weights_sha256=file_sha256(model.weights_path))
        del model
        store = Store(database).create()
    except (TruForError, argparse.ArgumentTypeError, OSError) as exc:
        return fail(str(exc))
    except Exception as exc:  # e.g. the database cannot be reached
        return fail(f"cannot start: {type(exc).__name__}: {exc}")

    settings = WorkerSettings(database_url=database, data_dir=str(data.root), weights=args.weights, device=device,
                              read_options=options, lease=args.lease, analysis_timeout=args.analysis_timeout,
                              threads=worker_threads(args.workers), tta=args.tta)
    out = console(err=True)
    shown_db = database.split("@")[-1] if "@" in database else database
    url = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}/"
    if not args.worker_only:
        out.print(f"TruFor service: {url}  (API: {url}api/v1/docs)")
    out.print(f"model: {info['name']} ({info['licence']}) on {info['device']}")
    out.print(f"data: {data.root}  database: {shown_db}  workers: {args.workers}"
              + ("  token: required" if token else "  token: none (loopback only)"))
    sys.stderr.flush()

    supervisor = Supervisor(settings, args.workers).start() if args.workers else None
    try:
        if args.worker_only:
            if supervisor is None:
                return fail("--worker-only needs --workers 1 or more")
            import signal
            import threading

            done = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: done.set())
            try:
                while not done.wait(1.0):
                    pass
            except KeyboardInterrupt:
                pass
            return 0
        config = ServiceConfig(data_dir=data.root, database_url=database, model_info=info, read_options=options,
                               token=token, max_upload_bytes=int(args.max_upload_mb * 2**20), max_files=args.max_files,
                               request_timeout=args.request_timeout, cors_origins=tuple(args.cors_origin),
                               retention_days=args.retention)
        app = create_app(config, store=store, workers_alive=supervisor.alive if supervisor else None)
        import uvicorn

        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_keep_alive=5,
                    timeout_graceful_shutdown=10)
        return 0
    finally:
        if supervisor is not None:
            supervisor.stop()
        store.dispose()
