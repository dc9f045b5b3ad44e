"""A detection decoder of its own for a trained model (``trufor train graft-confidence``).

In TruFor the detection head pools the confidence decoder's logits, and phase 3 trains both together: the
detection loss then shapes the confidence map as much as the confidence target does, and the map no longer says
where the localization is wrong (model card, runs 14 and 16). Stopping that gradient (``loss.det_detach_conf``)
frees the confidence map but costs the detector (run 16). The graft keeps both: the result is the base model with
a detection decoder (``TruForConfig.detection_decoder``) that *is* the base's confidence decoder, the one its
detection head was trained to pool, so its integrity scores do not change, and a confidence decoder taken from
another phase-3 model of the same network, one whose confidence learned its own target.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ..errors import TrainingError
from .head_refit import same_trunk

CONF_PREFIX, DET_DECODER_PREFIX = "decode_head_conf.", "decode_head_det."


def graft_confidence(base: str | os.PathLike, confidence_from: str | os.PathLike, out: str | os.PathLike, *,
                     half: bool = True) -> Path:
    """Write ``out``: ``base`` with ``confidence_from``'s confidence decoder, detection unchanged.

    The detection decoder of the result is ``base``'s own detection decoder where it has one, else ``base``'s
    confidence decoder; the detection head, its calibration and every other part are ``base``'s. A ``base`` whose
    head reads the map's top (``detection_pool = "top_fraction"``) pools no decoder: only its confidence decoder
    is replaced.

    Raises:
        TrainingError: a file is not our .safetensors format, or the two are not one network apart from what
            phase 3 trains (Noiseprint++, encoder or localization decoder differ).
    """
    from ..weights import config_of, read_weights
    from .calibration import rewrite_weights

    donor = read_weights(confidence_from)
    if donor.format != "safetensors":
        raise TrainingError(f"{confidence_from}: graft-confidence reads our .safetensors format; convert the file first")
    base_loaded = read_weights(base)
    if not same_trunk(base_loaded.state_dict, donor.state_dict):
        raise TrainingError(f"{confidence_from}: not the network of {base} (their Noiseprint++, encoder or "
                            "localization decoder differ): a confidence decoder reads the features it was trained on")
    donor_conf = {k: v.float() if v.is_floating_point() else v for k, v in donor.state_dict.items()
                  if k.startswith(CONF_PREFIX)}
    config = config_of(base_loaded)

    top = config.detection_pool == "top_fraction"  # its detector reads the localization only: nothing to move

    def update(sd: dict) -> None:
        if not config.detection_decoder and not top:  # the decoder the detection head was trained to pool moves over
            for key in [k for k in sd if k.startswith(CONF_PREFIX)]:
                sd[DET_DECODER_PREFIX + key[len(CONF_PREFIX):]] = sd[key]
        for key, value in donor_conf.items():
            if key not in sd or tuple(sd[key].shape) != tuple(value.shape):
                raise TrainingError(f"{confidence_from}: its confidence decoder does not fit {base} ({key})")
            sd[key] = value

    extra = {k: str(v) for k, v in base_loaded.metadata.items() if k == "calibration"}
    summary = str(donor.metadata.get("provenance", "")).split("\n")[0]
    return rewrite_weights(base, out, update, action="graft-confidence", half=half, extra=extra,
                           config=config if top else replace(config, detection_decoder=True),
                           provenance_line=f"`trufor train graft-confidence`: confidence decoder from "
                                           f"{Path(confidence_from).name} ({summary}); "
                                           + ("the detection head reads the map's top, its scores unchanged" if top
                                              else "the detection head pools its own decoder (the confidence "
                                                   "decoder it was trained with), its scores unchanged"))
