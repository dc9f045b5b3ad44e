"""The Python API: load a model once, analyse many images.

    >>> from trufor import load_model
    >>> model = load_model()                      # weights found as described in find_weights()
    >>> result = model.analyze("photo.jpg")
    >>> result.score, result.map.shape
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import TruForError
from .imageio import LoadedImage, read_image
from .modeling import TruForNet
from .modeling.engine import DEFAULT_BAND_BYTES, PARTS, EfficientTruFor, FusedDecoder
from .modeling.variants import variant_name
from .results import AnalysisResult
from .weights import find_weights, load_network
from .weights.registry import display_name

#: Arithmetic of the forward pass: exact float32 (default) or opt-in lower precision (approximate).
#: ``bf16`` / ``fp16``: every part (Noiseprint++, encoder, decoders) in that precision (on CPU the DnCNN in
#: oneDNN's layout, the rest under autocast); ``bf16-mixed`` / ``fp16-mixed``: the encoder and decoders under
#: autocast, Noiseprint++ in exact float32 (its output is then
#: the exact fingerprint). The final upsampling and the detection head stay float32. Speed and deviation of
#: each, measured: docs/PERFORMANCE.md (benchmarks/precision_split.py).
PRECISIONS = ("fp32", "bf16", "fp16", "bf16-mixed", "fp16-mixed")


class View(NamedTuple):
    """One test-time view: the input mirrored over ``flip`` (tensor dims, ``-1`` columns, ``-2`` rows) and/or cut by
    ``shift`` = (rows, columns) at its top-left, both multiples of 8 (the JPEG grid stays on itself)."""

    flip: tuple[int, ...] = ()
    shift: tuple[int, int] = (0, 0)


#: Test-time views (``tta``): the network also runs on other views of the input, and the localization, confidence
#: and pooled logits of every view, put back in place, are averaged pixel by pixel before the detection head reads them.
#: ``none`` (default: one pass, the exact outputs of the weights); ``hflip`` (the image and its left-right mirror:
#: 2 passes); ``flips`` (also the top-bottom and the two-way mirror: 4 passes); ``shifts`` (the image and three copies
#: of it without its first 8-24 rows and columns: 4 passes, whose pixels meet the network's stride-16 and stride-32
#: grids at four other phases; no view is one that training never showed). A mirror is taken of the largest top-left
#: part whose sides are multiples of 8, so that the JPEG 8x8 grid maps onto itself (a mirrored JPEG block is a JPEG
#: block of the same quantisation table); a shift cuts multiples of 8, so the grid stays in place; the rows or columns
#: a view leaves out keep the views that cover them. The Noiseprint++ output is the plain image's. Measured on the
#: bundled model: docs/MODEL_CARD.md (runs 37 and 45).
TTA_VIEWS: dict[str, tuple[View, ...]] = {
    "none": (),
    "hflip": (View(flip=(-1,)),),
    "flips": (View(flip=(-1,)), View(flip=(-2,)), View(flip=(-2, -1))),
    "shifts": (View(shift=(8, 24)), View(shift=(16, 16)), View(shift=(24, 8))),
}


def precision_parts(precision: str) -> dict[str, torch.dtype | None]:
    """The autocast dtype of each engine part (:data:`trufor.modeling.engine.PARTS`) for ``precision``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return dict.fromkeys(PARTS)
    dtype = torch.bfloat16 if precision.startswith("bf16") else torch.float16
    low = {"encoder", "decoders"} if precision.endswith("-mixed") else set(PARTS)
    return {part: (dtype if part in low else None) for part in PARTS}

#: Smallest side the network accepts: stage 1's spatial reduction (8x8, stride 8) needs 8 tokens.
MIN_SIDE = 29

ImageLike = str | os.PathLike | np.ndarray | Image.Image | LoadedImage


