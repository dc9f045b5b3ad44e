"""trufor: an independent implementation of TruFor (Guillaro et al., CVPR 2023).

Image forgery detection (a global integrity score) and localization (an anomaly map with a
confidence map), built on the Noiseprint++ camera/processing fingerprint.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
