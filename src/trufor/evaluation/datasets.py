"""Benchmark datasets for evaluation: which images, which masks, and which images cannot be used.

A :class:`Benchmark` is a list of :class:`Sample` (image path, mask path or None, label fake/real and,
when the sample cannot be used, the reason). Nothing is dropped silently: an image that cannot be
evaluated keeps its ``skip`` reason, and a fake image without a usable mask keeps its
``mask_issue`` (it still counts for detection, not for localization); both appear in the report.

Sources:

* the authors' list files (:func:`from_lists`): paths relative to the dataset root; a fake list has
  ``image_path,mask_path`` per line, a real list ``image_path`` per line;
* the folder layouts of the usual benchmarks (:data:`KNOWN_DATASETS`): CASIA v1, Columbia, Coverage,
  DSO-1, NIST16, CocoGlide, IMD2020;
* a generic layout (:func:`from_folders`): a folder of fake images, a folder of masks found by a name
  pattern, and optionally a folder of real images.

Masks are read with :func:`trufor.masks.load_mask` (re-exported here), which binarizes them by the
dataset's :class:`~trufor.masks.MaskFormat` (grey level > 0 is forged unless stated otherwise, as in
the authors' tool) and handles the known defects: RGB/RGBA or 0/255 masks, a mask stored transposed
or rotated, a mask of another size. :mod:`trufor.masks` owns all of that.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from ..errors import DatasetError
from ..imageio import scan_images

# Masks are owned by trufor.masks; these names stay importable from here (evaluation, the CLI, tests).
from ..masks import MISMATCH_POLICIES, MaskFormat, MaskLoad, load_mask, orient_swapped_mask
from ..masks import binarize as binarize_mask

REAL, FAKE = 0, 1

__all__ = [
    "FAKE", "KNOWN_DATASETS", "MISMATCH_POLICIES", "REAL", "Benchmark", "MaskFormat", "MaskLoad", "Sample",
    "binarize_mask", "from_folders", "from_lists", "load_dataset", "load_mask", "orient_swapped_mask",
]


# --------------------------------------------------------------------------------------------- #
# Samples and datasets
# --------------------------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Sample:
    """One image of a dataset.

    ``name`` identifies the sample in reports and caches: the image path relative to the dataset
    root, with forward slashes. ``skip``: why the image cannot be evaluated at all (missing file,
    duplicate). ``mask_issue``: why a fake image has no usable mask (it is then evaluated for
    detection only).
    """

    name: str
    image: str
    label: int
    mask: str | None = None
    skip: str | None = None
    mask_issue: str | None = None

    @property
    def is_fake(self) -> bool:
        return self.label == FAKE


@dataclass
class Benchmark:
    """A named list of samples, with the mask convention and notes met while listing it."""

    name: str
    root: str
    samples: list[Sample]
    mask_format: MaskFormat = field(default_factory=MaskFormat)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self):
        return iter(self.samples)

    @property
    def fakes(self) -> list[Sample]:
        return [s for s in self.samples if s.label == FAKE]

    @property
    def reals(self) -> list[Sample]:
        return [s for s in self.samples if s.label == REAL]

    @property
    def skipped(self) -> list[Sample]:
        """Samples that cannot be evaluated at all."""
        return [s for s in self.samples if s.skip]

    @property
    def without_mask(self) -> list[Sample]:
        """Fake samples usable for detection only (no usable mask)."""
        return [s for s in self.samples if s.mask_issue and not s.skip]

    def summary(self) -> str:
        return (f"{self.name}: {len(self.fakes)} fake + {len(self.reals)} real images"
                f" ({len(self.skipped)} unusable, {len(self.without_mask)} fake without mask)")

    def limited(self, n: int | None) -> "Benchmark":
        """At most ``n`` samples, taken alternately from the fakes and the reals (so a small run still
        has both classes), each in dataset order."""
        if n is None or n >= len(self.samples):
            return self
        if n < 0:
            raise DatasetError("--limit must be positive")
        fakes, reals = self.fakes, self.reals
        chosen: list[Sample] = []
        i = 0
        while len(chosen) < n and (i < len(fakes) or i < len(reals)):
            for group in (fakes, reals):
                if i < len(group) and len(chosen) < n:
                    chosen.append(group[i])
            i += 1
        return replace(self, samples=chosen, notes=self.notes + [f"limited to {n} of {len(self.samples)} samples"])


def _posix_name(path: str | os.PathLike, root: str | os.PathLike) -> str:
    """The sample name: ``path`` relative to ``root``, '/'-separated, with each '..' made '__' so
    that the name is safe to use under a cache folder."""
    try:
        rel = os.path.relpath(path, root)
    except ValueError:  # another drive (Windows)
        rel = Path(path).name
    return "/".join("__" if p == ".." else p for p in Path(rel).parts)


def _dedupe(samples: list[Sample]) -> list[Sample]:
    """Mark repeated images as skipped (renamed ``name#2``, ``name#3``... to keep names unique)."""
    count: dict[str, int] = {}
    out = []
    for s in samples:
        count[s.name] = count.get(s.name, 0) + 1
        if count[s.name] > 1:
            s = replace(s, name=f"{s.name}#{count[s.name]}", skip="duplicate entry: this image is listed more than once")
        out.append(s)
    return out


def _fake(root: Path, image: Path, mask: Path | None, missing_mask_reason: str | None = None) -> Sample:
    name = _posix_name(image, root)
    if not image.is_file():
        return Sample(name, str(image), FAKE, str(mask) if mask else None, f"image file not found: {image}")
    if mask is None:
        return Sample(name, str(image), FAKE, None, mask_issue=missing_mask_reason or "no ground-truth mask")
    if not mask.is_file():
        return Sample(name, str(image), FAKE, str(mask), mask_issue=f"mask file not found: {mask}")
    return Sample(name, str(image), FAKE, str(mask))


def _real(root: Path, image: Path) -> Sample:
    name = _posix_name(image, root)
    skip = None if image.is_file() else f"image file not found: {image}"
    return Sample(name, str(image), REAL, None, skip)


def _images_in(folder: Path, recursive: bool = False) -> list[Path]:
    return sorted(path for path, _ in scan_images(folder, recursive=recursive))


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DatasetError(f"{path}: {what} folder not found")
    return path


# --------------------------------------------------------------------------------------------- #
# List files
# --------------------------------------------------------------------------------------------- #


def _split_fake_line(line: str, root: Path, where: str) -> tuple[str, str | None]:
    fields = line.split(",")
    if len(fields) == 1:
        return fields[0].strip(), None
    if len(fields) == 2:
        return fields[0].strip(), fields[1].strip()
    # A comma inside a file name: take the split whose image part exists.
    splits = [(",".join(fields[:i]).strip(), ",".join(fields[i:]).strip()) for i in range(1, len(fields))]
    existing = [s for s in splits if (root / s[0]).is_file()]
    if len(existing) == 1:
        return existing[0]
    raise DatasetError(f"{where}: expected 'image_path,mask_path', got {len(fields)} comma-separated fields")


def read_list_file(path: str | os.PathLike) -> list[tuple[int, str]]:
    """The non-empty lines of a list file as ``(line number, text)``; '#' starts a comment line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(f"{path}: list file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read list file: {exc}") from None
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append((i, line))
    return out


def from_lists(
    fake_list: str | os.PathLike | None,
    real_list: str | os.PathLike | None = None,
    *,
    root: str | os.PathLike,
    mask_root: str | os.PathLike | None = None,
    mask_format: MaskFormat = MaskFormat(),
    name: str | None = None,
) -> Benchmark:
    """A dataset from the authors' list files (paths relative to ``root``; masks relative to
    ``mask_root``, default ``root``). A mask field ``None`` or missing means no mask."""
    root = Path(root)
    mroot = Path(mask_root) if mask_root else root
    _require_dir(root, "dataset root")
    samples: list[Sample] = []
    if fake_list is None and real_list is None:
        raise DatasetError("give at least one list file")
    if fake_list is not None:
        for lineno, line in read_list_file(fake_list):
            img, msk = _split_fake_line(line, root, f"{fake_list}:{lineno}")
            mask = None if msk in (None, "", "None") else mroot / msk
            samples.append(_fake(root, root / img, mask, f"no mask given on line {lineno} of {Path(fake_list).name}"))
    if real_list is not None:
        for lineno, line in read_list_file(real_list):
            samples.append(_real(root, root / line.split(",")[0].strip()))
    label = name or "list:" + ",".join(Path(p).name for p in (fake_list, real_list) if p is not None)
    return Benchmark(label, str(root), _dedupe(samples), mask_format)


# --------------------------------------------------------------------------------------------- #
# Folder layouts
# --------------------------------------------------------------------------------------------- #


def casia1(root: str | os.PathLike, **_) -> Benchmark:
    """CASIA v1.0: ``Sp/`` tampered, ``Au/`` authentic, masks ``masks/<stem>_gt.png`` (N.T. Pham's
    ground truth; ``groundtruth/`` is accepted too). White (> 0) = forged."""
    root = Path(root)
    sp = _require_dir(root / "Sp", "CASIA v1 tampered (Sp)")
    masks = next((root / d for d in ("masks", "groundtruth", "gt") if (root / d).is_dir()), root / "masks")
    samples = []
    for img in _images_in(sp):
        mask = masks / f"{img.stem}_gt.png"
        samples.append(_fake(root, img, mask if mask.is_file() else None,
                             f"no ground-truth mask ({_posix_name(mask, root)} does not exist)"))
    samples += [_real(root, p) for p in _images_in(root / "Au")]
    return Benchmark("casia1", str(root), _dedupe(samples), MaskFormat())


def columbia(root: str | os.PathLike, **_) -> Benchmark:
    """Columbia uncompressed splicing: ``4cam_splc/*.tif`` fake, ``4cam_auth/*.tif`` real, masks
    ``4cam_splc/edgemask/<stem>_edgemask.jpg`` where the spliced region is green (G > 127)."""
    root = Path(root)
    splc = _require_dir(root / "4cam_splc", "Columbia spliced (4cam_splc)")
    samples = []
    for img in _images_in(splc):
        mask = splc / "edgemask" / f"{img.stem}_edgemask.jpg"
        samples.append(_fake(root, img, mask if mask.is_file() else None, f"no edge mask {mask.name}"))
    samples += [_real(root, p) for p in _images_in(root / "4cam_auth")]
    return Benchmark("columbia", str(root), _dedupe(samples), MaskFormat(threshold=127, channel=1),
                   notes=["Columbia masks: the spliced region is the green area of the edge mask (G > 127)"])


def coverage(root: str | os.PathLike, **_) -> Benchmark:
    """COVERAGE: ``image/<n>t.tif`` forged, ``image/<n>.tif`` original, masks ``mask/<n>forged.tif``."""
    root = Path(root)
    imgdir = _require_dir(root / "image", "COVERAGE image")
    samples = []
    for img in _images_in(imgdir):
        m = re.fullmatch(r"(\d+)t", img.stem)
        if m:
            mask = root / "mask" / f"{m.group(1)}forged{img.suffix}"
            if not mask.is_file():
                mask = next(iter(sorted((root / "mask").glob(f"{m.group(1)}forged.*"))), mask)
            samples.append(_fake(root, img, mask))
        elif img.stem.isdigit():
            samples.append(_real(root, img))
    return Benchmark("coverage", str(root), _dedupe(samples), MaskFormat())


def dso1(root: str | os.PathLike, mask_root: str | os.PathLike | None = None, **_) -> Benchmark:
    """DSO-1: ``splicing-*.png`` fake and ``normal-*.png`` real, in ``root`` or ``root/DSO-1``; masks
    of the same name in ``mask_root`` or ``DSO-1-Fake-Images-Masks`` (or ``masks``). The masks are
    inverted: black (0) = forged."""
    root = Path(root)
    imgdir = root / "DSO-1" if (root / "DSO-1").is_dir() else root
    if mask_root:
        mdir = _require_dir(Path(mask_root), "DSO-1 mask")
    else:
        cands = [root / "DSO-1-Fake-Images-Masks", root / "masks", imgdir / "masks"]
        mdir = next((c for c in cands if c.is_dir()), cands[0])
    samples = []
    for img in _images_in(imgdir):
        if img.name.startswith("splicing"):
            samples.append(_fake(root, img, mdir / img.name))
        elif img.name.startswith("normal"):
            samples.append(_real(root, img))
    if not samples:
        raise DatasetError(f"{imgdir}: no splicing-*.png / normal-*.png images (DSO-1 layout)")
    return Benchmark("dso1", str(root), _dedupe(samples), MaskFormat(invert=True))


def _read_nist_refs(root: Path) -> list[dict[str, str]]:
    rows = []
    for csv_path in sorted((root / "reference").glob("*/*-ref.csv")):
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows += list(csv.DictReader(f, delimiter="|"))
    return rows