def memory_plan(max_memory: int | None) -> tuple[int, int]:
    """Noiseprint++ tile side and band budget (decoders, encoder feed-forward) for a memory budget in bytes.

    The defaults suit photos up to ~50 MP on a 24 GB machine; smaller budgets use smaller tiles and
    bands (a little slower, same results). The encoder's own activations are not tiled, so the whole
    process still needs roughly 250 bytes per pixel on top of this budget.
    """
    if max_memory is None:
        return 1024, DEFAULT_BAND_BYTES
    tile = 1024 if max_memory >= 2 * 2**30 else 512 if max_memory >= 2**30 else 256
    return tile, max(8 * 2**20, min(DEFAULT_BAND_BYTES, max_memory // 8))


def as_loaded_image(image: ImageLike) -> LoadedImage:
    """A path (read with the default options), an array, a PIL image or a :class:`LoadedImage` as a LoadedImage."""
    if isinstance(image, LoadedImage):
        return image
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    from .imageio import to_rgb_array

    return LoadedImage(pixels=to_rgb_array(image))




#: Budgets (Noiseprint++ tile side, band bytes) tried in turn after a CUDA out-of-memory error, each only when
#: smaller than the current one; then the CPU.
OOM_RETRY_PLANS = ((512, 16 * 2**20), (256, 8 * 2**20), (128, 4 * 2**20))


_OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


def cuda_budget(device: torch.device) -> int | None:
    """Half of the free memory of a CUDA device (None when it cannot be read)."""
    try:
        free, _ = torch.cuda.mem_get_info(device)
    except Exception:
        return None
    return int(free // 2)


def _release_cuda_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _oom_line(exc: BaseException) -> str:
    """The first line of an out-of-memory error, for the warning."""
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


def resolve_device(device: str | torch.device | int | None) -> torch.device:
    """``None``/``"cpu"`` -> CPU; ``"cuda"``, ``"cuda:1"`` or an int GPU index (-1 = CPU) -> that device."""
    if device is None:
        return torch.device("cpu")
    if isinstance(device, int):
        device = "cpu" if device < 0 else f"cuda:{device}"
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TruForError(f"device {device!s} requested but CUDA is not available here (use --device cpu)")
    return dev


class TruFor:
    """A loaded TruFor model, reusable over many images (see :func:`load_model`)."""

    def __init__(self, net: TruForNet, *, name: str, weights_path: str | None = None,
                 provenance: str = "unknown", licence: str = "unknown", device: str | torch.device = "cpu",
                 max_memory: int | None = None, engine: str = "efficient", precision: str = "fp32",
                 origin: str = "argument", tta: str = "none") -> None:
        if engine not in ("efficient", "reference"):
            raise ValueError(f"engine must be 'efficient' or 'reference', got {engine!r}")
        if tta not in TTA_VIEWS:
            raise ValueError(f"tta must be one of {', '.join(TTA_VIEWS)}, got {tta!r}")
        parts = precision_parts(precision)
        if engine == "reference" and precision.endswith("-mixed"):
            raise ValueError(f"precision {precision!r} needs the efficient engine (the reference engine runs "
                             "the plain forward pass under one autocast: use bf16 or fp16)")
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        self.engine = engine
        self.precision = precision
        self.origin = origin  # how the weights were found: argument, environment, cache or bundled
        if max_memory is None and self.device.type == "cuda":
            max_memory = cuda_budget(self.device)  # the tile and band budget follows the card's free memory
        tile, band = memory_plan(max_memory)
        self._efficient = EfficientTruFor(self.net, tile=tile, band_bytes=band)
        self._efficient.part_dtypes = dict(parts)
        #: retry an image that runs out of GPU memory with smaller budgets, then on the CPU (CUDA only;
        #: tests switch it on for the CPU to check the logic)
        self.oom_fallback = self.device.type == "cuda"
        self._cpu_engine: EfficientTruFor | None = None
        self._head_cache: dict[int, tuple[TruForNet, FusedDecoder, torch.nn.Module]] = {}  # score_heads
        self.tta = tta
        #: the weights' name, and the test-time views when there are any: cached outputs of another setting are
        #: told apart by name (trufor eval warns before mixing them)
        self.name = name if tta == "none" else f"{name} [test-time views: {tta}]"
        self.weights_path = weights_path
        self.provenance = provenance
        self.licence = licence

    @property
    def param_device(self) -> torch.device:
        """Where the network's parameters are (``device``, as a full torch device)."""
        return next(self.net.parameters()).device

    @property
    def config(self):
        """The architecture (:class:`trufor.modeling.TruForConfig`)."""
        return self.net.config

    def describe(self) -> dict[str, Any]:
        """Name, weights path, variant, provenance, licence and device, for reports and ``trufor info``."""
        return {
            "name": self.name,
            "weights": self.weights_path,
            "variant": variant_name(self.net.config) or "custom",
            "config": self.net.config.to_dict(),
            "provenance": self.provenance,
            "licence": self.licence,
            "device": str(self.device),
            "precision": self.precision,
            "origin": self.origin,
            "tta": self.tta,
        }

    def _set_plan(self, tile: int, band_bytes: int) -> None:
        """Tile side and band budget of the efficient engine (and of the encoder's feed-forward bands)."""
        from .modeling.mit import MixFFN

        self._efficient.tile, self._efficient.band_bytes = tile, band_bytes
        for module in self.net.modules():
            if isinstance(module, MixFFN):
                module.band_bytes = band_bytes

    def _forward(self, x: torch.Tensor, engine=None):
        with self._autocast():
            if self.engine == "reference":
                return (engine.net if engine is not None else self.net)(x)
            return (engine or self._efficient)(x)

    def _forward_with_fallback(self, x: torch.Tensor, warnings: list[str]):
        """The forward pass; on CUDA, an out-of-memory error retries the image with smaller tile and band budgets
        (efficient engine), then on the CPU with a warning naming what happened (:data:`OOM_RETRY_PLANS`)."""
        if not self.oom_fallback:
            return self._forward(x)
        try:
            return self._forward(x)
        except _OUT_OF_MEMORY as exc:
            first = _oom_line(exc)
        _release_cuda_cache()
        plan = (self._efficient.tile, self._efficient.band_bytes)
        tried = [plan]
        if self.engine == "efficient":
            smaller = [p for p in OOM_RETRY_PLANS if p[0] <= plan[0] and p[1] <= plan[1] and p != plan]
            try:
                for tile, band in smaller:
                    self._set_plan(tile, band)
                    tried.append((tile, band))
                    try:
                        out = self._forward(x)
                    except _OUT_OF_MEMORY:
                        _release_cuda_cache()
                        continue
                    warnings.append(f"{self.device} ran out of memory ({first}); analysed with a smaller memory "
                                    f"budget (Noiseprint++ tile {tile} px, bands {band // 2**20} MiB): same results")
                    return out
            finally:
                self._set_plan(*plan)
        if self._cpu_engine is None:
            from .modeling import build_model

            with torch.inference_mode(False):  # analyze() runs in inference mode; the copy is a normal module
                cpu_net = build_model(self.net.config)  # tensor by tensor: no second whole copy on the full GPU
                cpu_net.load_state_dict({k: v.to("cpu") for k, v in self.net.state_dict().items()})
                self._cpu_engine = EfficientTruFor(cpu_net.eval(), tile=plan[0], band_bytes=plan[1])
                self._cpu_engine.part_dtypes = dict(self._efficient.part_dtypes)
        budgets = ", ".join(f"tile {t} px / bands {b // 2**20} MiB" for t, b in tried)
        warnings.append(f"{self.device} ran out of memory ({first}) with every budget tried ({budgets}); "
                        "analysed on the CPU instead (slower, same results)")
        device = self.device
        self.device = torch.device("cpu")  # autocast on the CPU for the opt-in precisions
        try:
            return self._forward(x.to("cpu"), self._cpu_engine)
        finally:
            self.device = device

    def _input(self, loaded: list[LoadedImage], warnings: list[str]) -> tuple[torch.Tensor, tuple[int, int]]:
        """The network's input (B, 3, H', W') of images of one size, and their own size (H, W): below
        MIN_SIDE the network cannot run, so the images are mirrored up to that size (a warning says so) and the
        caller keeps the outputs of the original pixels only (the score is pooled over them alone)."""
        h, w = loaded[0].pixels.shape[:2]
        if any(item.pixels.shape[:2] != (h, w) for item in loaded):
            raise ValueError("analyze_batch needs images of one size; analyse the others one by one")
        pad_h, pad_w = max(0, MIN_SIDE - h), max(0, MIN_SIDE - w)
        batch = np.stack([item.pixels for item in loaded])
        if pad_h or pad_w:
            batch = np.pad(batch, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
            warnings.append(f"image {w}x{h} is below {MIN_SIDE} px: analysed mirror-padded to "
                            f"{batch.shape[2]}x{batch.shape[1]}, outputs cropped back")
        x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).to(self.device)
        return x.float().div_(256.0), (h, w)

    @torch.inference_mode()
    def score_heads(self, image: ImageLike, nets: Sequence[TruForNet]) -> tuple[float, list[float]]:
        """This model's score of one image, and the score each of ``nets`` gives it, the shared part run once.

        ``nets`` differ from this model in the confidence decoder, the detection decoder if any and the detection head
        only (phase-3 draws of one frozen network: ``trufor.training.head_refit.same_trunk`` checks it); each score
        is the one that net would give alone, within float rounding, for the cost of one pass and a decoder per net
        (the one its detection head pools: its detection decoder where it has one, else its confidence decoder).
        Exact float32 on the efficient engine only (the comparison of draws must not mix arithmetic).

        Raises:
            ValueError: the reference engine or a lower precision.
        """
        if self.engine != "efficient" or self.precision != "fp32":
            raise ValueError("score_heads needs the efficient engine in fp32")
        own = self.net.decode_head_det is not None  # this model's detection decoder runs as the first extra head
        heads = []
        for net in ([self.net] if own else []) + list(nets):
            cached = self._head_cache.get(id(net))
            if cached is None or cached[0] is not net:
                decoder = net.decode_head_det if net.decode_head_det is not None else net.decode_head_conf
                cached = (net, FusedDecoder(decoder.eval()).to(self.device), net.detection.eval().to(self.device))
                self._head_cache[id(net)] = cached
            heads.append(cached[1:])
        x, (h, w) = self._input([as_loaded_image(image)], [])
        out, others = self._efficient.forward_with_heads(x, [fused for fused, _ in heads])
        loc = out.loc_logits[..., :h, :w]
        scores = [torch.sigmoid(det(loc, c[..., :h, :w])).item() for c, (_, det) in zip(others, heads)]
        if own:
            return scores[0], scores[1:]
        return torch.sigmoid(self.net.detection(loc, out.conf_logits[..., :h, :w])).item(), scores

    def _autocast(self):
        """Autocast of the whole forward pass for the reference engine's bf16 / fp16 (the efficient engine
        sets its parts' precisions itself); a no-op context otherwise."""
        if self.precision == "fp32" or self.engine != "reference":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def _average_views(self, x: torch.Tensor, out, warnings: list[str]):
        """``out`` (the plain pass over ``x``) with its localization, confidence and pooled logits averaged, pixel by
        pixel, with those of the views of :data:`TTA_VIEWS` (each put back in place: mirrored back, shifted back);
        the detection logit is left for the caller to compute again from the averages."""
        height, width = x.shape[-2:]
        fields = [name for name in ("loc_logits", "conf_logits", "pooled_logits") if getattr(out, name) is not None]
        sums = {name: getattr(out, name).float().clone() for name in fields}
        count = torch.ones((1, 1, height, width), device=sums["loc_logits"].device)
        for view in TTA_VIEWS[self.tta]:
            top, left = view.shift
            # a mirror: the largest part whose mirrored sides are multiples of 8, so the JPEG grid maps onto itself
            h = height - (height - top) % 8 if -2 in view.flip else height
            w = width - (width - left) % 8 if -1 in view.flip else width
            if min(h - top, w - left) < MIN_SIDE:
                what = f"mirror view over dims {view.flip}" if view.flip else f"shifted view {view.shift}"
                warnings.append(f"image {width}x{height} is too small for the {what}: left out of the average")
                continue
            part = x[..., top:h, left:w]
            result = self._forward_with_fallback(part.flip(view.flip) if view.flip else part.contiguous(), warnings)
            for name in fields:
                value = getattr(result, name).float()
                sums[name][..., top:h, left:w] += (value.flip(view.flip) if view.flip else value).to(sums[name].device)
            count[..., top:h, left:w] += 1
        return out._replace(**{name: sums[name] / count for name in fields})

    def analyze(self, image: ImageLike, *, noiseprint: bool = True, keep_logits: bool = False) -> AnalysisResult:
        """Analyse one image (a path, an RGB array, a PIL image or a :class:`LoadedImage`)."""
        return self.analyze_batch([image], noiseprint=noiseprint, keep_logits=keep_logits)[0]

    @torch.inference_mode()
    def analyze_batch(self, images: list[ImageLike], *, noiseprint: bool = True,
                      keep_logits: bool = False) -> list[AnalysisResult]:
        """Analyse images of one size in one forward pass (a batch); one result each, in order.

        The same outputs as one :meth:`analyze` call per image within float rounding (measured in
        docs/PERFORMANCE.md: Noiseprint++ bit for bit, maps within ~1e-5), not bit for bit: the encoder's
        matrix products may round differently for another number of rows. ``seconds`` is the batch's time
        divided by its size.

        Raises:
            ValueError: the images are not all of one size.
        """
        loaded = [as_loaded_image(image) for image in images]
        if not loaded:
            return []
        warnings: list[str] = []
        start = time.perf_counter()
        x, (h, w) = self._input(loaded, warnings)
        pad_h, pad_w = x.shape[-2] - h, x.shape[-1] - w
        out = self._forward_with_fallback(x, warnings)
        if self.precision != "fp32":
            out = type(out)(*(None if t is None else t.float() for t in out))
        if self.tta != "none":
            out = self._average_views(x, out, warnings)
        loc, conf, det = out.loc_logits, out.conf_logits, out.det_logit
        if pad_h or pad_w or self.tta != "none":  # the score pooled again (own pixels only; the averaged views)
            pooled = conf if out.pooled_logits is None else out.pooled_logits
            loc, conf, pooled = loc[..., :h, :w], conf[..., :h, :w], pooled[..., :h, :w]
            on_cpu_copy = self._cpu_engine is not None and loc.device != self.param_device
            det = (self._cpu_engine.net if on_cpu_copy else self.net).detection(loc, pooled)
        seconds = (time.perf_counter() - start) / len(loaded)
        results = []
        for i, item in enumerate(loaded):
            heat = F.softmax(loc[i], dim=0)[1]
            confidence = torch.sigmoid(conf[i, 0])
            score = torch.sigmoid(det[i]).item()
            result = AnalysisResult(
                score=float(score),
                map=heat.float().cpu().numpy(),
                conf=confidence.float().cpu().numpy(),
                noiseprint=out.noiseprint[i, 0, :h, :w].float().cpu().numpy() if noiseprint else None,
                path=item.path,
                model_name=self.name,
                seconds=seconds,
                warnings=list(item.warnings) + warnings,
                read_options=item.options,
            )
            if keep_logits:
                result.loc_logits = loc[i].float().cpu().numpy()
                result.conf_logits = conf[i].float().cpu().numpy()
                result.det_logit = float(det[i].reshape(-1)[0])
            results.append(result)
        return results


def model_name_for(loaded_meta: dict[str, Any], origin: str, fmt: str, variant: str, path: Path) -> str:
    """A short human name for a weights file, shown in every output (CSV, figures, ``trufor info``).

    The labels come from the weights registry (:func:`trufor.weights.registry.display_name`).
    """
    meta = {k: v for k, v in loaded_meta.items() if k != "model_name"}
    return display_name(variant, origin=origin, fmt=fmt, path=path, metadata=meta)


def load_model(weights: str | os.PathLike | None = None, *, device: str | torch.device | int | None = "cpu",
               max_memory: int | None = None, engine: str = "efficient", precision: str = "fp32",
               backend: str = "torch", mode: str = "exact", tta: str = "none") -> TruFor:
    """Load a TruFor model.

    Args:
        weights: a ``trufor.pth.tar`` (official) or ``.safetensors`` (ours) file; when None, the
            first of ``$TRUFOR_WEIGHTS``, the user cache and the bundled model is used.
        device: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"``, or a GPU index (-1 = CPU).
        max_memory: working-memory budget in bytes for the tiled parts (see :func:`memory_plan`).
        engine: ``"efficient"`` (default: tiled Noiseprint++, fused decoders; same numbers) or
            ``"reference"`` (the plain forward pass, as the official code computes it).
        precision: ``"fp32"`` (default, exact); ``"bf16"`` / ``"fp16"`` (every part in that precision) or
            ``"bf16-mixed"`` / ``"fp16-mixed"`` (Noiseprint++ exact float32, the rest lower): faster where the
            hardware supports it, but approximate (see :data:`PRECISIONS`; measured in docs/PERFORMANCE.md).
        backend: ``"torch"`` (default: this engine), or ``"onnxruntime"`` / ``"openvino"``: the exported ONNX
            graph in that runtime, on CPU (``weights`` may then be an ``.onnx`` file from ``trufor export onnx``;
            other weights are exported on the fly into the user cache). Returns a
            :class:`trufor.deploy.backends.RuntimeModel` with the same ``analyze`` / ``describe``.
        mode: for the ONNX backends, ``"exact"`` (graph optimisations that change the rounding off) or
            ``"fast"`` (see :mod:`trufor.deploy.backends`).
        tta: test-time views (:data:`TTA_VIEWS`): ``"none"`` (default), ``"hflip"`` (2 passes), ``"flips"`` or
            ``"shifts"`` (4 passes each), averaged before the detection head; torch backend only.
    """
    if backend != "torch":
        from .deploy.backends import BACKENDS, load_runtime_model

        if backend not in BACKENDS:
            raise TruForError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if precision != "fp32" or engine != "efficient":
            raise TruForError(f"--precision and --engine choose how the torch engine computes; the {backend} "
                              "backend evaluates the exported float32 graph (use --mode exact/fast)")
        if resolve_device(device).type != "cpu":
            raise TruForError(f"the {backend} backend runs on the CPU here (use --device cpu or --backend torch)")
        if tta != "none":
            raise TruForError(f"test-time views (--tta {tta}) run on the torch backend only, not on {backend}")
        return load_runtime_model(weights, backend=backend, mode=mode, max_memory=max_memory)
    if str(weights or "").lower().endswith(".onnx"):
        raise TruForError(f"{weights}: an ONNX file needs --backend onnxruntime or openvino")
    source = find_weights(weights)
    network = load_network(source.path)
    return TruFor(
        network.net,
        name=network.display_name(source.origin),
        weights_path=str(source.path),
        provenance=network.weights.provenance,
        licence=network.weights.licence,
        device=device,
        max_memory=max_memory,
        engine=engine,
        precision=precision,
        origin=source.origin,
        tta=tta,
    )


_default_models: dict[tuple[str | None, str], TruFor] = {}


def analyze(image: ImageLike, *, model: TruFor | None = None, weights: str | os.PathLike | None = None,
            device: str | torch.device | int | None = "cpu", noiseprint: bool = True) -> AnalysisResult:
    """Analyse one image; without ``model``, loads (once, then reuses) the default model."""
    if model is None:
        key = (None if weights is None else str(weights), str(resolve_device(device)))
        if key not in _default_models:
            _default_models[key] = load_model(weights, device=device)
        model = _default_models[key]
    return model.analyze(image, noiseprint=noiseprint)
