"""``train.freeze``: parts of the network kept as they are, on top of what the phase freezes; ``train.batchnorm``.

A part is named by a parameter-name prefix that ends at a dot (``backbone`` holds ``backbone.blocks.0.weight``,
``backbone.blocks`` does not hold ``backbone.blocks_extra.weight``). Its parameters leave the optimiser, and its
modules are put in eval mode before every step, so that BatchNorm running statistics and dropout stay as loaded:
frozen means the exported weights of that part are bit for bit the ones the run started from.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..errors import TrainingError


def _under(name: str, part: str) -> bool:
    return name == part or name.startswith(part + ".")


def freeze_parts(net: nn.Module, params: Sequence[nn.Parameter], parts: Sequence[str]) -> list[nn.Parameter]:
    """``params`` (what the phase trains) less those under ``parts``, which stop requiring gradients.

    A part that holds none of ``params`` is an error naming the parts the phase does train, so that a typo, or a part
    the phase freezes anyway, is not silently a no-op.
    """
    if not parts:
        return list(params)
    trained = {id(p) for p in params}
    names = [(name, p) for name, p in net.named_parameters() if id(p) in trained]
    for part in parts:
        if not any(_under(name, part) for name, _ in names):
            tops = sorted({".".join(name.split(".")[:2]) for name, _ in names})
            raise TrainingError(f"train.freeze: {part!r} holds none of the parameters this phase trains "
                                f"(they lie under: {', '.join(tops)})")
    kept = []
    for name, p in names:
        if any(_under(name, part) for part in parts):
            p.requires_grad_(False)
        else:
            kept.append(p)
    return kept


def frozen_to_eval(net: nn.Module, parts: Sequence[str]) -> None:
    """Eval mode for every module under ``parts`` (call after the phase has set its train/eval modes)."""
    if not parts:
        return
    for name, module in net.named_modules():
        if name and any(_under(name, part) for part in parts):
            module.eval()


def batchnorm_to_eval(net: nn.Module) -> int:
    """Eval mode for every BatchNorm layer of ``net`` (``train.batchnorm: frozen``): a step then normalises with the
    running statistics, as inference does, and leaves them as they are; the layers' scale and shift still train.
    Returns how many layers were set."""
    n = 0
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
            n += 1
    return n
