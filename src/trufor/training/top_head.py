"""A detector that reads the map's top (``trufor train top-head``).

Phase 2's image-level loss (:func:`trufor.training.losses.image_level_loss`) fits one number per whole image to its
label: the mean forged-minus-pristine localization logit over the image's top fraction of pixels. A phase-3 head
trained on 256-px crops of synthetic edits pools other statistics and need not carry what that loss taught the
maps (model card, run 20). Here the detection head of a trained network is replaced by
:class:`trufor.modeling.detection.TopFractionHead` (``TruForConfig.detection_pool = "top_fraction"``): the score is
``sigmoid(a * t + b)`` with ``t`` that very statistic, ``a = 1, b = 0`` until ``trufor train calibrate`` fits them
on a calibration part. Any detection decoder and the old head are dropped; Noiseprint++, the encoder, the
localization decoder and the confidence decoder (the confidence map) are kept as they are.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ..errors import TrainingError

#: The state-dict prefixes of what the top-fraction detector replaces.
REPLACED_PREFIXES = ("detection.", "decode_head_det.")


def top_fraction_detector(weights: str | os.PathLike, out: str | os.PathLike, *, fraction: float = 0.005,
                          half: bool = True) -> Path:
    """Write ``out``: ``weights`` with the top-fraction detection head (uncalibrated: ``a = 1, b = 0``).

    Raises:
        TrainingError: ``weights`` is not our .safetensors format, or ``fraction`` is not in (0, 1].
    """
    import torch

    from ..weights import config_of, read_weights
    from .calibration import rewrite_weights

    if not 0.0 < fraction <= 1.0:
        raise TrainingError(f"--fraction must be in (0, 1], got {fraction}")
    loaded = read_weights(weights)
    config = replace(config_of(loaded), detection_pool="top_fraction", detection_top_fraction=float(fraction),
                     detection_decoder=False)

    def update(sd: dict) -> None:
        for key in [k for k in sd if k.startswith(REPLACED_PREFIXES)]:
            del sd[key]
        sd["detection.out.weight"] = torch.ones(1, 1)
        sd["detection.out.bias"] = torch.zeros(1)

    return rewrite_weights(weights, out, update, action="top-head", half=half, config=config,
                           provenance_line=f"`trufor train top-head`: the integrity score reads the mean "
                                           f"forged-minus-pristine localization logit over the map's top "
                                           f"{fraction:g} of pixels (uncalibrated: a = 1, b = 0)")
