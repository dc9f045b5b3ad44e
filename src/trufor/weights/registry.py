"""The known sets of TruFor weights: where each comes from, under which licence, how it is named.

One :class:`PretrainedWeights` entry per set of weights this package knows about (in the spirit of
timm's pretrained configs). Entry names are distinct from the architecture keys of
:mod:`trufor.modeling.variants`: an entry *is* weights, its ``variant`` says which architecture
they fit (``trufor_official`` holds weights of the ``trufor_b2`` architecture).

Every other module takes these facts from here: the download (URL, archive MD5, checkpoint name),
discovery (cache file names, the bundled file), the reader of official checkpoints (their licence),
training export (the licence of the weights this project trains) and the display names shown in
every output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import WeightsError

#: Folder of the model shipped inside the package.
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "bundled"

#: Where an entry's file lives: the per-user cache (downloaded) or the package itself (bundled).
LOCATIONS = ("cache", "bundled")

_TRUFOR_CITATION = """\
@InProceedings{Guillaro_2023_CVPR,
  author    = {Guillaro, Fabrizio and Cozzolino, Davide and Sud, Avneesh and Dufour, Nicholas and Verdoliva, Luisa},
  title     = {TruFor: Leveraging All-Round Clues for Trustworthy Image Forgery Detection and Localization},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2023},
  pages     = {20606-20615}
}"""

#: Start of the licence string of every weights file this project trains (``trufor train export``).
OWN_WEIGHTS_LICENCE_PREFIX = "Apache-2.0: weights trained by the trufor project"
#: Every licence prefix our exports have carried (the first generation said "from scratch").
OWN_WEIGHTS_LICENCE_PREFIXES = (OWN_WEIGHTS_LICENCE_PREFIX,
                                "Apache-2.0: weights trained from scratch by the trufor project")
#: Licence of an export trained without any third-party weights.
OWN_LICENCE = (f"{OWN_WEIGHTS_LICENCE_PREFIX} (no third-party weights); "
               "see the provenance for the training data and their own terms")


@dataclass(frozen=True)
class PretrainedWeights:
    """One known set of weights.

    Attributes:
        name: registry key (never an architecture key of ``modeling/variants.py``).
        variant: the architecture key in ``modeling.variants.VARIANTS`` these weights fit.
        file_name: the file's name in its ``location`` (for a download, also its name in the archive).
        location: ``"cache"`` (downloaded into the user cache) or ``"bundled"`` (shipped in the package).
        licence: the licence the weights carry (the text recorded with them when they are read).
        label: the words shown after the variant in a model's display name.
        description: one sentence for people.
        provenance: who made the weights, and how.
        url: where the authors publish the archive holding the file (downloads only).
        archive_md5: MD5 of that archive, as published (downloads only).
        sha256: SHA-256 of the file itself, where known.
        citation: BibTeX to cite when using these weights.
        converted_file_name: name of the file's ``.safetensors`` conversion, also looked for in the cache.
    """

    name: str
    variant: str
    file_name: str
    location: str
    licence: str
    label: str
    description: str
    provenance: str
    url: str | None = None
    archive_md5: str | None = None
    sha256: str | None = None
    citation: str | None = None
    converted_file_name: str | None = None

    def __post_init__(self) -> None:
        if self.location not in LOCATIONS:
            raise ValueError(f"{self.name}: location must be one of {LOCATIONS}, got {self.location!r}")

    @property
    def bundled_path(self) -> Path | None:
        """The file inside the package (bundled entries only; it may be absent from a slim install)."""
        return BUNDLED_DIR / self.file_name if self.location == "bundled" else None


TRUFOR_OFFICIAL = PretrainedWeights(
    name="trufor_official",
    variant="trufor_b2",
    file_name="trufor.pth.tar",
    location="cache",
    licence=("TruFor weights by GRIP (University Federico II of Naples): research and non-commercial use only, "
             "see the licence shipped with the authors' archive"),
    label="official-format checkpoint",
    description="The authors' model of the paper (MiT-B2 encoder), downloaded with `trufor weights download`.",
    provenance="official TruFor checkpoint",
    url="https://www.grip.unina.it/download/prog/TruFor/TruFor_weights.zip",
    archive_md5="7bee48f3476c75616c3c5721ab256ff8",
    sha256=None,  # the authors publish the archive's MD5 only; the download records the checkpoint's SHA-256
    citation=_TRUFOR_CITATION,
    converted_file_name="trufor.safetensors",
)

TRUFOR_BUNDLED = PretrainedWeights(
    name="trufor_bundled_lite0",
    variant="trufor_lite0_top",
    file_name="trufor_lite0.safetensors",
    location="bundled",
    licence="Apache-2.0",
    label="bundled model, trained by the trufor project",
    description=("A small model shipped with the package: dual EfficientNet-Lite0 encoder from openly licensed "
                 "ImageNet weights, our own Noiseprint++, a calibrated score read from the localization map's top "
                 "0.5 %, a confidence decoder trained on its target alone (docs/MODEL_CARD.md)."),
    provenance=("trained by the trufor project with `trufor train`; no official Noiseprint++/TruFor weights used "
                "(the file's metadata records every phase)"),
    sha256=None,  # retrained from time to time; the file's own metadata is its record
    citation=_TRUFOR_CITATION,  # the method it implements
)

#: Every known set of weights, by name.
REGISTRY: dict[str, PretrainedWeights] = {w.name: w for w in (TRUFOR_OFFICIAL, TRUFOR_BUNDLED)}

#: The authors' weights (the only download) and the model shipped in the package.
OFFICIAL_NAME = TRUFOR_OFFICIAL.name
BUNDLED_NAME = TRUFOR_BUNDLED.name


def get_weights(name: str) -> PretrainedWeights:
    """The registry entry called ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise WeightsError(f"unknown weights {name!r}; known: {', '.join(REGISTRY)}") from None


