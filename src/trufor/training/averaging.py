"""Weight averaging ("model soup", Wortsman et al., ICML 2022) of fine-tuned models of one architecture.

Models fine-tuned from one starting point often lie in one basin of the loss, where the average of
their weights is a model as good as each, or better on data unlike the training set. This module
writes that average as one of our ``.safetensors`` files:

* every input is one of our files, of one architecture, with the same tensor names and shapes;
* floating tensors (weights, biases, BatchNorm running statistics) are averaged in float32 with the
  given coefficients (uniform by default, normalised to sum 1); integer tensors (BatchNorm's
  ``num_batches_tracked``) are taken from the first file;
* files with a calibration folded into their detection head are refused: average the uncalibrated
  exports, then run ``trufor train calibrate`` on the average (the average of two Platt scalings of
  two different heads is not a calibration of anything). One case is let through: when the detection
  head is identical, tensor for tensor, in every input (phase-2 networks exported with the heads of
  the calibrated file they started from, averaged with that file: WiSE-FT, Wortsman et al., CVPR 2022),
  the average keeps that head and its calibration record, and the provenance says that the
  calibration was fitted for another network (recalibrate before trusting the score at 0.5);
* the provenance of the result opens with the inputs' common first line (what they started from, when they share
  it), then lists the coefficients and every input's own provenance; the licence
  is kept when all inputs share it, else every input's licence is named.

``parts`` averages only some parts of the network (first name components, e.g. ``backbone`` and
``decode_head``) and takes every other tensor, the configuration and a calibration record from the first file: a
phase-2 network trained from an earlier point than the first file (another variant of detection head, say) can then
be averaged into its encoder and localization decoder while its Noiseprint++, confidence decoder and head stay as
they are. The averaged tensors must have the same names and shapes in every input; the provenance names the parts
kept from the first file and those of them that differ in another input.

Averaging only helps models that share their starting point (e.g. two runs continued from the
bundled model); averaging unrelated networks, or two different Noiseprint++ extractors, gives
nonsense. :func:`parameter_distance` reports, per part, how far the inputs are from their average.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from ..errors import TrainingError

#: Top-level parts of the network, for :func:`parameter_distance` (first name component -> part).
PART_NAMES = {"dncnn": "Noiseprint++", "backbone": "encoder", "decode_head": "localization decoder",
              "decode_head_conf": "confidence decoder", "decode_head_det": "detection decoder",
              "detection": "detection head"}


@dataclass(frozen=True)
class AveragedWeights:
    """What :func:`average_weights` wrote."""

    path: Path
    coefficients: tuple[float, ...]
    relative_distance: dict[str, float]  # part -> mean over inputs of ||w_i - avg|| / ||avg|| (learned tensors)
    kept: tuple[str, ...] = ()  # with ``parts``: the first file's parts taken as they are
    kept_differing: tuple[str, ...] = ()  # of those, the parts another input holds with other values


def normalised_coefficients(n: int, coefficients: Sequence[float] | None) -> tuple[float, ...]:
    """Coefficients for ``n`` inputs: uniform when None, else the given ones scaled to sum 1."""
    if n < 2:
        raise TrainingError(f"averaging needs at least two weights files, got {n}")
    if coefficients is None:
        return tuple(1.0 / n for _ in range(n))
    if len(coefficients) != n:
        raise TrainingError(f"{len(coefficients)} coefficients for {n} weights files")
    values = [float(c) for c in coefficients]
    if any(not (c >= 0.0) or c == float("inf") for c in values) or sum(values) <= 0:
        raise TrainingError(f"coefficients must be finite, >= 0 and not all 0, got {values}")
    total = sum(values)
    return tuple(c / total for c in values)


def _part(name: str) -> str:
    head = name.split(".", 1)[0]
    return PART_NAMES.get(head, head)


def parameter_distance(state_dicts: Sequence[dict[str, torch.Tensor]],
                       average: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per part of the network: mean over inputs of ``||w_i - avg|| / ||avg||`` over its learned tensors
    (BatchNorm's running statistics, whose variances would dominate the norms, and integer tensors left out)."""
    diff: dict[str, list[float]] = {}
    norm: dict[str, float] = {}
    for name, avg in average.items():
        if not avg.is_floating_point() or name.endswith(("running_mean", "running_var")):
            continue
        part = _part(name)
        norm[part] = norm.get(part, 0.0) + float(avg.double().pow(2).sum())
        sums = diff.setdefault(part, [0.0] * len(state_dicts))
        for i, sd in enumerate(state_dicts):
            sums[i] += float((sd[name].double() - avg.double()).pow(2).sum())
    return {part: (sum(v ** 0.5 for v in sums) / len(sums)) / max(norm[part] ** 0.5, 1e-30)
            for part, sums in diff.items()}


