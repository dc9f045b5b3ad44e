"""Export of a whole TruFor network to one ONNX file (``trufor export onnx``).

The graph is the plain forward pass of :class:`~trufor.modeling.TruForNet` (Noiseprint++ DnCNN, both
encoder branches, the fusion modules, both decoders and the detection head), wrapped so that it takes
pixels and returns the four published outputs:

* input ``image``: ``uint8`` (N, 3, H, W) RGB pixels; or, exported with ``input_type="float32"``, float32
  pixels already scaled as ``uint8 / 256`` (the official convention, not /255). N, H and W are dynamic;
  the images of one call share one size.
* outputs ``map`` (N, H, W) float32 probability of manipulation (softmax of the localization logits),
  ``conf`` (N, H, W) float32 confidence (sigmoid), ``score`` (N,) float32 integrity score (sigmoid of the
  detection logit), ``np++`` (N, H, W) float32 Noiseprint++ fingerprint (channel 0, raw DnCNN output).

Images with a side below :data:`MIN_SIDE` are handled inside the graph as the torch engine does: mirrored
(numpy's ``symmetric`` padding) up to that side, analysed, the outputs cropped back and the score pooled
over the original pixels only.

BatchNorm layers stay BatchNormalization nodes (the exporter's eval-mode folding into the convolutions is
off), so a runtime evaluates them unfolded unless its own graph optimisations fold them (ONNX Runtime's
basic level does; see :mod:`trufor.deploy.backends`). The model's metadata props record the variant, the
weights' provenance and licence, the input convention and the exporter (:data:`METADATA_PREFIX` keys).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import TruForError
from ..modeling.detection import MixedHead, TopFractionHead

#: Smallest side the network accepts (equal to ``trufor.inference.MIN_SIDE``, checked by the tests).
MIN_SIDE = 29
#: Default ONNX opset (the TorchScript exporter supports 9-20; 17 has LayerNormalization).
DEFAULT_OPSET = 17
INPUT_TYPES = ("uint8", "float32")
EXPORTERS = ("torchscript", "dynamo")
INPUT_NAME = "image"
OUTPUT_NAMES = ("map", "conf", "score", "np++")
METADATA_PREFIX = "trufor."
EXTRA_HINT = "pip install 'trufor[onnx]'"


def require_onnx() -> None:
    """Raise a :class:`TruForError` naming the extra when the ONNX packages are missing."""
    missing = []
    for name in ("onnx", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise TruForError(f"ONNX export and the ONNX Runtime backend need {', '.join(missing)}: {EXTRA_HINT}")


def _symmetric_index(n: Tensor, size: Tensor | int) -> Tensor:
    """Indices extending ``range(n)`` to ``size`` (>= n) like ``numpy.pad(..., mode='symmetric')``."""
    i = torch.arange(size)
    period = 2 * n
    j = torch.remainder(i, period)
    return torch.where(j < n, j, period - 1 - j)


def _logsumexp(x: Tensor) -> Tensor:
    """``torch.logsumexp(x, dim=-1)`` written out as its CPU kernel computes it (max, then the shifted sum).

    Exported as ReduceMax / Exp / ReduceSum / Log, because OpenVINO's ONNX reader drops the axes of
    ReduceLogSumExp (it reduces everything).
    """
    peak = x.amax(dim=-1, keepdim=True)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    return (torch.log(torch.exp(x - peak).sum(dim=-1, keepdim=True)) + peak).squeeze(-1)


def _pool(x: Tensor, log_weights: Tensor | None = None) -> Tensor:
    """:func:`trufor.modeling.detection.weighted_statistics_pooling` with :func:`_logsumexp`."""
    b, c = x.shape[:2]
    x = x.reshape(b, c, -1)
    log_w = x.new_zeros((b, 1, x.shape[-1])) if log_weights is None else log_weights.reshape(b, 1, -1)
    log_w = F.log_softmax(log_w, dim=-1)
    soft_min = -_logsumexp(log_w - x)
    soft_max = _logsumexp(log_w + x)
    w = log_w.exp()
    return torch.cat((soft_min, soft_max, (w * x).sum(dim=-1), (w * x * x).sum(dim=-1)), dim=1)


def _top_mean(fraction: float, loc: Tensor, reference: str = "none") -> Tensor:
    """(B, 1) the map's top statistic of :class:`trufor.modeling.detection.TopFractionHead` with the count of pixels
    kept as a graph value (the pixels sorted, the first ``ceil(fraction * n)`` averaged, ``n`` read from the shape),
    so that the exported graph averages the right count at every image size. The count is computed in float64, as
    Python computes it. With ``reference="median"`` the median is read from the same sorted pixels (torch.median's:
    the lower middle value, at descending rank ``n - 1 - (n - 1) // 2``)."""
    diff = (loc[:, 1] - loc[:, 0]).flatten(1)
    n = torch._shape_as_tensor(diff)[1] if torch.jit.is_tracing() else torch.scalar_tensor(diff.shape[1],
                                                                                          dtype=torch.int64)
    k = torch.clamp(torch.ceil(n.to(torch.float64) * fraction), min=1.0)
    ranked = diff.sort(dim=1, descending=True).values
    kept = torch.arange(n).to(torch.float64) < k
    top = (ranked * kept.to(ranked.dtype)).sum(dim=1) / k.to(ranked.dtype)
    if reference == "median":
        rank = (n - 1) - torch.div(n - 1, 2, rounding_mode="floor")
        top = top - ranked.index_select(1, rank.reshape(1)).squeeze(1)
    return top.unsqueeze(1)


def _statistics(head: nn.Module, loc: Tensor, conf: Tensor) -> Tensor:
    """:class:`trufor.modeling.detection.DetectionHead` over :func:`_pool`."""
    diff = loc[:, 1:2] - loc[:, 0:1]
    feats = torch.cat((_pool(conf), _pool(diff, F.logsigmoid(conf))), dim=-1)
    return nn.Sequential.forward(head, feats)


def _detect(head: nn.Module, loc: Tensor, conf: Tensor) -> Tensor:
    """The detection head: pooled statistics (:class:`trufor.modeling.detection.DetectionHead`), the map's top
    (:class:`trufor.modeling.detection.TopFractionHead`, :func:`_top_mean`) or their mix
    (:class:`trufor.modeling.detection.MixedHead`)."""
    if isinstance(head, TopFractionHead):
        return head.out(_top_mean(head.fraction, loc, head.reference))
    if isinstance(head, MixedHead):
        mixed = torch.cat((_top_mean(head.fraction, loc, head.reference),
                           _statistics(head.statistics, loc, conf).float()), dim=1)
        return head.out(mixed)
    return _statistics(head, loc, conf)


class ExportableTruFor(nn.Module):
    """Pixels in, ``map / conf / score / np++`` out: the graph that :func:`export_onnx` writes.

    Runs in PyTorch too (same outputs as :meth:`trufor.TruFor.analyze` with ``engine="reference"``).
    """

    def __init__(self, net: nn.Module, input_type: str = "uint8") -> None:
        super().__init__()
        if input_type not in INPUT_TYPES:
            raise ValueError(f"input_type must be one of {', '.join(INPUT_TYPES)}, got {input_type!r}")
        self.net = net
        self.input_type = input_type

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        x = image.to(torch.float32)
        if self.input_type == "uint8":
            x = x / 256.0
        h, w = x.shape[-2], x.shape[-1]
        if torch.jit.is_tracing():  # TorchScript exporter: sizes as tensors, so the graph keeps them dynamic
            shape = torch._shape_as_tensor(x)
            rows = _symmetric_index(shape[2], torch.clamp(shape[2], min=MIN_SIDE))
            cols = _symmetric_index(shape[3], torch.clamp(shape[3], min=MIN_SIDE))
        else:
            rows = _symmetric_index(torch.scalar_tensor(h, dtype=torch.int64), torch.sym_max(h, MIN_SIDE))
            cols = _symmetric_index(torch.scalar_tensor(w, dtype=torch.int64), torch.sym_max(w, MIN_SIDE))
        x = x.index_select(2, rows).index_select(3, cols)  # the identity unless a side is below MIN_SIDE
        net = self.net
        size = x.shape[-2:]
        npp_full = net.extract_noiseprint(x)
        feats = net.features(x, npp_full)
        loc_full = net.localize(feats, size)
        conf_full = net.confidence_logits(feats, size)
        loc = loc_full[:, :, :h, :w]
        conf = conf_full[:, :, :h, :w]
        # what the detection head pools: the confidence, or the network's own detection decoder
        det = _detect(net.detection, loc, net.detection_logits(feats, size, conf_full)[:, :, :h, :w])
        heat = F.softmax(loc, dim=1)[:, 1]
        confidence = torch.sigmoid(conf[:, 0])
        score = torch.sigmoid(det[:, 0])
        npp = npp_full[:, 0, :h, :w]
        return heat, confidence, score, npp


@contextlib.contextmanager
def _unbanded(net: nn.Module) -> Iterator[None]:
    """The encoder's feed-forward layers whole (no Python loop over bands) while tracing; restored after."""
    from ..modeling.mit import MixFFN

    saved = [(m, m.band_bytes) for m in net.modules() if isinstance(m, MixFFN)]
    for m, _ in saved:
        m.band_bytes = None
    try:
        yield
    finally:
        for m, value in saved:
            m.band_bytes = value


def _trace_export(module: nn.Module, example: Tensor, path: Path, opset: int, exporter: str) -> None:
    import warnings

    names = {"input_names": [INPUT_NAME], "output_names": list(OUTPUT_NAMES)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation notices about code paths checked by the tests
        if exporter == "torchscript":
            axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}, "score": {0: "batch"}}
            axes.update({k: {0: "batch", 1: "height", 2: "width"} for k in ("map", "conf", "np++")})
            # TrainingMode.PRESERVE on an eval-mode module: inference BatchNorm, without the eval peephole
            # pass that folds BatchNorm into the preceding convolutions (that folding changes the rounding).
            torch.onnx.export(module, (example,), str(path), opset_version=opset, dynamic_axes=axes,
                              training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True,
                              dynamo=False, **names)
        else:
            dims = {0: torch.export.Dim("batch", min=1, max=4096), 2: torch.export.Dim("height", min=1, max=2**16),
                    3: torch.export.Dim("width", min=1, max=2**16)}
            program = torch.onnx.export(module, (example,), None, opset_version=opset,
                                        dynamic_shapes={"image": dims}, dynamo=True, optimize=False, **names)
            program.save(str(path), external_data=False)


