"""The table of training phases: config ``phase:`` name -> phase class (see :mod:`.phase_api`).

1. ``noiseprint``: Noiseprint++ self-supervised on pristine photos (:mod:`.noiseprint_phase`);
2. ``localization``: encoder + localization decoder, Noiseprint++ frozen (:mod:`.localization_phase`);
3. ``confidence``: confidence decoder + detection head, all else frozen (:mod:`.confidence_phase`).
"""

from __future__ import annotations

from ..errors import ConfigError
from .config import TrainingConfig
from .confidence_phase import ConfidencePhase
from .localization_phase import LocalizationPhase
from .noiseprint_phase import NoiseprintPhase
from .phase_api import Phase, PhaseBase

#: Every phase, in training order (the names of :data:`trufor.training.config.PHASES`, checked by the tests).
PHASES: dict[str, type[PhaseBase]] = {
    "noiseprint": NoiseprintPhase,
    "localization": LocalizationPhase,
    "confidence": ConfidencePhase,
}


def make_phase(cfg: TrainingConfig) -> Phase:
    """The phase object of ``cfg.phase``."""
    try:
        cls = PHASES[cfg.phase]
    except KeyError:
        raise ConfigError(f"phase: unknown phase {cfg.phase!r}; choose {', '.join(PHASES)} (or 1, 2, 3)") from None
    return cls(cfg)


__all__ = ["PHASES", "Phase", "PhaseBase", "make_phase"]
