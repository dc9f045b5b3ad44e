"""Reuse large CPU buffers between layers of the DnCNN: the same numbers, far less time in the kernel.

glibc's ``malloc`` serves every request above its mmap threshold (at most 32 MiB by default) with a
fresh ``mmap`` and gives it back with ``munmap`` on free. A full-resolution 64-channel activation of
the Noiseprint++ DnCNN is 64 MiB for a 512x512 tile and 256 MiB for 1024x1024, so every layer of
every tile maps new memory and the kernel zero-fills it page by page on first touch: measured on 2
cores, that doubled the DnCNN's time at 1024x1024, half of it system time. Inside
:func:`heap_reuse` the mmap and trim thresholds are raised, so a freed activation stays in the heap
and the next layer's activation of the same size takes its place.

Only that stretch is tuned: afterwards the thresholds go back to glibc's usual ceiling (32 MiB) and
the heap is trimmed, so the rest of the process keeps glibc's normal behaviour. (Kept over the whole
forward pass, buffers of varied sizes fragment the heap: 2.6x the peak memory at 12 MP, measured.)
The other large temporaries, the encoder's and decoders' bands, are kept below that ceiling instead
(:data:`~trufor.modeling.engine.DEFAULT_BAND_BYTES`), so the heap recycles them anyway. Set
``TRUFOR_KEEP_HEAP=0`` to leave the allocator alone. Only glibc (Linux) is tuned; elsewhere this
does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import sys
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Inside :func:`heap_reuse`, requests up to this size come from the heap (glibc 2.36 honours it).
MMAP_THRESHOLD = 1 << 30
#: Inside :func:`heap_reuse`, free memory at the top of the heap is kept up to this size.
TRIM_THRESHOLD = (1 << 31) - 1
#: Afterwards: glibc's own ceiling for its dynamic mmap threshold (32 MiB on 64-bit) and twice it.
NORMAL_MMAP_THRESHOLD = 32 << 20
NORMAL_TRIM_THRESHOLD = 64 << 20

_lock = threading.Lock()
_depth = 0
_libc: ctypes.CDLL | None | bool = None


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux") and os.environ.get("TRUFOR_KEEP_HEAP", "1").strip().lower() not in (
            "0", "false", "no", "off"
        ):
            try:
                lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                lib.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
                lib.mallopt.restype = ctypes.c_int
                lib.malloc_trim.argtypes = (ctypes.c_size_t,)
                lib.malloc_trim.restype = ctypes.c_int
                _libc = lib
            except (OSError, AttributeError):  # not glibc (musl has no mallopt)
                log.debug("no glibc mallopt here: allocator left alone")
    return _libc or None


@contextlib.contextmanager
def heap_reuse() -> Iterator[bool]:
    """Within the block, large freed buffers stay in the heap for reuse; yields whether it is active."""
    global _depth
    libc = _glibc()
    if libc is None:
        yield False
        return
    with _lock:
        if _depth == 0:
            libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        _depth += 1
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(_M_MMAP_THRESHOLD, NORMAL_MMAP_THRESHOLD)
                libc.mallopt(_M_TRIM_THRESHOLD, NORMAL_TRIM_THRESHOLD)
                libc.malloc_trim(0)

