"""Reading and writing TruFor weights safely.

Two formats are read:

* the authors' checkpoint (``trufor.pth.tar``): a torch file holding ``{'state_dict': ...}``, also a
  bare state dict, DataParallel ``module.`` prefixes, or a Noiseprint++-only file ``{'network': ...}``;
* our own format: a ``.safetensors`` file whose header metadata records the architecture
  (``config``), the variant name, provenance and licence.

Torch files are always opened with ``torch.load(weights_only=True)``: a pickle that would run code
is refused, never executed. The architecture is inferred from tensor shapes, so a checkpoint of any
registered variant loads without being told which one it is.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import WeightsError
from ..outputs import default_file_mode
from ..modeling.dual_encoder import MIT_VARIANTS
from ..modeling.efficientnet_lite import EFFICIENTNET_LITE_VARIANTS
from ..modeling.variants import TruForConfig, variant_name
from .registry import TRUFOR_OFFICIAL

#: Value of the ``format`` field in the metadata of our safetensors files.
SAFETENSORS_FORMAT = "trufor-weights"
SAFETENSORS_FORMAT_VERSION = "1"

#: Licence statement attached to weights read from (or converted from) the authors' checkpoint (from the registry).
OFFICIAL_LICENCE = TRUFOR_OFFICIAL.licence


@dataclass
class LoadedWeights:
    """A state dict with what is known about it."""

    state_dict: dict[str, torch.Tensor]
    path: str
    format: str  # "official", "safetensors", "state_dict" or "noiseprint"
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def provenance(self) -> str:
        return str(self.metadata.get("provenance", "unknown"))

    @property
    def licence(self) -> str:
        return str(self.metadata.get("licence", "unknown"))


def _is_safetensors(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    # 8-byte header length, then the JSON header. An absurd length is still a safetensors file
    # (a damaged or hostile one): the safetensors reader refuses it with the right message.
    return int.from_bytes(head[:8], "little") > 0 and head[8:9] == b"{"


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (torch's can run over many lines), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _torch_load(path: Path) -> Any:
    try:
        with warnings.catch_warnings():
            # Damaged files often claim an odd pickle protocol; torch's warning about it would be a
            # second message beside our one-line error.
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = _unpickler_detail(exc)
        if detail.startswith("Unsupported operand"):  # not a pickle at all: random or damaged bytes
            raise WeightsError(f"{path}: truncated or corrupt weights file (not a torch checkpoint: {detail}); "
                               "download it again") from None
        raise WeightsError(
            f"{path}: refused to load: the file holds Python objects other than tensors, which could run "
            f"code when unpickled ({detail}). "
            "Only use weights from a source you trust; convert them with `trufor convert` where they come from."
        ) from None
    except (EOFError, zipfile.BadZipFile) as exc:
        raise WeightsError(f"{path}: truncated or corrupt weights file ({type(exc).__name__}: {_first_line(exc)}); "
                           "download it again") from None
    except RuntimeError as exc:
        raise WeightsError(f"{path}: truncated or corrupt weights file ({_first_line(exc)}); download it again") from None
    except Exception as exc:  # anything else from the unpickler is a broken file, not our bug
        raise WeightsError(f"{path}: not a readable weights file ({type(exc).__name__}: {_first_line(exc)})") from None


def _unpickler_detail(exc: Exception) -> str:
    """The useful line of torch's weights-only refusal (its preamble suggests weights_only=False,
    which is exactly what must not be done with an untrusted file)."""
    text = str(exc)
    match = re.search(r"WeightsUnpickler error:\s*(\S.*)", text)
    line = match.group(1) if match else (text.strip().splitlines() or [type(exc).__name__])[0]
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    return line.split(". Please use")[0].strip()


def _strip_prefix(sd: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix):]: v for k, v in sd.items()}
    return dict(sd)


def _check_tensors(path: Path, sd: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad or not sd:
        raise WeightsError(f"{path}: not a TruFor checkpoint: expected a dict of tensors"
                           + (f", found {type(sd[bad[0]]).__name__} at key {bad[0]!r}" if bad else ", found an empty dict"))
    return dict(sd)


def read_weights(path: str | os.PathLike) -> LoadedWeights:
    """Read a weights file of any supported format (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"{path}: weights file not found")
    if path.is_dir():
        raise WeightsError(f"{path}: is a folder, expected a weights file (e.g. trufor.pth.tar)")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path}: empty weights file (0 bytes); download it again")
    try:
        is_st = _is_safetensors(path)
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read weights file: {exc.strerror or exc}") from None
    if is_st:
        return _read_safetensors(path)
    obj = _torch_load(path)
    if isinstance(obj, Mapping) and "state_dict" in obj:
        sd, fmt = obj["state_dict"], "official"
    elif isinstance(obj, Mapping) and "network" in obj:
        sd, fmt = obj["network"], "noiseprint"
    elif isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        sd, fmt = obj["model"], "state_dict"
    elif isinstance(obj, Mapping):
        sd, fmt = obj, "state_dict"
    else:
        raise WeightsError(f"{path}: not a TruFor checkpoint: expected a dict with 'state_dict', found {type(obj).__name__}")
    if not isinstance(sd, Mapping):
        raise WeightsError(f"{path}: not a TruFor checkpoint: its state dict is a {type(sd).__name__}")
    sd = _check_tensors(path, _strip_prefix(sd, "module."))
    meta: dict[str, Any] = {}
    if fmt == "official":
        meta = {"provenance": f"{TRUFOR_OFFICIAL.provenance} ({path.name})", "licence": OFFICIAL_LICENCE}
    return LoadedWeights(sd, str(path), fmt, meta)