def _check_shared_head(loaded: list, calibrated: list) -> None:
    """Calibrated inputs are averaged only when nothing of the detection head would be averaged."""
    first = loaded[0]
    head = sorted(name for name in first.state_dict if name.split(".")[0] == "detection")
    values = {str(w.metadata["calibration"]) for w in calibrated}
    for w in loaded:
        same = bool(head) and all(name in w.state_dict and torch.equal(w.state_dict[name].float(),
                                                                     first.state_dict[name].float()) for name in head)
        if not same or len(values) > 1:
            raise TrainingError(f"{calibrated[0].path}: a calibrated file (its detection head holds a Platt scaling) "
                                "and the inputs' detection heads differ; average the uncalibrated exports, then "
                                "calibrate the average with trufor train calibrate")


def _check_parts(loaded: list, parts: Sequence[str]) -> tuple[set[str], tuple[str, ...], tuple[str, ...]]:
    """``parts`` of :func:`average_weights`: the names of the tensors to average (the same names and shapes in every
    input), the first file's other parts, and those of them that another input holds with other values."""
    first = loaded[0]
    present = sorted({name.split(".", 1)[0] for name in first.state_dict})
    unknown = sorted(set(parts) - set(present))
    if unknown or not parts:
        raise TrainingError(f"parts {unknown or list(parts)}: not in {first.path} (its parts: {', '.join(present)})")
    names = {name for name in first.state_dict if name.split(".", 1)[0] in parts}
    for w in loaded[1:]:
        theirs = {name for name in w.state_dict if name.split(".", 1)[0] in parts}
        if theirs != names:
            odd = sorted(theirs ^ names)
            raise TrainingError(f"{w.path}: its tensors of parts {', '.join(parts)} differ from {first.path}'s "
                                f"(first: {odd[:3]})")
    kept = tuple(part for part in present if part not in parts)
    differing = []
    for part in kept:
        mine = {n: t for n, t in first.state_dict.items() if n.split(".", 1)[0] == part}
        for w in loaded[1:]:
            if any(n not in w.state_dict or w.state_dict[n].shape != t.shape
                   or not torch.equal(w.state_dict[n].float(), t.float()) for n, t in mine.items()):
                differing.append(part)
                break
    return names, kept, tuple(differing)


