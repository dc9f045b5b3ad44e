"""Export a trained model: a phase-3 training checkpoint -> our ``.safetensors`` weights file.

The file is written with :func:`trufor.weights.save_safetensors`, so ``trufor detect --weights
FILE`` and :func:`trufor.load_model` read it like any of our weights. Its ``provenance`` metadata
tells how it was made: for each phase (following the checkpoints' ``init`` chain) the data
sources, number of steps, config description, git commit and command line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import TrainingError
from ..modeling import build_model
from ..modeling.variants import get_config
from ..weights import load_into, save_safetensors
from ..weights.registry import OWN_LICENCE, OWN_WEIGHTS_LICENCE_PREFIX
from .checkpoint import load_training_checkpoint


def own_licence(pretrained: list[dict[str, Any]]) -> str:
    """The licence string of an export: ours, naming any openly licensed pretrained weights it started from."""
    if not pretrained:
        return OWN_LICENCE
    names = "; ".join(f"{p.get('encoder')} ImageNet weights, {p.get('licence')}" for p in pretrained)
    return (f"{OWN_WEIGHTS_LICENCE_PREFIX}, encoder initialised from openly licensed weights ({names}); "
            "see the provenance for the training data and their own terms")


def credits_pretrained(licence: str) -> bool:
    """Whether a licence of ours names third-party (openly licensed) weights the model started from."""
    return licence.startswith(OWN_WEIGHTS_LICENCE_PREFIX) and licence != OWN_LICENCE


def inherited_licence(prov: Any) -> str | None:
    """The licence of an exported model this training chain was fine-tuned from, when that licence names
    third-party (openly licensed) weights: a fine-tuned model keeps that credit."""
    if isinstance(prov, dict):
        text = prov.get("exported_licence")
        if isinstance(text, str) and credits_pretrained(text):
            return text
        init = prov.get("init_info", {})
        if isinstance(init, dict):
            for key in ("noiseprint_init", "init"):
                found = inherited_licence(init.get(key))
                if found:
                    return found
    return None


def pretrained_used(prov: Any) -> list[dict[str, Any]]:
    """The pretrained-weights records of a provenance chain (``init_info.pretrained`` of any phase)."""
    found: list[dict[str, Any]] = []
    if isinstance(prov, dict):
        init = prov.get("init_info", {})
        if isinstance(init, dict):
            if isinstance(init.get("pretrained"), dict):
                found.append(init["pretrained"])
            for key in ("noiseprint_init", "init"):
                found += pretrained_used(init.get(key))
    return found


def relative_paths(text: str) -> str:
    """``text`` with the data root and the repository written as ``${shared}`` and ``${repo}``.

    Provenance then names data folders as the configs do, not as the training machine's absolute paths.
    """
    from .config import find_repo_root, shared_root

    repo = find_repo_root()
    for root, name in ((shared_root(repo), "${shared}"), (repo, "${repo}")):
        for spelling in {str(root), str(Path(root).resolve())}:
            if len(spelling) > 1:
                text = text.replace(spelling.rstrip("/"), name)
    return text


def _phase_lines(prov: Any, depth: int = 0) -> list[str]:
    """Flatten a nested provenance record (the init chain) into readable lines, earliest phase first."""
    if not isinstance(prov, dict):
        return [f"initialisation: {prov}"] if prov else []
    lines: list[str] = []
    exported = prov.get("exported_provenance")
    if isinstance(exported, str):  # an exported weights file (fine-tuning): its own history, then the file
        lines += [line for line in exported.splitlines() if not line.startswith("trained by the trufor project")]
        return lines + [f"next phase starts from {prov.get('description', 'an exported weights file')}"]
    init = prov.get("init_info", {})
    if isinstance(init, dict):
        for key in ("noiseprint_init", "init"):
            if key in init:
                lines += _phase_lines(init[key], depth + 1)
    sources = prov.get("data_sources", {})
    train_src = json.dumps(sources.get("train", []), sort_keys=True) if sources else "?"
    lines.append(
        f"phase {prov.get('phase', '?')} ({prov.get('variant', '?')}): {prov.get('steps', '?')} steps; "
        f"data: {prov.get('data', '?')}; train sources: {train_src}; "
        f"description: {prov.get('description') or '-'}; command: {prov.get('command', '?')}; "
        f"git {prov.get('git_commit', '?')}; saved {prov.get('saved', '?')}"
    )
    if isinstance(init, dict) and isinstance(init.get("init"), str):
        lines.append(f"  ({prov.get('phase')}: {init['init']})")
    return lines


#: The first provenance line of an export that used no third-party weights at all (the first generation).
FROM_SCRATCH_SUMMARY = ("trained by the trufor project with `trufor train` (independent TruFor implementation), from "
                        "scratch: no ImageNet-pretrained encoder and no official Noiseprint++/TruFor weights were used.")


def summary_line(pretrained: list[dict[str, Any]], inherited: str | None = None) -> str:
    """The first line of an export's provenance: what it started from, in one sentence.

    ``pretrained``: the pretrained-weights records of its own chain (:func:`pretrained_used`); ``inherited``: the
    licence of an earlier export it was fine-tuned from, when that licence credits third-party weights
    (:func:`inherited_licence`): the chain then passed through a weights file, which keeps the credit in its
    licence, not the record.
    """
    if pretrained:
        used = "; ".join(f"{p.get('encoder')} ({p.get('data')}; {p.get('weights')}, sha256 {p.get('sha256')}; "
                         f"{p.get('licence')})" for p in pretrained)
        return ("trained by the trufor project with `trufor train` (independent TruFor implementation); "
                f"encoder branches initialised from openly licensed ImageNet weights: {used}; "
                "no official Noiseprint++/TruFor weights were used.")
    if inherited:
        return ("trained by the trufor project with `trufor train` (independent TruFor implementation); fine-tuned "
                "from an earlier export of ours whose encoder branches were initialised from openly licensed "
                f"pretrained weights (its licence: {inherited}); no official Noiseprint++/TruFor weights were used.")
    return FROM_SCRATCH_SUMMARY


def provenance_text(ckpt: dict[str, Any], note: str | None = None) -> str:
    """The provenance string of an exported model."""
    prov = ckpt.get("provenance", {})
    lines = [summary_line(pretrained_used(prov), inherited_licence(prov))]
    lines += _phase_lines(prov)
    if note:
        lines.append(note)
    return relative_paths("\n".join(lines))


def export_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike, *, half: bool = False,
                      licence: str | None = None, note: str | None = None, allow_phase2: bool = False) -> Path:
    """Write the model of a phase-3 checkpoint (``best.pt``/``last.pt``) as our ``.safetensors``.

    A phase-2 checkpoint (untrained confidence and detection heads) is refused unless
    ``allow_phase2``; a phase-1 checkpoint is not a whole model.
    """
    ckpt = load_training_checkpoint(checkpoint)
    phase = ckpt.get("phase")
    if phase == "noiseprint":
        raise TrainingError(f"{checkpoint}: a phase-1 checkpoint holds only Noiseprint++, not a whole model; "
                            "export the phase-3 checkpoint")
    if phase == "localization" and not allow_phase2:
        raise TrainingError(f"{checkpoint}: a phase-2 checkpoint: its confidence and detection heads are untrained; "
                            "export phase 3's checkpoint (or pass --allow-phase2)")
    config = get_config(ckpt["config"]["model"]["variant"])
    sd = ckpt["model"]
    load_into(build_model(config), sd, str(checkpoint))  # validates the state dict before writing
    extra = {"training_phase": str(phase), "training_steps": str(ckpt.get("step", "?"))}
    if licence is None:
        prov = ckpt.get("provenance", {})
        used = pretrained_used(prov)
        licence = own_licence(used) if used else (inherited_licence(prov) or own_licence(used))
    return save_safetensors(sd, out, config, provenance=provenance_text(ckpt, note), licence=licence, half=half,
                            extra=extra)