def nist16(root: str | os.PathLike, **_) -> Benchmark:
    """NIST Nimble 2016 (NC2016_Test): pairs read from ``reference/*/*-ref.csv`` (pipe-separated,
    columns ProbeFileName, ProbeMaskFileName, IsTarget). Targets with a mask are fake, non-targets
    real. Masks are inverted: black (0) = manipulated. The 160+160 subset of the paper is given by
    list files (``list:``), not by this layout."""
    root = Path(root)
    rows = _read_nist_refs(root)
    if not rows:
        raise DatasetError(f"{root}: no reference/*/*-ref.csv found (NIST16 layout); use list files instead")
    samples = []
    for row in rows:
        probe = (row.get("ProbeFileName") or "").strip()
        if not probe:
            continue
        if (row.get("IsTarget") or "").strip().upper() == "Y":
            mask = (row.get("ProbeMaskFileName") or "").strip()
            samples.append(_fake(root, root / probe, root / mask if mask else None, "no ProbeMaskFileName in the reference"))
        else:
            samples.append(_real(root, root / probe))
    # A probe may appear in several task files: keep one entry per image, a fake one if any.
    unique: dict[str, Sample] = {}
    for s in sorted(samples, key=lambda s: (-s.label, s.name)):
        unique.setdefault(s.name, s)
    return Benchmark("nist16", str(root), list(unique.values()), MaskFormat(invert=True))