def average_weights(paths: Sequence[str | os.PathLike], out: str | os.PathLike, *,
                    coefficients: Sequence[float] | None = None, half: bool = True,
                    parts: Sequence[str] | None = None) -> AveragedWeights:
    """Write the weighted average of our ``.safetensors`` files ``paths`` to ``out`` (see the module doc); with
    ``parts``, only those parts of the network are averaged and the rest is the first file's."""
    from ..weights import config_of, read_weights, save_safetensors

    coeffs = normalised_coefficients(len(paths), coefficients)
    loaded = []
    for p in paths:
        w = read_weights(p)
        if w.format != "safetensors":
            raise TrainingError(f"{p}: averaging reads our .safetensors files; convert the file first "
                                "(trufor convert)")
        loaded.append(w)
    first = loaded[0]
    calibrated = [w for w in loaded if "calibration" in w.metadata]
    kept_parts: tuple[str, ...] = ()
    differing: tuple[str, ...] = ()
    if parts is not None:
        averaged, kept_parts, differing = _check_parts(loaded, list(dict.fromkeys(parts)))
        if "detection" in kept_parts:  # a calibration record travels with its head: the first file's, taken as it is
            calibrated = [first] if "calibration" in first.metadata else []
        elif calibrated:
            _check_shared_head(loaded, calibrated)
    else:
        averaged = set(first.state_dict)
        if calibrated:
            _check_shared_head(loaded, calibrated)
    config = config_of(first)
    for w in loaded[1:]:
        if parts is None:
            if config_of(w) != config:
                raise TrainingError(f"{w.path}: another architecture than {first.path}; only models of one "
                                    "architecture can be averaged")
            if set(w.state_dict) != set(first.state_dict):
                missing = sorted(set(first.state_dict) ^ set(w.state_dict))
                raise TrainingError(f"{w.path}: its tensors differ from {first.path}'s (first: {missing[:3]})")
        for name in averaged:
            t = w.state_dict[name]
            if t.shape != first.state_dict[name].shape:
                raise TrainingError(f"{w.path}: tensor {name} has shape {tuple(t.shape)}, "
                                    f"{tuple(first.state_dict[name].shape)} in {first.path}")
    average: dict[str, torch.Tensor] = {}
    for name, t in first.state_dict.items():
        if t.is_floating_point() and name in averaged:
            acc = torch.zeros(t.shape, dtype=torch.float64)
            for c, w in zip(coeffs, loaded):
                acc += c * w.state_dict[name].double()
            average[name] = acc.float()
        else:
            average[name] = t.clone()
    distance = parameter_distance([{k: v.float() for k, v in w.state_dict.items() if k in averaged} for w in loaded],
                                  {k: v for k, v in average.items() if k in averaged})
    licences = [w.licence for w in loaded]
    licence = licences[0] if len(set(licences)) == 1 else \
        "weights averaged from files under these licences: " + " | ".join(
            f"{Path(w.path).name}: {lic}" for w, lic in zip(loaded, licences))
    # like every export, the provenance opens with what the model started from (export.summary_line): the inputs'
    # common first line when they share one (draws of one chain), then the average and each input's own record
    firsts = {w.provenance.split("\n")[0] for w in loaded}
    lines = [firsts.pop()] if len(firsts) == 1 and "" not in firsts else []
    lines += [f"weight average (model soup) written by `trufor train average` of {len(loaded)} files, "
             "coefficients " + ", ".join(f"{c:.4g} x {Path(w.path).name}" for c, w in zip(coeffs, loaded)) + ":"]
    averaged_parts = [part for part in _parts_of(first) if part not in kept_parts]
    if parts is not None:
        lines.append(f"only these parts were averaged: {', '.join(averaged_parts)}; kept as they are from "
                     f"{Path(first.path).name}: {', '.join(kept_parts) or 'nothing'}"
                     + (f" (another input holds other values of {', '.join(differing)})" if differing else ""))
    for c, w in zip(coeffs, loaded):
        lines.append(f"--- {Path(w.path).name} (coefficient {c:.4g}):")
        lines += ["  " + line for line in w.provenance.splitlines()]
    extra = {"averaged_from": ", ".join(Path(w.path).name for w in loaded),
             "average_coefficients": " ".join(f"{c:.6g}" for c in coeffs)}
    if parts is not None:
        extra["averaged_parts"] = " ".join(averaged_parts)
    if calibrated:
        kept = calibrated[0]
        extra["calibration"] = str(kept.metadata["calibration"])
        how = f"taken from {Path(kept.path).name}" if "detection" in kept_parts else "the same in every input"
        lines.append(f"the detection head is {how} and kept as is, with the calibration of "
                     f"{Path(kept.path).name} ({kept.metadata['calibration']}), fitted for that file's network, "
                     "not for this average: recalibrate (trufor train calibrate) before trusting the score at 0.5")
    phases = {w.metadata.get("training_phase") for w in loaded}
    if len(phases) == 1 and None not in phases:
        extra["training_phase"] = str(phases.pop())
    from .export import relative_paths

    path = save_safetensors(average, out, config, provenance=relative_paths("\n".join(lines)), licence=licence,
                            half=half,
                            extra=extra)
    return AveragedWeights(path=path, coefficients=coeffs, relative_distance=distance, kept=kept_parts,
                           kept_differing=differing)


def _parts_of(weights) -> list[str]:
    """The parts (first name components) of a loaded file, in the order of its tensors."""
    return list(dict.fromkeys(name.split(".", 1)[0] for name in weights.state_dict))
