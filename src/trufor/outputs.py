"""Writing results atomically: a killed run never leaves a half-written file behind.

A file is written to a hidden temporary ``.<name>.<random>.part`` beside its target and renamed onto
the target only once complete. A process killed with SIGKILL cannot remove its temporary file; the
next run writing the same target removes it (:func:`remove_stale_parts`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator, Mapping

import numpy as np

from .errors import OutputError

#: errno values after which no further output can be written to the same place: a batch stops
#: instead of analysing every remaining image only to fail to save it.
FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC)})

PART_SUFFIX = ".part"
# tempfile.mkstemp's random part: 8 characters from this alphabet.
_PART_RANDOM = re.compile(r"[a-z0-9_]{8}")


_FILE_MODE: list[int] = []


def default_file_mode() -> int:
    """Permissions a plain ``open(..., "w")`` would give a new file (0o666 less the umask).

    ``tempfile.mkstemp`` creates files readable by their owner only; results renamed from such a file
    would otherwise stay private, unlike every other file the user makes.
    """
    if not _FILE_MODE:
        mask = os.umask(0o022)
        os.umask(mask)
        _FILE_MODE.append(0o666 & ~mask)
    return _FILE_MODE[0]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds.

    Raises :class:`OutputError` (one line: the file, what went wrong, what to do) when the folder
    cannot be created or the file cannot be written; its ``errno`` attribute keeps the cause.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PART_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise _output_error(path, exc) from None
    try:
        with contextlib.suppress(OSError, AttributeError):
            os.fchmod(fd, default_file_mode())
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise _output_error(path, exc) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _output_error(path: Path, exc: OSError, shown: Path | None = None) -> OutputError:
    err = OutputError(_describe(path, exc, shown))
    err.errno = exc.errno  # type: ignore[attr-defined]
    return err


def _blocking_file(path: Path) -> Path | None:
    """The nearest ancestor of ``path`` (or ``path`` itself) that exists but is not a folder."""
    for p in (path, *path.parents):
        if p.exists() or p.is_symlink():
            return None if p.is_dir() else p
    return None


def _describe(path: Path, exc: OSError, shown: Path | None = None) -> str:
    """One line for ``exc`` raised while writing ``path``; the line names ``shown`` (default: ``path``)."""
    path, name = Path(path), shown or path
    if exc.errno == errno.ENOSPC or exc.errno == getattr(errno, "EDQUOT", None):
        return f"{name}: cannot write: the disk is full (or the quota is used up)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = "read-only file system" if exc.errno == errno.EROFS else "permission denied"
        return f"{name}: cannot write: {what} (choose another output folder with -o)"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = _blocking_file(path.parent)
        if blocker is not None:
            return (f"{name}: cannot write: {blocker} is a file, not a folder "
                    "(choose another output folder with -o)")
    return f"{name}: cannot write: {exc.strerror or exc}"


def ensure_output_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and check a file can be created in it, before any work is done.

    Raises :class:`OutputError` with one clear line (a file in the way, permission denied, read-only
    or full file system).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".trufor-write-test.", suffix=PART_SUFFIX, dir=folder)
    except OSError as exc:
        raise _output_error(folder / ".trufor-write-test", exc, shown=folder) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    return folder


def _is_part_of(name: str, target: str) -> bool:
    head = f".{target}."
    return (name.startswith(head) and name.endswith(PART_SUFFIX)
            and bool(_PART_RANDOM.fullmatch(name[len(head):-len(PART_SUFFIX)])))


def part_target(name: str) -> str | None:
    """The target whose temporary file ``name`` is (as :func:`atomic_write` names them), else None."""
    if not name.endswith(PART_SUFFIX) or len(name) <= len(PART_SUFFIX) + 10:
        return None
    target = name[1:-(len(PART_SUFFIX) + 9)]
    return target if target and _is_part_of(name, target) else None


def remove_stale_parts(targets: Iterable[str | os.PathLike]) -> list[Path]:
    """Delete the temporary files that :func:`atomic_write` left for ``targets`` when its process was killed.

    Only files named exactly as ``atomic_write`` names them for one of ``targets`` are touched;
    each folder is listed once. Returns what was removed (errors are ignored: a leftover temporary
    file is hidden and harmless).
    """
    by_folder: dict[Path, set[str]] = {}
    for t in targets:
        t = Path(t)
        by_folder.setdefault(t.parent, set()).add(t.name)
    removed: list[Path] = []
    for folder, names in by_folder.items():
        try:
            entries = [e.name for e in os.scandir(folder) if e.name.endswith(PART_SUFFIX)]
        except OSError:
            continue
        for entry in entries:
            # ".<target>.<8 random>.part": the target is what lies between the first dot and the random part.
            target = entry[1:-(len(PART_SUFFIX) + 9)] if len(entry) > len(PART_SUFFIX) + 10 else ""
            if target in names and _is_part_of(entry, target):
                with contextlib.suppress(OSError):
                    os.unlink(folder / entry)
                    removed.append(folder / entry)
    return removed


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray | float | tuple]) -> Path:
    """``np.savez`` to ``path`` atomically (the name is kept as given: no ``.npz`` is appended)."""
    path = Path(path)
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path
