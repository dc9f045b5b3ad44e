"""Reading images into the pixel grid the model analyses.

The model sees the image exactly as the official tool does: ``PIL.Image.open(path).convert("RGB")``
as uint8, without EXIF rotation (forensics analyses the stored pixel grid).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .errors import ImageReadError


@dataclass
class LoadedImage:
    """An RGB uint8 image (H, W, 3) with where it came from and any warnings met while reading."""

    pixels: np.ndarray
    path: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])


def read_image(path: str | os.PathLike) -> LoadedImage:
    """Read ``path`` as RGB uint8; raise :class:`ImageReadError` naming the file on failure."""
    path = os.fspath(path)
    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except Exception as exc:  # PIL raises many types; the message is what matters here
        raise ImageReadError(path, f"cannot decode image: {exc}") from exc
    return LoadedImage(pixels=np.ascontiguousarray(rgb), path=path)