def official() -> PretrainedWeights:
    """The authors' weights."""
    return REGISTRY[OFFICIAL_NAME]


def bundled() -> PretrainedWeights:
    """The model shipped inside the package."""
    return REGISTRY[BUNDLED_NAME]


def cache_file_names() -> tuple[str, ...]:
    """File names looked for in the user cache, in order of preference (conversions first)."""
    names: list[str] = []
    for entry in REGISTRY.values():
        if entry.location == "cache":
            names += [n for n in (entry.converted_file_name, entry.file_name) if n]
    return tuple(names)


def display_name(variant: str, *, origin: str, fmt: str, path: str | Path,
                 metadata: Mapping[str, Any] | None = None) -> str:
    """The short human name of loaded weights, shown in every output (CSV, figures, ``trufor info``).

    A ``model_name`` recorded in the file's metadata wins; then the bundled model, any checkpoint
    in the authors' format, and otherwise the file's name and the first clause of its recorded provenance (at most
    :data:`NAME_SUMMARY_CHARS` characters): the name rides on every row of ``results.csv`` and every figure,
    and a provenance holds a model's whole history (hundreds of kB after weight averages); the whole of it is in
    ``results.json``'s header and ``trufor info``.
    """
    metadata = metadata or {}
    if metadata.get("model_name"):
        return str(metadata["model_name"])
    if origin == "bundled":
        return f"{variant} ({bundled().label})"
    if fmt == "official":
        return f"{variant} ({official().label} {Path(path).name})"
    return f"{variant} ({Path(path).name}: {provenance_summary(str(metadata.get('provenance') or 'custom weights'))})"


#: The longest provenance summary a display name carries.
NAME_SUMMARY_CHARS = 120


def provenance_summary(provenance: str, limit: int = NAME_SUMMARY_CHARS) -> str:
    """The first clause of a provenance's first line (up to ``"; "``), cut at a word to ``limit`` characters."""
    first = provenance.strip().split("\n", 1)[0].split("; ", 1)[0].strip() or "custom weights"
    if len(first) <= limit:
        return first
    cut = first[: limit - 3].rsplit(" ", 1)[0].rstrip(" ,;:(")
    return (cut or first[: limit - 3]) + "..."