def cocoglide(root: str | os.PathLike, **_) -> Benchmark:
    """CocoGlide: ``fake/glide_inpainting_val2017_<id>_up.png``, masks ``mask/<class>_<id>_mask.png``
    (matched by the COCO id), ``real/<class>_<id>.png``. White = inpainted."""
    root = Path(root)
    fakedir = _require_dir(root / "fake", "CocoGlide fake")
    by_id: dict[str, Path] = {}
    for m in _images_in(root / "mask"):
        hit = re.search(r"_(\d+)_mask$", m.stem)
        if hit:
            by_id[hit.group(1)] = m
    samples = []
    for img in _images_in(fakedir):
        hit = re.search(r"_(\d+)(?:_up)?$", img.stem)
        mask = by_id.get(hit.group(1)) if hit else None
        samples.append(_fake(root, img, mask, "no mask with the same COCO id in mask/"))
    samples += [_real(root, p) for p in _images_in(root / "real")]
    return Benchmark("cocoglide", str(root), _dedupe(samples), MaskFormat())


def imd2020(root: str | os.PathLike, **_) -> Benchmark:
    """IMD2020: one folder per original photo, holding ``<x>_orig.<ext>`` (real), manipulated images
    ``<y>.<ext>`` and their masks ``<y>_mask.png`` (white = manipulated)."""
    root = Path(root)
    _require_dir(root, "IMD2020 root")
    samples = []
    for img in _images_in(root, recursive=True):
        stem = img.stem
        if stem.endswith("_mask"):
            continue
        if stem.endswith("_orig"):
            samples.append(_real(root, img))
            continue
        mask = img.with_name(f"{stem}_mask.png")
        samples.append(_fake(root, img, mask if mask.is_file() else None, f"no mask {mask.name}"))
    if not samples:
        raise DatasetError(f"{root}: no images found (IMD2020 layout: <folder>/<name>.<ext> + <name>_mask.png)")
    return Benchmark("imd2020", str(root), _dedupe(samples), MaskFormat())


