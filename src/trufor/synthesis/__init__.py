"""Training data: synthetic forgeries with exact masks from folders of pristine photos.

* :mod:`.regions`: region shapes (polygons, blobs, object-like segments);
* :mod:`.forgeries`: local manipulations (splice, copy-move, inpaint, retouch) and the mask rule;
* :mod:`.processing`: the whole-image chain (resize, crop, JPEG);
* :mod:`.synthetic`: the seeded generator, the torch Dataset and the list-file writer.

See docs/SYNTHESIS.md.
"""

from __future__ import annotations

from .forgeries import KINDS, Forgery, ManipulationFailed, make_forgery
from .processing import ChainConfig, apply_chain
from .regions import SHAPES, random_region
from .synthetic import (
    Sample,
    SourceImage,
    SynthConfig,
    SyntheticForgeries,
    SyntheticForgeryDataset,
    camera_model,
    read_list,
    sample_rng,
    scan_sources,
    write_dataset,
)

__all__ = [
    "KINDS",
    "SHAPES",
    "ChainConfig",
    "Forgery",
    "ManipulationFailed",
    "Sample",
    "SourceImage",
    "SynthConfig",
    "SyntheticForgeries",
    "SyntheticForgeryDataset",
    "apply_chain",
    "camera_model",
    "make_forgery",
    "random_region",
    "read_list",
    "sample_rng",
    "scan_sources",
    "write_dataset",
]
