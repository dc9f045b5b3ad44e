"""The result of one analysis, and its file: the official tool's ``.npz`` layout, written and read here only.

:class:`AnalysisResult` is what :meth:`trufor.TruFor.analyze` returns, what a batch writes, what
``trufor eval`` scores, what ``trufor visualize`` draws and what a service or a cluster stage passes on.
Its file is the official ``trufor_test.py`` layout: ``map`` and ``conf`` float32 (H, W), ``score``
float64, ``imgsize`` int64 (2,), ``np++`` float32 (H, W) when saved; written atomically
(:func:`trufor.outputs.save_npz`). Nothing else in the package opens a result ``.npz``:

* :meth:`AnalysisResult.from_npz` reads one (ours or the official tool's), checking every array;
* :func:`npz_summary` / :func:`is_complete_npz` read only the array headers and the score, which is
  what resuming a batch of a million images needs.
"""

from __future__ import annotations

import contextlib
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from .errors import ResultFileError, TruForError
from .outputs import save_npz

if TYPE_CHECKING:  # pragma: no cover
    from .imageio import LoadedImage, ReadOptions

#: The keys of the official layout, and the optional one.
NPZ_KEYS = ("map", "conf", "score", "imgsize")
NOISEPRINT_KEY = "np++"


@dataclass
class AnalysisResult:
    """What TruFor says about one image.

    Attributes:
        score: integrity score in [0, 1], the probability that the image is manipulated (NaN when read
            from a file without one).
        map: (H, W) float32 anomaly localization map in [0, 1] (1 = likely forged).
        conf: (H, W) float32 confidence map in [0, 1] (where ``map`` can be trusted); None when read from
            a file without one.
        noiseprint: (H, W) float32 Noiseprint++ fingerprint, when computed or saved.
        path: the image file, when read from one.
        model_name: which weights produced this result.
        seconds: time spent in the network.
        warnings: notes on the input (e.g. padding of a tiny image).
        read_options: how the image file was read (pixel cap, truncated files, EXIF orientation), so that
            a figure shows the very pixels that were analysed.
    """

    score: float
    map: np.ndarray
    conf: np.ndarray | None
    noiseprint: np.ndarray | None
    path: str | None = None
    model_name: str = ""
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    loc_logits: np.ndarray | None = field(default=None, repr=False)
    conf_logits: np.ndarray | None = field(default=None, repr=False)
    det_logit: float | None = None
    read_options: ReadOptions | None = None

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the analysed image."""
        return int(self.map.shape[0]), int(self.map.shape[1])

    def npz_arrays(self, include_noiseprint: bool = False, debug: bool = False) -> dict[str, Any]:
        """The arrays of the official tool's ``.npz`` (same keys, dtypes and shapes)."""
        if self.conf is None:
            raise TruForError("this result has no confidence map to save")
        out: dict[str, Any] = {
            "map": self.map.astype(np.float32, copy=False),
            "imgsize": np.asarray(self.image_size, dtype=np.int64),
            "score": np.float64(self.score),
            "conf": self.conf.astype(np.float32, copy=False),
        }
        if include_noiseprint:
            if self.noiseprint is None:
                raise TruForError("this result has no Noiseprint++ (analyze(..., noiseprint=True))")
            out[NOISEPRINT_KEY] = self.noiseprint.astype(np.float32, copy=False)
        if debug and self.loc_logits is not None:
            out["loc_logits"] = self.loc_logits
            out["conf_logits"] = self.conf_logits
            out["det_logit"] = np.asarray([self.det_logit], dtype=np.float32)
        return out

    def save_npz(self, path: str | os.PathLike, include_noiseprint: bool = False, debug: bool = False) -> Path:
        """Write the result as the official tool does (keys map, conf, score, imgsize [, np++]), atomically."""
        return save_npz(path, self.npz_arrays(include_noiseprint, debug))

    @classmethod
    def from_npz(cls, path: str | os.PathLike, *, image: str | os.PathLike | None = None) -> AnalysisResult:
        """Read a result file written by ``trufor detect``, ``save_npz`` or the official tool.

        ``map`` is required (a non-empty 2-D array of numbers); ``conf`` and ``np++``, when present, must
        have its shape; ``score``, when present, must be one number (NaN when absent). ``image`` is
        recorded as the result's ``path``.

        Raises:
            ResultFileError: one line naming the file and what is wrong with it.
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: np.asarray(data[k]) for k in data.files if k in (*NPZ_KEYS, NOISEPRINT_KEY)}
        except FileNotFoundError:
            raise ResultFileError(f"{path}: file not found") from None
        except IsADirectoryError:
            raise ResultFileError(f"{path}: is a folder, not a result file") from None
        except Exception as exc:  # truncated, not a zip, damaged member, pickled object...
            raise ResultFileError(f"{path}: not a readable .npz result ({type(exc).__name__}: {exc})") from None
        problem = check_arrays(arrays)
        if problem:
            raise ResultFileError(f"{path}: not a TruFor result: {problem}")
        heat = arrays["map"]
        conf = arrays.get("conf")
        score = arrays.get("score")
        noiseprint = arrays.get(NOISEPRINT_KEY)
        return cls(
            score=float(score.reshape(-1)[0]) if score is not None else math.nan,
            map=heat.astype(np.float32, copy=False),
            conf=None if conf is None else conf.astype(np.float32, copy=False),
            noiseprint=None if noiseprint is None else noiseprint.astype(np.float32, copy=False),
            path=None if image is None else os.fspath(image),
        )

    def figure(self, image: Any = None, mask: Any = None, **kwargs: Any):
        """A matplotlib figure: image | localization map | confidence map (| mask), score in the title.

        Without ``image``, the file the result came from is read again *with the options it was
        analysed with* (``read_options``: e.g. EXIF orientation), so the pixels match the maps.
        """
        from .visualize import result_figure

        if image is None and self.path is not None:
            from .imageio import ReadOptions

            image = (self.read_options or ReadOptions()).read(self.path)
        return result_figure(self, image=image, mask=mask, **kwargs)


def check_arrays(arrays: dict[str, np.ndarray]) -> str | None:
    """What makes the arrays of an npz unusable as a result, or None when they are fine."""
    if "map" not in arrays:
        return "no 'map' array"
    heat = arrays["map"]
    if heat.dtype.kind not in "fiub" or heat.ndim != 2 or 0 in heat.shape:
        return f"'map' is a {heat.dtype} array of shape {heat.shape}, expected a non-empty 2-D array of numbers"
    for key in ("conf", NOISEPRINT_KEY):
        other = arrays.get(key)
        if other is not None and (other.dtype.kind not in "fiub" or other.shape != heat.shape):
            return (f"'{key}' is a {other.dtype} array of shape {other.shape}, expected numbers shaped like "
                    f"'map' {heat.shape}")
    score = arrays.get("score")
    if score is not None and (score.dtype.kind not in "fiub" or score.size != 1):
        return f"'score' is a {score.dtype} array of shape {score.shape}, expected a single number"
    return None


# ------------------------------------------------------------------ cheap checks (resume of a batch)
def _npy_header(zf: zipfile.ZipFile, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of array ``key`` of an npz, checked against the size of its data (not read)."""
    info = zf.getinfo(f"{key}.npy")
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"npy format version {version}")
        data_bytes = info.file_size - f.tell()
    if dtype.hasobject or data_bytes != math.prod(shape) * dtype.itemsize:
        raise ValueError(f"{key}: header does not match its data")
    return shape, dtype


