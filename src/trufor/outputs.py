"""Writing results atomically: a killed run never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Mapping

import numpy as np

from .errors import OutputError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise OutputError(_describe(path, exc)) from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(_describe(path, exc)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _describe(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"{path}: cannot write: the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path}: cannot write: permission denied (choose another output folder with -o)"
    return f"{path}: cannot write: {exc.strerror or exc}"


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray | float | tuple]) -> Path:
    """``np.savez`` to ``path`` atomically (the name is kept as given: no ``.npz`` is appended)."""
    path = Path(path)
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def is_complete_npz(path: str | os.PathLike, keys: tuple[str, ...] = ("map", "score")) -> bool:
    """True when ``path`` is a loadable npz holding ``keys`` (used to decide what to skip on rerun)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return all(k in data.files for k in keys)
    except Exception:
        return False