def _read_safetensors(path: Path) -> LoadedWeights:
    from safetensors.torch import load_file, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            raw_meta = f.metadata() or {}
        sd = load_file(str(path), device="cpu")
        # Tensors stored in half precision (to keep bundled files small) are computed in float32.
        sd = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
    except Exception as exc:  # SafetensorError, OSError, and e.g. NotImplementedError for exotic dtypes
        raise WeightsError(f"{path}: truncated or corrupt safetensors file ({_first_line(exc)}); download or convert it "
                           "again") from None
    meta: dict[str, Any] = dict(raw_meta)
    if "config" in meta:
        try:
            meta["config"] = json.loads(meta["config"])
        except json.JSONDecodeError:
            raise WeightsError(f"{path}: corrupt metadata: 'config' is not JSON") from None
    return LoadedWeights(sd, str(path), "safetensors", meta)


def _count(sd: Mapping[str, torch.Tensor], fmt: str) -> int:
    n = 0
    while fmt.format(n) in sd:
        n += 1
    return n


def infer_config(sd: Mapping[str, torch.Tensor], source: str = "weights") -> TruForConfig:
    """Recover the architecture of a TruFor state dict from its tensor shapes."""
    lite = "backbone.stem.0.weight" in sd  # a dual EfficientNet-Lite encoder, else MiT
    first = "backbone.stem.0.weight" if lite else "backbone.patch_embed1.proj.weight"
    required = (first, "decode_head.linear_fuse.0.weight", "dncnn.0.weight")
    missing = [k for k in required if k not in sd]
    if missing:
        sample = ", ".join(list(sd)[:3])
        raise WeightsError(f"{source}: not a TruFor checkpoint: no key {missing[0]!r} (its keys start: {sample})")
    if lite:
        encoder = _efficientnet_lite_encoder(sd, source)
    else:
        dims = tuple(_rows(sd, f"backbone.patch_embed{i}.proj.weight", source) for i in range(1, 5)
                     if f"backbone.patch_embed{i}.proj.weight" in sd)
        depths = tuple(_count(sd, f"backbone.block{i}.{{}}.norm1.weight") for i in range(1, 5))
        encoder = next((name for name, c in MIT_VARIANTS.items() if c.embed_dims == dims and c.depths == depths),
                       None)
        if encoder is None:
            raise WeightsError(f"{source}: checkpoint of an unknown architecture: encoder widths {dims}, depths "
                               f"{depths} match no MiT variant ({', '.join(MIT_VARIANTS)})")
    np_depth = sum(1 for k, v in sd.items() if k.startswith("dncnn.") and k.endswith(".weight") and v.dim() == 4)
    try:
        config = TruForConfig(
            encoder=encoder,
            decoder_dim=_rows(sd, "decode_head.linear_fuse.0.weight", source),
            noiseprint_features=_rows(sd, "dncnn.0.weight", source),
            noiseprint_depth=np_depth,
            num_classes=(_rows(sd, "decode_head.linear_pred.weight", source)
                         if "decode_head.linear_pred.weight" in sd else 2),
            detection_decoder="decode_head_det.linear_fuse.0.weight" in sd,
            detection_pool=("top_fraction_statistics" if "detection.statistics.0.weight" in sd
                            else "top_fraction" if "detection.out.weight" in sd else "statistics"),
        )
    except ValueError as exc:
        raise WeightsError(f"{source}: not a usable TruFor checkpoint: {exc}") from None
    # Sizes a TruFor network cannot have (the model would not build, or not analyse).
    least = {"decoder_dim": 1, "noiseprint_features": 1, "noiseprint_depth": 2, "num_classes": 2}
    for name, low in least.items():
        if getattr(config, name) < low:
            raise WeightsError(f"{source}: not a usable TruFor checkpoint: its tensors give {name}="
                               f"{getattr(config, name)} (at least {low} expected)")
    return config


