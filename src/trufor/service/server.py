"""Running the service: worker processes under a supervisor, and uvicorn serving the app.

The supervisor starts ``--workers`` processes (``spawn``: each loads the model once, with its share of the
CPU threads) and starts a fresh one whenever one dies (killed, crashed, or ended after an analysis
timeout); the dead one's analysis is taken again when its lease expires. Workers end by themselves when
the server process is gone.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing as mp
import os
import threading
import time
from dataclasses import replace

from .worker import WorkerSettings, run_worker

log = logging.getLogger("trufor.service")


def _worker_main(settings: WorkerSettings, stop, parent: int) -> None:
    def orphan_watch():
        while not stop.is_set():
            if os.getppid() != parent:  # the server died (even by kill -9): do not linger
                os._exit(0)
            time.sleep(1.0)

    threading.Thread(target=orphan_watch, daemon=True).start()
    run_worker(settings, stop)


class Supervisor:
    """Keeps ``count`` worker processes alive until :meth:`stop`."""

    def __init__(self, settings: WorkerSettings, count: int) -> None:
        self.ctx = mp.get_context("spawn")
        self.settings = settings
        self.count = count
        self.stop_event = self.ctx.Event()
        self.procs: list = []
        self._monitor = threading.Thread(target=self._watch, daemon=True, name="trufor-supervisor")
        self._lock = threading.Lock()

    def _spawn(self):
        p = self.ctx.Process(target=_worker_main, args=(self.settings, self.stop_event, os.getpid()),
                             name="trufor-worker", daemon=False)
        p.start()
        return p

    def start(self) -> "Supervisor":
        with self._lock:
            self.procs = [self._spawn() for _ in range(self.count)]
        self._monitor.start()
        return self

    def _watch(self) -> None:
        while not self.stop_event.wait(1.0):
            with self._lock:
                for i, p in enumerate(self.procs):
                    if not p.is_alive() and not self.stop_event.is_set():
                        log.warning("worker %s ended (exit code %s); starting another", p.pid, p.exitcode)
                        self.procs[i] = self._spawn()

    def alive(self) -> int:
        return sum(p.is_alive() for p in self.procs)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.is_alive()]

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        with self._lock:
            deadline = time.monotonic() + timeout
            for p in self.procs:
                p.join(max(0.1, deadline - time.monotonic()))
            for p in self.procs:
                if p.is_alive():  # in the middle of an analysis: its lease expires, another worker redoes it
                    p.kill()
                    p.join(5)


def file_sha256(path: str | None) -> str | None:
    if not path or not os.path.isfile(path):
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def worker_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def settings_with(settings: WorkerSettings, **kw) -> WorkerSettings:
    return replace(settings, **kw)
