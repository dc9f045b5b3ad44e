"""Chain of custody: what was analysed (the input's SHA-256), with what (weights name and SHA-256, tool
version), how (options) and when. Written in every results.json, with or without ``--provenance``.

Hashing is cheap: an input is hashed in 1 MiB chunks on the runner's prefetch thread just before it is
decoded (the decoder then reads it from the page cache, so the disk is read once), or from the bytes
already in memory when provenance is inspected. A weights file is hashed once per process (remembered by
path, size and modification time).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import Any

CHUNK = 1 << 20
_WEIGHTS_CACHE: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def weights_sha256(path: str | os.PathLike | None) -> str | None:
    """SHA-256 of a weights file (None when there is no file), computed once per process and file state."""
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    with _LOCK:
        if key not in _WEIGHTS_CACHE:
            _WEIGHTS_CACHE[key] = sha256_file(path)
        return _WEIGHTS_CACHE[key]


def custody_header(model_info: dict[str, Any], *, options: dict[str, Any] | None = None,
                   read_options: dict[str, Any] | None = None, started: str | None = None) -> dict[str, Any]:
    """The ``custody`` object of results.json: tool and version, weights (name, file, SHA-256), the run's
    options (read options included), and when it started (local time with offset, and UTC)."""
    from .. import __version__

    weights = model_info.get("weights")
    try:
        digest = weights_sha256(weights)
    except OSError:
        digest = None
    return {
        "tool": "trufor",
        "tool_version": __version__,
        "weights": {"name": model_info.get("name"), "file": weights, "sha256": digest},
        "options": {**(options or {}), **({"read_options": read_options} if read_options is not None else {})},
        "started": started or time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