def _efficientnet_lite_encoder(sd: Mapping[str, torch.Tensor], source: str) -> str:
    """The registered EfficientNet-Lite encoder whose block count and widths the tensors have."""
    n_blocks = _count(sd, "backbone.blocks.{}.project.0.weight")
    widths = tuple(_rows(sd, f"backbone.blocks.{j}.project.0.weight", source) for j in range(n_blocks))
    stem = _rows(sd, "backbone.stem.0.weight", source)
    for name, c in EFFICIENTNET_LITE_VARIANTS.items():
        expected = tuple(st.out_channels for st in c.stages for _ in range(st.repeats))
        if c.stem_channels == stem and expected == widths:
            return name
    raise WeightsError(f"{source}: checkpoint of an unknown architecture: an EfficientNet-Lite encoder of "
                       f"{n_blocks} blocks (stem {stem}) matching no registered variant "
                       f"({', '.join(EFFICIENTNET_LITE_VARIANTS)})")


def _rows(sd: Mapping[str, torch.Tensor], key: str, source: str) -> int:
    """The first dimension of ``sd[key]`` (an output width), refusing scalar tensors."""
    if sd[key].dim() == 0:
        raise WeightsError(f"{source}: not a TruFor checkpoint: {key} is a scalar, expected a weight matrix")
    return int(sd[key].shape[0])


def config_of(weights: LoadedWeights) -> TruForConfig:
    """The architecture of ``weights``: from our metadata when present, else from tensor shapes.

    A ``config`` recorded in the metadata must agree with the tensor shapes (only the BatchNorm
    eps values and the top-fraction head's fraction and reference cannot be read from shapes): a file cannot make us
    build a model larger than its tensors, or one that is not buildable at all.
    """
    cfg = weights.metadata.get("config")
    if not isinstance(cfg, dict):
        return infer_config(weights.state_dict, weights.path)
    try:
        recorded = TruForConfig.from_dict(cfg)
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{weights.path}: corrupt metadata: {exc}") from None
    eps: dict = {}  # what shapes cannot tell: the BatchNorm eps values, the top-fraction head's fraction and reference
    for name in ("loc_bn_eps", "conf_bn_eps", "detection_top_fraction"):
        value = getattr(recorded, name)
        closed = name == "detection_top_fraction"  # a fraction may be 1 (the mean of the whole map), an eps not
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not (0 < value <= 1 if closed else 0 < value < 1)):
            raise WeightsError(f"{weights.path}: corrupt metadata: config {name}={value!r} is not a number in "
                               f"(0, 1{']' if closed else ')'}")
        eps[name] = float(value)
    # what the map's top is measured from (validated by TruForConfig: one of TOP_REFERENCES)
    eps["detection_top_reference"] = recorded.detection_top_reference
    try:
        inferred = replace(infer_config(weights.state_dict, weights.path), **eps)
    except ValueError as exc:  # e.g. a reference recorded for a head whose tensors do not read the map's top
        raise WeightsError(f"{weights.path}: corrupt metadata: its config disagrees with its tensors ({exc})") from None
    if inferred != recorded:
        diffs = [f"{k}={getattr(recorded, k)!r} but the tensors say {getattr(inferred, k)!r}"
                 for k in TruForConfig.__dataclass_fields__ if getattr(recorded, k) != getattr(inferred, k)]
        raise WeightsError(f"{weights.path}: corrupt metadata: its config disagrees with its tensors "
                           f"({'; '.join(diffs[:3])})")
    return inferred