def _inspect_npz(path: str | os.PathLike, keys: Iterable[str]) -> tuple[dict[str, tuple[tuple[int, ...], np.dtype]], float | None]:
    """Headers of ``keys`` of a result npz and its score (when ``score`` is among ``keys``).

    Raises when a key is missing or inconsistent. Rules beyond a consistent header: ``map`` is a
    non-empty 2-D real array, ``score`` a single real number (read, which verifies its checksum).
    """
    with open(path, "rb") as raw:
        if raw.read(4) != b"PK\x03\x04":
            raise ValueError("not an npz (zip) file")
    score = None
    with zipfile.ZipFile(path) as zf:
        found = {key: _npy_header(zf, key) for key in keys}
        if "map" in found:
            shape, dtype = found["map"]
            if len(shape) != 2 or min(shape) < 1 or dtype.kind not in "fiu":
                raise ValueError("map is not a 2-D real array")
        if "score" in found:
            shape, dtype = found["score"]
            if math.prod(shape) != 1 or dtype.kind not in "fiu":
                raise ValueError("score is not a single number")
            with zf.open("score.npy") as f:
                score = float(np.lib.format.read_array(f, allow_pickle=False).reshape(-1)[0])
    return found, score


def is_complete_npz(path: str | os.PathLike, keys: tuple[str, ...] = ("map", "score")) -> bool:
    """True when ``path`` is a complete result npz holding ``keys`` (decides what a rerun skips).

    Only the array headers (and the score) are read, not the maps: checking a folder of results
    stays cheap. A file cut short, with a damaged directory or header, or with arrays of the wrong
    shape counts as incomplete. Never raises.
    """
    try:
        _inspect_npz(path, keys)
        return True
    except Exception:
        return False


def npz_summary(path: str | os.PathLike, keys: tuple[str, ...] = ("map", "score")) -> tuple[int, int, float]:
    """``(height, width, score)`` of a complete result npz (see :func:`is_complete_npz`), cheaply; the
    score is NaN when ``score`` is not among ``keys`` and absent.

    Raises ``ValueError``, ``OSError`` or a zip error when the file is not a complete result.
    """
    keys = tuple(dict.fromkeys(("map", *keys)))
    with zipfile.ZipFile(path) if "score" not in keys else contextlib.nullcontext() as zf:
        if zf is not None and "score.npy" in zf.namelist():
            keys = (*keys, "score")
    found, score = _inspect_npz(path, keys)
    height, width = found["map"][0]
    return int(height), int(width), math.nan if score is None else float(score)
