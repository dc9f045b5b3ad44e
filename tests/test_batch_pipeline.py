"""The batch runner's three overlapping stages: decode next, analyse current, write previous."""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import numpy as np
import pytest

from trufor.batch import Job, run_jobs
from trufor.errors import OutputError, TruForError


class _Result:
    def __init__(self, value: float, log: list, fail_write: int | None = None) -> None:
        self.score, self.image_size, self.seconds, self.warnings = value, (2, 3), 0.0, []
        self.path = None
        self._log, self._fail = log, fail_write

    def save_npz(self, path, include_noiseprint=False):
        self._log.append(("write", Path(path).name, threading.current_thread().name))
        if self._fail is not None:
            err = OutputError(f"{path}: cannot write")
            err.errno = self._fail
            raise err
        Path(path).write_bytes(b"x")


class _Model:
    def __init__(self, log: list, fail_write: dict[str, int] | None = None) -> None:
        self.log, self.fail_write = log, fail_write or {}

    def analyze(self, image, noiseprint=False):
        name = image["name"]
        self.log.append(("analyze", name, threading.current_thread().name))
        if name.startswith("bad-analysis"):
            raise TruForError(f"{name}: cannot analyse")
        return _Result(float(len(name)), self.log, self.fail_write.get(name))


def _read(path: Path):
    if path.name.startswith("unreadable"):
        raise TruForError(f"{path}: not an image")
    return {"name": path.name, "pixels": np.zeros((2, 3, 3), np.uint8)}


def _jobs(tmp_path: Path, names: list[str]) -> list[Job]:
    return [Job(tmp_path / n, tmp_path / "out" / f"{n}.npz", n) for n in names]


def test_results_in_input_order_and_writes_off_the_main_thread(tmp_path):
    (tmp_path / "out").mkdir()
    names = ["a.png", "unreadable.png", "b.png", "bad-analysis.png", "c.png"]
    log: list = []
    results = run_jobs(_Model(log), _jobs(tmp_path, names), read=_read)
    assert [Path(r.image).name for r in results] == names
    assert [r.status for r in results] == ["ok", "failed", "ok", "failed", "ok"]
    assert "not an image" in results[1].message and "cannot analyse" in results[3].message
    writes = [entry for entry in log if entry[0] == "write"]
    assert [w[1] for w in writes] == ["a.png.npz", "b.png.npz", "c.png.npz"]
    assert all(w[2] != threading.main_thread().name for w in writes)
    assert all((tmp_path / "out" / f"{n}.npz").exists() for n in ("a.png", "b.png", "c.png"))


def test_a_write_error_fails_that_image_only(tmp_path):
    (tmp_path / "out").mkdir()
    log: list = []
    results = run_jobs(_Model(log, {"b.png": errno.EACCES}), _jobs(tmp_path, ["a.png", "b.png", "c.png"]), read=_read)
    assert [r.status for r in results] == ["ok", "failed", "ok"]


def test_disk_full_stops_the_batch(tmp_path):
    (tmp_path / "out").mkdir()
    log: list = []
    seen = []
    with pytest.raises(OutputError):
        run_jobs(_Model(log, {"b.png": errno.ENOSPC}), _jobs(tmp_path, ["a.png", "b.png", "c.png", "d.png"]),
                 read=_read, on_result=seen.append)
    assert [Path(r.image).name for r in seen] == ["a.png"]
    assert not (tmp_path / "out" / "d.png.npz").exists()
