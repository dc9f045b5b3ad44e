"""Other runtimes for one analysis: ONNX Runtime and OpenVINO evaluating an exported ONNX file.

:func:`load_runtime_model` gives a :class:`RuntimeModel`, which has the same ``analyze`` / ``describe``
surface as :class:`trufor.TruFor`, so the job runner (:mod:`trufor.batch`), ``trufor detect --backend`` and
the service use it unchanged. The ONNX file is the one given, or exported on the fly from the weights
into the user cache (``<cache>/onnx/``, keyed by the weights file's SHA-256, the opset and the version).

Modes (graph optimisations of the runtime):

* ``exact`` (default): ONNX Runtime with every graph optimisation off (``ORT_DISABLE_ALL``): BatchNorm stays
  unfolded, no fused kernels that change the rounding. OpenVINO in f32 inference precision.
* ``fast``: ``ORT_ENABLE_ALL`` (BatchNorm folded into the convolutions, fused attention/GELU kernels, the
  NCHWc layout): within the same bound as exact. OpenVINO with its default hints, which on a CPU with
  AVX-512 BF16 or AMX means **bf16 inference**: approximate like ``--precision bf16`` (measured: map off by up
  to 1.0 with the sensitive parity weights).

The measured deviations of both against the official goldens are in docs/PERFORMANCE.md. Neither runtime
can reproduce the goldens to the parity kit's 1e-4: the goldens carry oneDNN's AVX-512 float32 rounding,
and the parity weights amplify any other float32 rounding (tests/conftest.py, ``CROSS_RUNTIME_TOLERANCES``).

Memory: the exported graph is the plain forward pass; it cannot tile the Noiseprint++ DnCNN or band the
decoders as the torch engine does, so its peak memory grows faster with the image size. Each backend has
a pixel cap derived from a memory budget (``max_memory``, default: the machine's RAM) and
:data:`BYTES_PER_PIXEL`; a larger image is refused with a clear message instead of exhausting the memory.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TruForError
from .onnx_export import EXTRA_HINT, INPUT_NAME, MIN_SIDE, OUTPUT_NAMES, export_onnx, read_metadata

BACKENDS = ("torch", "onnxruntime", "openvino")
RUNTIME_BACKENDS = BACKENDS[1:]
MODES = ("exact", "fast")
#: Peak resident memory per image pixel of the plain graph (measured by benchmarks/backends.py at 2048x1536
#: with the b2 model: see docs/PERFORMANCE.md), rounded up; the pixel cap is the memory budget over it.
BYTES_PER_PIXEL = {"onnxruntime": 3000, "openvino": 3000}
OPENVINO_HINT = "pip install 'trufor[openvino]'"


def total_memory() -> int:
    """Physical memory of this machine in bytes (8 GiB when it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def pixel_cap(backend: str, max_memory: int | None = None) -> int:
    """Largest image (pixels) ``backend`` is allowed to analyse within ``max_memory`` bytes
    (default: 80 % of this machine's memory)."""
    budget = max_memory if max_memory is not None else int(0.8 * total_memory())
    return max(MIN_SIDE * MIN_SIDE, int(budget // BYTES_PER_PIXEL[backend]))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def onnx_for_weights(weights: str | os.PathLike | None = None, *, opset: int | None = None) -> tuple[Path, str]:
    """The ONNX file of a weights file, exported into the user cache on first use; (path, origin)."""
    from .. import __version__
    from ..weights import find_weights
    from ..weights.discovery import cache_dir
    from .onnx_export import DEFAULT_OPSET

    source = find_weights(weights)
    opset = opset or DEFAULT_OPSET
    key = hashlib.sha256(f"{_sha256(source.path)}|{opset}|{__version__}".encode()).hexdigest()[:16]
    target = cache_dir() / "onnx" / f"{source.path.stem}-{key}.onnx"
    if not target.exists():
        export_onnx(target, source.path, opset=opset)
    return target, source.origin


class _OrtSession:
    def __init__(self, path: Path, mode: str, threads: int | None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise TruForError(f"the onnxruntime backend needs onnxruntime: {EXTRA_HINT}") from None
        options = ort.SessionOptions()
        level = ort.GraphOptimizationLevel
        options.graph_optimization_level = level.ORT_DISABLE_ALL if mode == "exact" else level.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise TruForError(f"{path}: ONNX Runtime cannot load it: {exc}") from None
        self.device = "cpu"

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        return self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: image})


class _OpenVinoSession:
    def __init__(self, path: Path, mode: str, threads: int | None) -> None:
        try:
            import openvino as ov
        except ImportError:
            raise TruForError(f"the openvino backend needs openvino: {OPENVINO_HINT}") from None
        core = ov.Core()
        config: dict[str, Any] = {}
        if mode == "exact":
            config["INFERENCE_PRECISION_HINT"] = "f32"  # no bf16/fp16 downcast on CPUs that offer it
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            model = core.read_model(str(path))
            self.compiled = core.compile_model(model, "CPU", config)
        except Exception as exc:
            raise TruForError(f"{path}: OpenVINO cannot load it: {exc}") from None
        self.outputs = [self.compiled.output(name) for name in OUTPUT_NAMES]
        self.device = "cpu"

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        res = self.compiled({INPUT_NAME: image})
        return [np.asarray(res[o]) for o in self.outputs]


class RuntimeModel:
    """A TruFor model evaluated by ONNX Runtime or OpenVINO (see the module docstring)."""

    def __init__(self, onnx_path: str | os.PathLike, *, backend: str = "onnxruntime", mode: str = "exact",
                 max_memory: int | None = None, threads: int | None = None, origin: str = "argument",
                 weights_path: str | None = None) -> None:
        if backend not in RUNTIME_BACKENDS:
            raise TruForError(f"backend must be one of {', '.join(RUNTIME_BACKENDS)}, got {backend!r}")
        if mode not in MODES:
            raise TruForError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.onnx_path = Path(onnx_path)
        self.meta = read_metadata(self.onnx_path)
        if self.meta.get("input_type", "uint8") != "uint8":
            raise TruForError(f"{self.onnx_path}: exported for float32 input; the {backend} backend reads "
                              "uint8 exports (`trufor export onnx` without --input-type)")
        self.backend = backend
        self.mode = mode
        self.max_pixels = pixel_cap(backend, max_memory)
        self._run = (_OrtSession if backend == "onnxruntime" else _OpenVinoSession)(self.onnx_path, mode, threads)
        self.device = self._run.device
        self.engine = backend
        self.precision = "fp32"
        self.origin = origin
        self.weights_path = weights_path or str(self.onnx_path)
        self.name = f"{self.meta.get('weights_name') or self.meta.get('variant', 'TruFor')} [{backend}, {mode}]"
        self.provenance = self.meta.get("provenance", "unknown")
        self.licence = self.meta.get("licence", "unknown")

    def describe(self) -> dict[str, Any]:
        """Name, weights, variant, provenance, licence, backend and mode, for reports and ``trufor info``."""
        import json

        return {
            "name": self.name,
            "weights": self.weights_path,
            "onnx": str(self.onnx_path),
            "variant": self.meta.get("variant", "custom"),
            "config": json.loads(self.meta["config"]) if "config" in self.meta else None,
            "provenance": self.provenance,
            "licence": self.licence,
            "device": self.device,
            "precision": self.precision,
            "origin": self.origin,
            "backend": self.backend,
            "mode": self.mode,
            "max_pixels": self.max_pixels,
        }

    def check_size(self, h: int, w: int, where: str = "image") -> None:
        """Refuse an image above this backend's pixel cap (see the module docstring)."""
        if h * w > self.max_pixels:
            raise TruForError(
                f"{where}: {w}x{h} ({h * w / 1e6:.1f} MP) is above the {self.backend} backend's cap of "
                f"{self.max_pixels / 1e6:.1f} MP: the exported graph cannot tile the image as the torch engine "
                "does; analyse it with --backend torch (tiled, any size) or raise --max-memory")

    def run_pixels(self, batch: np.ndarray) -> list[np.ndarray]:
        """The graph's four outputs (map, conf, score, np++) for uint8 (N, H, W, 3) pixels of one size."""
        n, h, w = batch.shape[:3]
        self.check_size(h, w * n)
        return self._run(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))

    def analyze(self, image, *, noiseprint: bool = True, keep_logits: bool = False):
        """Analyse one image (a path, an RGB array, a PIL image or a LoadedImage), as :meth:`TruFor.analyze`."""
        return self.analyze_batch([image], noiseprint=noiseprint, keep_logits=keep_logits)[0]

    def analyze_batch(self, images: list, *, noiseprint: bool = True, keep_logits: bool = False) -> list:
        """Images of one size in one call of the graph (its batch axis), as :meth:`TruFor.analyze_batch`."""
        from ..inference import as_loaded_image
        from ..results import AnalysisResult

        if keep_logits:
            raise TruForError(f"the {self.backend} backend returns map, conf, score and np++, not the logits")
        loaded = [as_loaded_image(image) for image in images]
        if not loaded:
            return []
        h, w = loaded[0].pixels.shape[:2]
        if any(item.pixels.shape[:2] != (h, w) for item in loaded):
            raise ValueError("analyze_batch needs images of one size; analyse the others one by one")
        self.check_size(h, w * len(loaded), loaded[0].path or "image")
        warnings = []
        if h < MIN_SIDE or w < MIN_SIDE:
            warnings.append(f"image {w}x{h} is below {MIN_SIDE} px: analysed mirror-padded to "
                            f"{max(w, MIN_SIDE)}x{max(h, MIN_SIDE)}, outputs cropped back")
        start = time.perf_counter()
        batch = np.stack([item.pixels for item in loaded]).transpose(0, 3, 1, 2)
        heat, conf, score, npp = self._run(np.ascontiguousarray(batch))
        seconds = (time.perf_counter() - start) / len(loaded)
        return [AnalysisResult(
            score=float(score[i]), map=np.asarray(heat[i], np.float32), conf=np.asarray(conf[i], np.float32),
            noiseprint=np.asarray(npp[i], np.float32) if noiseprint else None, path=item.path,
            model_name=self.name, seconds=seconds, warnings=list(item.warnings) + warnings,
            read_options=item.options) for i, item in enumerate(loaded)]


def load_runtime_model(weights: str | os.PathLike | None = None, *, backend: str = "onnxruntime",
                       mode: str = "exact", max_memory: int | None = None,
                       threads: int | None = None) -> RuntimeModel:
    """A :class:`RuntimeModel` from an ``.onnx`` file, or from weights exported on the fly (cached)."""
    if weights is not None and str(weights).lower().endswith(".onnx"):
        path = Path(weights)
        if not path.is_file():
            raise TruForError(f"{path}: no such ONNX file")
        return RuntimeModel(path, backend=backend, mode=mode, max_memory=max_memory, threads=threads)
    path, origin = onnx_for_weights(weights)
    return RuntimeModel(path, backend=backend, mode=mode, max_memory=max_memory, threads=threads, origin=origin,
                        weights_path=None if weights is None else str(weights))