def export_onnx(out: str | os.PathLike, weights: str | os.PathLike | None = None, *, net: nn.Module | None = None,
                opset: int = DEFAULT_OPSET, input_type: str = "uint8", exporter: str = "torchscript",
                metadata: dict[str, str] | None = None) -> Path:
    """Write the whole network as one ONNX file at ``out`` (atomically) and return its path.

    Args:
        out: the ``.onnx`` file to write.
        weights: a weights file (found like :func:`trufor.load_model` does when None); ignored with ``net``.
        net: an already built :class:`~trufor.modeling.TruForNet` to export instead (``metadata`` then says
            what it is).
        opset: ONNX opset version.
        input_type: ``"uint8"`` (pixels) or ``"float32"`` (pixels / 256).
        exporter: ``"torchscript"`` (default: PyTorch's tracing exporter, seconds) or ``"dynamo"``
            (``torch.export``-based, minutes on a small CPU; same graph semantics).
        metadata: extra metadata props (strings), stored under their own keys.

    Raises:
        TruForError: the ONNX packages are missing, the weights cannot be read, or the file cannot be written.
    """
    require_onnx()
    import onnx

    from .. import __version__
    from ..modeling.variants import variant_name

    if exporter not in EXPORTERS:
        raise TruForError(f"exporter must be one of {', '.join(EXPORTERS)}, got {exporter!r}")
    if input_type not in INPUT_TYPES:
        raise TruForError(f"input type must be one of {', '.join(INPUT_TYPES)}, got {input_type!r}")
    props: dict[str, str] = {}
    if net is None:
        from ..weights import find_weights, load_network

        source = find_weights(weights)
        loaded = load_network(source.path)
        net = loaded.net
        props.update({"weights_name": loaded.display_name(source.origin), "weights_file": source.path.name,
                      "provenance": loaded.weights.provenance, "licence": loaded.weights.licence})
    net = net.eval()
    config = net.config
    props.update({
        "variant": variant_name(config) or f"custom {config.encoder}",
        "config": json.dumps(config.to_dict(), sort_keys=True),
        "input": ("image: uint8 (N, 3, H, W) RGB pixels" if input_type == "uint8" else
                  "image: float32 (N, 3, H, W) RGB pixels / 256 (official convention)"),
        "input_type": input_type,
        "outputs": "map (N, H, W) float32 manipulation probability; conf (N, H, W) float32 confidence; "
                   "score (N,) float32 integrity score; np++ (N, H, W) float32 Noiseprint++ (channel 0)",
        "min_side": f"{MIN_SIDE} (smaller sides are mirror-padded inside the graph, outputs cropped back)",
        "batchnorm": "unfolded (BatchNormalization nodes)",
        "exporter": f"trufor {__version__}, torch {torch.__version__} ({exporter}), opset {opset}",
        "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    props.update(metadata or {})
    out = Path(out)
    if out.is_dir():
        raise TruForError(f"{out}: is a folder; give the path of the .onnx file to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.export.part")
    dtype = torch.uint8 if input_type == "uint8" else torch.float32
    example = torch.randint(0, 256, (1, 3, 64, 96), generator=torch.Generator().manual_seed(0)).to(dtype)
    if input_type == "float32":
        example = example / 256.0
    module = ExportableTruFor(net, input_type).eval()
    try:
        with _unbanded(net), torch.no_grad():
            _trace_export(module, example, tmp, opset, exporter)
        model = onnx.load(str(tmp))
        model.doc_string = ("TruFor (Guillaro et al., CVPR 2023) image forgery detection and localization, "
                            "exported by the trufor project; " + props["outputs"])
        del model.metadata_props[:]
        for key, value in props.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = METADATA_PREFIX + key, str(value)
        onnx.save(model, str(tmp))
        os.replace(tmp, out)
    except OSError as exc:
        raise TruForError(f"{out}: cannot write the ONNX file: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``trufor.*`` metadata props of an exported file (keys without the prefix); reads no weights."""
    require_onnx()
    import onnx

    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise TruForError(f"{path}: no such ONNX file") from None
    except Exception as exc:  # protobuf's DecodeError and friends: not an ONNX file
        raise TruForError(f"{path}: not a readable ONNX file ({type(exc).__name__}: {exc})") from None
    meta = {p.key[len(METADATA_PREFIX):]: p.value for p in model.metadata_props if p.key.startswith(METADATA_PREFIX)}
    if not meta:
        raise TruForError(f"{path}: an ONNX file without trufor metadata (not written by `trufor export onnx`)")
    return meta