def from_folders(
    images: str | os.PathLike,
    masks: str | os.PathLike | None,
    pattern: str = "{stem}.png",
    real: str | os.PathLike | None = None,
    *,
    root: str | os.PathLike | None = None,
    mask_format: MaskFormat = MaskFormat(),
    recursive: bool = False,
    name: str = "folder",
) -> Benchmark:
    """Generic layout: every image in ``images`` is fake, its mask is ``masks/<pattern>``, where the
    pattern may use ``{stem}`` (file name without extension), ``{name}`` (file name) and ``{ext}``
    (extension without dot), e.g. ``{stem}_gt.png``. Every image in ``real`` is real. Relative folders
    are taken under ``root`` when given. With ``recursive``, sub-folders are searched and the mask is
    looked up at the same relative sub-folder."""
    base = Path(root) if root else Path(".")
    imgdir = _require_dir(base / images, "images")
    mdir = _require_dir(base / masks, "masks") if masks else None
    if "{" not in pattern:
        raise DatasetError(f"mask pattern {pattern!r} must contain {{stem}} or {{name}}")
    samples = []
    for img in _images_in(imgdir, recursive):
        if mdir is None:
            samples.append(_fake(base, img, None, "no masks folder given"))
            continue
        try:
            mname = pattern.format(stem=img.stem, name=img.name, ext=img.suffix.lstrip("."))
        except (KeyError, IndexError, ValueError) as exc:
            raise DatasetError(f"bad mask pattern {pattern!r}: {exc}") from None
        mask = mdir / img.parent.relative_to(imgdir) / mname
        samples.append(_fake(base, img, mask))
    if real:
        samples += [_real(base, p) for p in _images_in(_require_dir(base / real, "real images"), recursive)]
    return Benchmark(name, str(base), _dedupe(samples), mask_format)


