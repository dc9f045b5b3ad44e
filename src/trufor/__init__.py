"""trufor: an independent implementation of TruFor (Guillaro et al., CVPR 2023).

Image forgery detection (a global integrity score) and localization (an anomaly map with a
confidence map), built on the Noiseprint++ camera/processing fingerprint.

    >>> from trufor import load_model
    >>> model = load_model()            # or load_model("trufor.pth.tar", device="cuda")
    >>> result = model.analyze("photo.jpg")
    >>> result.score, result.map, result.conf
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import ImageReadError, TruForError, WeightsError
from .inference import TruFor, analyze, load_model
from .results import AnalysisResult

__all__ = [
    "AnalysisResult",
    "ImageReadError",
    "TruFor",
    "TruForError",
    "WeightsError",
    "__version__",
    "analyze",
    "load_model",
]