_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _compatible_dtype(found: torch.dtype, wanted: torch.dtype) -> bool:
    if wanted.is_floating_point:
        return found.is_floating_point
    return found in _INTEGER_DTYPES if wanted in _INTEGER_DTYPES else found == wanted


def load_into(model: torch.nn.Module, sd: Mapping[str, torch.Tensor], source: str = "weights") -> None:
    """Load ``sd`` into ``model`` strictly; on mismatch, name the first offending keys and shapes."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k}: file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    # Values must be real numbers of the right kind: torch would cast complex, bool or unsigned
    # 16-64-bit tensors silently (complex losing its imaginary part); such a file is corrupt.
    dtypes = [f"{k}: file {sd[k].dtype} vs model {own[k].dtype}" for k in own
              if k in sd and isinstance(sd[k], torch.Tensor) and not _compatible_dtype(sd[k].dtype, own[k].dtype)]
    if missing or unexpected or shapes or dtypes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (first: {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first: {', '.join(unexpected[:3])})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (first: {'; '.join(shapes[:3])})")
        if dtypes:
            parts.append(f"{len(dtypes)} tensors of an unusable type (first: {'; '.join(dtypes[:3])})")
        what = "corrupt checkpoint" if dtypes and not (missing or unexpected or shapes) else "checkpoint of another architecture"
        raise WeightsError(f"{source}: {what}: " + "; ".join(parts))
    model.load_state_dict(sd, strict=True)


def save_safetensors(
    state_dict: Mapping[str, torch.Tensor],
    path: str | os.PathLike,
    config: TruForConfig,
    *,
    provenance: str,
    licence: str,
    half: bool = False,
    extra: Mapping[str, str] | None = None,
) -> Path:
    """Write weights in our format, atomically (a temporary file renamed into place).

    ``half`` stores floating tensors as float16 (they are computed in float32 when loaded).
    """
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {}
    for k, v in state_dict.items():
        v = v.detach().cpu().contiguous()
        if half and v.is_floating_point():
            v = v.half()
        tensors[k] = v
    meta = {
        "format": SAFETENSORS_FORMAT,
        "format_version": SAFETENSORS_FORMAT_VERSION,
        "config": json.dumps(config.to_dict(), sort_keys=True),
        "variant": variant_name(config) or "custom",
        "provenance": provenance,
        "licence": licence,
    }
    meta.update(extra or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def convert_official(src: str | os.PathLike, dst: str | os.PathLike, *, half: bool = False) -> Path:
    """Convert the authors' ``trufor.pth.tar`` (or any readable TruFor weights) to our safetensors."""
    from .loader import load_network

    network = load_network(src)  # building and loading the network validates the file before writing
    loaded, config = network.weights, network.config
    provenance = loaded.metadata.get("provenance") or f"converted from {Path(src).name}"
    licence = loaded.metadata.get("licence") or "unknown"
    return save_safetensors(loaded.state_dict, dst, config, provenance=str(provenance), licence=str(licence), half=half)