#: Known benchmark layouts by name.
KNOWN_DATASETS: dict[str, Callable[..., Benchmark]] = {
    "casia1": casia1,
    "columbia": columbia,
    "coverage": coverage,
    "dso1": dso1,
    "nist16": nist16,
    "cocoglide": cocoglide,
    "imd2020": imd2020,
}


def load_dataset(
    spec: str,
    root: str | os.PathLike,
    *,
    mask_root: str | os.PathLike | None = None,
    images: str | None = None,
    masks: str | None = None,
    pattern: str = "{stem}.png",
    real: str | None = None,
    mask_overrides: dict | None = None,
) -> Benchmark:
    """Resolve a DATASET argument: a known name, ``list:FAKE_LIST[,REAL_LIST]`` or ``folder``.

    List paths are relative to the current folder, or to ``root`` when not found there.
    ``mask_overrides`` (``threshold``, ``invert``, ``channel``; None values ignored) change the
    dataset's own mask convention.
    """
    root_p = Path(root)
    if not root_p.is_dir():
        raise DatasetError(f"{root}: dataset root folder not found")
    key = spec.strip().lower()
    if key.startswith("list:"):
        parts = [p.strip() for p in spec.strip()[5:].split(",")]
        if not parts or not parts[0] or len(parts) > 2:
            raise DatasetError("expected list:FAKE_LIST or list:FAKE_LIST,REAL_LIST")

        def where(p: str) -> Path:
            return Path(p) if Path(p).exists() or not (root_p / p).exists() else root_p / p

        fake = where(parts[0])
        realp = where(parts[1]) if len(parts) == 2 and parts[1] else None
        ds = from_lists(fake, realp, root=root_p, mask_root=mask_root)
    elif key == "folder":
        if not images:
            raise DatasetError("the folder layout needs --images (and usually --masks and --pattern)")
        ds = from_folders(images, masks, pattern, real, root=root_p)
    elif key in KNOWN_DATASETS:
        ds = KNOWN_DATASETS[key](root_p, mask_root=mask_root)
    else:
        known = ", ".join(KNOWN_DATASETS)
        raise DatasetError(f"unknown dataset {spec!r}: use one of {known}, list:FAKE[,REAL] or folder")
    if not ds.samples:
        raise DatasetError(f"{ds.name}: no images found under {root}")
    overrides = {k: v for k, v in (mask_overrides or {}).items() if v is not None}
    if overrides:
        try:
            ds.mask_format = replace(ds.mask_format, **overrides)
        except TypeError as exc:
            raise DatasetError(f"bad mask option: {exc}") from None
    return ds
