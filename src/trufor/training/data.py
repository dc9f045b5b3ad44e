"""Training data: datasets of (image, mask) pairs, and pristine photo sources for phase 1.

A config's ``data.train`` / ``data.val`` is a list of *sources*; each is a mapping with a ``type``:

``folder``
    ``images: DIR`` and optionally ``masks: DIR``; an image's mask is the file of ``masks`` with the
    same stem plus ``mask_suffix`` (e.g. ``_gt``), any image extension. Images without a mask are
    pristine when ``pristine: true`` (the default when ``masks`` is absent), else an error.
``list``
    ``file: LIST.txt`` in the authors' format, one ``image[,mask]`` per line (``None`` or no mask:
    pristine), paths relative to ``root`` (default: the list's folder).
``synthetic``
    ``sources: [DIR or LIST.txt, ...]`` of pristine photos (a list file in the ``list`` format, without masks:
    its images are named as written, so ``holdout`` and ``calibration`` split them exactly as a ``list`` source
    of the same file): forgeries generated on the fly by
    :class:`trufor.synthesis.SyntheticForgeryDataset` (``length`` items per epoch, ``pristine_fraction``,
    ``kinds``, ``seed``, ``donor_jpeg``, ``web_scale`` and ``gradient_blend``: probabilities that a splice donor has
    a JPEG history of its own, that an item is edited at web scale and that a splice or copy-move is pasted in the
    gradient domain, docs/SYNTHESIS.md; ``web_pristine``: the pristine fraction of the web-scale items, default
    ``pristine_fraction``, so that a web history can be made no more often an edit than not). This module is the only
    place that knows that class.
``pristine`` (phase 1)
    ``folders: [DIR, ...]`` of camera-original photos; the camera model is read from EXIF.

Every source takes ``holdout`` (fraction of images held out for validation, chosen by a hash of
the file name, so the same photo is held out in every phase) and ``split`` (``train``, ``val`` or
``all``; default ``train`` in ``data.train`` and ``val`` in ``data.val`` when ``holdout`` > 0).
``calibration`` (a fraction of the held-out images, by a second hash of the name) sets a part of
the held-out images apart for calibrating the detector: ``split: calib`` selects it, and ``val``
then leaves it out. ``folder`` and ``list`` sources take ``repeat`` (default 1): each image counts
that many times per epoch, to weigh a small real set against a large synthetic one, ``focus`` (``list``
sources of authentic images, default false): the second column of each line is then not a mask of forged pixels but
a region to crop around: every crop holds a pixel of it (drawn at random), and every pixel is pristine, e.g. the
originals of training fakes cropped where their fake was edited (content-matched negatives), and ``web_copies``
(a probability, default 0): an item is then, that often, the image as it reaches a reader online before it is
cropped (downscaled, re-saved as JPEG once or twice: :func:`trufor.synthesis.processing.web_copy`; the mask
follows), for authentic and manipulated images alike, so that a web history alone is never evidence.

``data.image_level`` (phase 2) is a list of ``folder`` or ``list`` sources of whole images known only as
manipulated or authentic (``label: fake`` or ``real``): :class:`WholeImages` draws one of them every
``train.image_level_every`` steps for the image-level loss (:func:`trufor.training.losses.image_level_loss`).
They take ``web_copies`` too: the drawn image is then, that often, its web copy, whatever its label.

Items are dicts: ``image`` float32 (3, S, S) = uint8 / 256, ``mask`` int64 (S, S) with 1 forged,
0 pristine, -1 ignore (padding), ``label`` int (1 fake). Crops are random in
(seed, epoch, index): the same item is the same crop whatever the number of workers, which makes
runs reproducible and resumable mid-epoch.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from ..errors import ImageReadError
from ..exif import camera_model, camera_name
from ..imageio import read_image, scan_images
from ..masks import HALF_RANGE, fit_to_image, read_mask as read_mask_file
from .config import ConfigError

COMMON_KEYS = {"type", "holdout", "split", "calibration"}
SOURCE_KEYS: dict[str, set[str]] = {
    "folder": COMMON_KEYS | {"images", "masks", "mask_suffix", "pristine", "repeat", "web_copies"},
    "list": COMMON_KEYS | {"file", "root", "repeat", "web_copies", "focus"},
    "synthetic": COMMON_KEYS | {"sources", "length", "seed", "pristine_fraction", "kinds", "ignore_unchanged",
                                "donor_jpeg", "web_scale", "web_pristine", "shapes", "gradient_blend"},
    "pristine": COMMON_KEYS | {"folders", "exif", "camera_manifest", "camera_holdout"},
}


# ----------------------------------------------------------------------------------------- helpers
def held_out(name: str, holdout: float) -> bool:
    """Whether the image ``name`` (a path relative to its source folder) is in the validation split.

    A stable hash of the name decides, so the split does not depend on the machine or the order.
    """
    if holdout <= 0:
        return False
    h = int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:4], "big")
    return (h % 10_000) < holdout * 10_000


def in_calibration_part(name: str, calibration: float) -> bool:
    """Whether a held-out image is in the calibration part (a second, independent hash of its name)."""
    if calibration <= 0:
        return False
    h = int.from_bytes(hashlib.sha1(("calibration:" + name).encode("utf-8")).digest()[:4], "big")
    return (h % 10_000) < calibration * 10_000


def _keep(name: str, holdout: float, split: str, calibration: float = 0.0) -> bool:
    if split == "all" or holdout <= 0:
        return True
    if not held_out(name, holdout):
        return split == "train"
    if split == "train":
        return False
    return in_calibration_part(name, calibration) == (split == "calib")


def scan_folder(root: str | os.PathLike) -> list[tuple[str, str]]:
    """(absolute path, name relative to ``root``) of every image under ``root``, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder of images")
    found = [(str(path.resolve()), name) for path, name in scan_images(root)]
    return sorted(found, key=lambda t: t[1])


def read_mask(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """int64 (H, W) target from a mask file: 1 forged, 0 pristine, by :data:`trufor.masks.HALF_RANGE`
    (grey level above half the 8-bit range; a 0/1 mask forged where 1).

    A mask of another size than the image is an error (rather than a silent resize), and so is an
    unreadable one: both are :class:`ConfigError` naming the file.
    """
    try:
        mask = read_mask_file(path, HALF_RANGE)
    except ImageReadError as exc:
        raise ConfigError(str(exc)) from None
    fitted = fit_to_image(mask, shape, mismatch="skip")
    if fitted.mask is None:
        raise ConfigError(f"{path}: {fitted.issue}")
    return fitted.mask.astype(np.int64)


def _offset_around(rng: np.random.Generator, pos: int, side: int, size: int, step: int) -> int:
    """A random offset (a multiple of ``step``) of a ``size`` window along a side of ``side`` px holding ``pos``;
    where the grid allows none that holds it (the last ``step - 1`` px of a side), the nearest one."""
    last = max(side - size, 0) // step  # the largest offset, in steps
    lo = min(max(pos - size + 1, 0) + step - 1, last * step) // step
    hi = min(pos // step, last)
    return step * int(rng.integers(lo, max(hi, lo) + 1))


def crop_pair(image: np.ndarray, target: np.ndarray, size: int, rng: np.random.Generator,
              grid_aligned: bool = True, ignore_index: int = -1,
              focus: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A random ``size`` x ``size`` window of (image, target); smaller sides padded at the bottom/right
    with image 0 and target ``ignore_index``. ``grid_aligned`` keeps offsets on the 8 px JPEG grid.

    With ``focus`` (bool, the image's shape) holding a True pixel, one of them is drawn and the window holds it
    (or, on the grid, comes within 7 px of it at a bottom or right edge); without one, the window is drawn as usual.
    """
    h, w = target.shape
    step = 8 if grid_aligned else 1
    if focus is not None and focus.any():
        ys, xs = np.nonzero(focus)
        k = int(rng.integers(len(ys)))
        top = _offset_around(rng, int(ys[k]), h, size, step)
        left = _offset_around(rng, int(xs[k]), w, size, step)
    else:
        top = step * int(rng.integers(0, max(h - size, 0) // step + 1))
        left = step * int(rng.integers(0, max(w - size, 0) // step + 1))
    img = image[top:top + size, left:left + size]
    tgt = target[top:top + size, left:left + size]
    if img.shape[:2] != (size, size):
        pad_img = np.zeros((size, size, 3), np.uint8)
        pad_tgt = np.full((size, size), ignore_index, np.int64)
        pad_img[: img.shape[0], : img.shape[1]] = img
        pad_tgt[: tgt.shape[0], : tgt.shape[1]] = tgt
        img, tgt = pad_img, pad_tgt
    return np.ascontiguousarray(img), np.ascontiguousarray(tgt)


def to_tensor_image(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, H, W) in the model's ``/ 256`` scale."""
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).float().div_(256.0)


def item_rng(seed: int, epoch: int, index: int, stream: int = 0) -> np.random.Generator:
    """Random numbers of item ``index`` in ``epoch``: a function of these numbers only."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch), int(index), int(stream)]))


# ----------------------------------------------------------------------------------- pair datasets
@dataclass(frozen=True)
class Pair:
    """One training image and its mask (None: pristine); ``focus``: a region its crops are drawn around (an
    authentic image's, ``focus: true`` in a list source)."""

    image: str
    mask: str | None
    name: str
    focus: str | None = None


class PairDataset(Dataset):
    """Random crops of (image, mask) pairs read from disk (see the module docstring for items)."""

    def __init__(self, pairs: Sequence[Pair], crop_size: int, *, seed: int = 0, grid_aligned: bool = True,
                 ignore_index: int = -1, fixed: bool = False, repeat: int = 1, web_copies: float = 0.0) -> None:
        self.pairs = list(pairs) * max(1, int(repeat))
        self.web_copies = float(web_copies)
        self.crop_size = int(crop_size)
        self.seed = int(seed)
        self.grid_aligned = grid_aligned
        self.ignore_index = ignore_index
        self.fixed = fixed  # validation: the same crop every epoch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        pair = self.pairs[index]
        pixels = read_image(pair.image).pixels
        shape = pixels.shape[:2]
        target = np.zeros(shape, np.int64) if pair.mask is None else read_mask(pair.mask, shape)
        focus = None if pair.focus is None else read_mask(pair.focus, shape)
        epoch = 0 if self.fixed else self.epoch
        if self.web_copies > 0:
            web_rng = item_rng(self.seed, epoch, index, stream=1)  # its own stream: crops stay as without it
            if web_rng.random() < self.web_copies:
                from ..synthesis.processing import web_copy

                pixels, resized, _, _ = web_copy(pixels, web_rng, mask=target if focus is None else focus)
                target, focus = (resized, None) if focus is None else (np.zeros_like(resized), resized)
        rng = item_rng(self.seed, epoch, index)
        img, tgt = crop_pair(pixels, target, self.crop_size, rng, self.grid_aligned, self.ignore_index,
                             focus=None if focus is None else focus == 1)
        return {"image": to_tensor_image(img), "mask": torch.from_numpy(tgt), "label": int(pair.mask is not None)}


def folder_pairs(images: str, masks: str | None = None, mask_suffix: str = "", pristine: bool | None = None) -> list[Pair]:
    """Pairs of a folder of images and a folder of masks matched by stem (``<stem><mask_suffix>.*``)."""
    if pristine is None:
        pristine = masks is None
    by_stem: dict[str, str] = {}
    if masks is not None:
        for path, name in scan_folder(masks):
            stem = name.rsplit(".", 1)[0]
            by_stem[stem] = path
    pairs = []
    for path, name in scan_folder(images):
        stem = name.rsplit(".", 1)[0]
        mask = by_stem.get(stem + mask_suffix)
        if mask is None and not pristine:
            raise ConfigError(f"{path}: no mask {stem}{mask_suffix}.* in {masks} (set pristine: true to "
                              "treat images without a mask as pristine)")
        pairs.append(Pair(path, mask, name))
    return pairs


def list_pairs(file: str, root: str | None = None) -> list[Pair]:
    """Pairs of a list file in the authors' format: ``image[,mask]`` per line; ``None`` = no mask."""
    file_path = Path(file)
    try:
        lines = file_path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read list file ({exc.strerror or exc})") from None
    base = Path(root) if root else file_path.parent
    pairs = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) > 2:
            raise ConfigError(f"{file}:{n}: expected 'image[,mask]', got {line!r}")
        image = parts[0]
        mask = parts[1] if len(parts) == 2 and parts[1] not in ("", "None", "none", "null") else None
        pairs.append(Pair(str(base / image), str(base / mask) if mask else None, image))
    return pairs


# ---------------------------------------------------------------------------------- synthetic data
class SyntheticSource(Dataset):
    """Adapter over :class:`trufor.synthesis.SyntheticForgeryDataset`: the one place that depends on it.

    Items keep only ``image``, ``mask`` (1 forged, 0 authentic, -1 ignore) and ``label``.
    """

    def __init__(self, folders: Sequence[str], crop_size: int, *, length: int | None, seed: int, holdout: float,
                 split: str, pristine_fraction: float = 0.2, kinds: Sequence[str] | None = None,
                 ignore_unchanged: bool = True, fixed: bool = False, donor_jpeg: float = 0.0,
                 web_scale: float = 0.0, shapes: Sequence[str] | None = None, calibration: float = 0.0,
                 gradient_blend: float = 0.0, web_pristine: float | None = None) -> None:
        try:
            from ..synthesis import SourceImage, SyntheticForgeryDataset, scan_sources
        except ImportError as exc:  # pragma: no cover - the package ships it
            raise ConfigError(f"synthetic data needs trufor.synthesis ({exc})") from None
        sources = []
        for folder in folders:
            if Path(folder).is_file():  # a list file: its images, named as written, split as a list source splits
                listed = list_pairs(folder)
                masked = [p.name for p in listed if p.mask is not None]
                if masked:
                    raise ConfigError(f"{folder}: a synthetic source takes pristine photos; {masked[0]} has a mask "
                                      f"({len(masked)} of {len(listed)} lines)")
                sources += [SourceImage(os.path.abspath(p.image), p.name, camera_model(p.image))
                            for p in listed if _keep(p.name, holdout, split, calibration)]
                continue
            if not Path(folder).is_dir():
                raise ConfigError(f"{folder}: not a folder of pristine photos or a list file (synthetic source)")
            sources += [s for s in scan_sources(folder) if _keep(s.name, holdout, split, calibration)]
        if not sources:
            raise ConfigError(f"synthetic source {list(folders)}: no images in split {split!r}")
        kwargs: dict[str, Any] = {"seed": seed, "size": crop_size, "pristine_fraction": pristine_fraction,
                                  "ignore_unchanged": ignore_unchanged, "donor_jpeg_prob": donor_jpeg,
                                  "web_prob": web_scale, "gradient_prob": gradient_blend,
                                  "web_pristine_fraction": web_pristine}
        if kinds:
            kwargs["kinds"] = tuple(kinds)
        if shapes is not None:
            kwargs["shapes"] = tuple(shapes)
        try:
            self.inner = SyntheticForgeryDataset(sources, length, **kwargs)
        except ValueError as exc:  # an unknown kind or region shape in the config
            raise ConfigError(f"synthetic source {list(folders)}: {exc}") from None
        self.n_sources = len(sources)
        self.fixed = fixed

    def set_epoch(self, epoch: int) -> None:
        self.inner.set_epoch(0 if self.fixed else epoch)

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.inner[index]
        return {"image": item["image"], "mask": item["mask"].long(), "label": int(item["label"])}


def mirror_draw(seed: int, epoch: int, index: int, probability: float) -> tuple[bool, bool]:
    """Whether item ``index`` is mirrored left-right and top-bottom (``data.mirror``), each with ``probability``, on a
    random stream of its own (stream 3 of :func:`item_rng`), so the item's other draws stay as without the option."""
    left_right, top_bottom = item_rng(seed, epoch, index, stream=3).random(2) < probability
    return bool(left_right), bool(top_bottom)


class Mirrored(Dataset):
    """The items of ``inner`` (crops: ``image`` (3, S, S), ``mask`` (S, S)), each mirrored left-right with probability
    ``probability`` and, independently, top-bottom with the same probability (``data.mirror``): the four views of
    ``--tta flips``. Crops are multiples of 8 px taken on the 8-px grid, so a mirror maps the JPEG grid onto itself.
    The draws come from a stream of their own (seed, epoch, index): the crops themselves stay as without the option,
    and a resumed run draws the same mirrors."""

    def __init__(self, inner: Dataset, probability: float, *, seed: int) -> None:
        self.inner = inner
        self.probability = float(probability)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def mirror_dims(self, index: int) -> tuple[int, ...]:
        """The axes item ``index`` is mirrored along this epoch (-1: left-right, -2: top-bottom)."""
        flips = mirror_draw(self.seed, self.epoch, index, self.probability)
        return tuple(d for d, flip in zip((-1, -2), flips) if flip)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.inner[index]
        dims = self.mirror_dims(index)
        if not dims:
            return item
        return dict(item, image=item["image"].flip(dims), mask=item["mask"].flip(dims))


class EpochConcat(ConcatDataset):
    """ConcatDataset that forwards :meth:`set_epoch` to its parts."""

    def set_epoch(self, epoch: int) -> None:
        for d in self.datasets:
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)


def _check_keys(spec: dict[str, Any], where: str) -> str:
    kind = spec.get("type")
    if kind not in SOURCE_KEYS:
        raise ConfigError(f"{where}: unknown source type {kind!r}; choose {', '.join(SOURCE_KEYS)}")
    unknown = set(spec) - SOURCE_KEYS[kind]
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} for a {kind} source "
                          f"(known: {', '.join(sorted(SOURCE_KEYS[kind]))})")
    return kind


def _fraction_key(spec: dict[str, Any], key: str, where: str) -> float:
    try:
        value = float(spec.get(key, 0.0))
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{where}: {key} must be a probability in [0, 1], got {spec.get(key)!r}")
    return value


def _shapes_key(spec: dict[str, Any], where: str) -> tuple[str, ...] | None:
    """``shapes: [polygon, blob, segment]``: the region shapes a synthetic source draws from (None: all)."""
    shapes = spec.get("shapes")
    if shapes is None:
        return None
    if isinstance(shapes, str):
        shapes = [shapes]
    if not isinstance(shapes, (list, tuple)) or not shapes or not all(isinstance(x, str) for x in shapes):
        raise ConfigError(f"{where}: shapes must be a list of region shapes (polygon, blob, segment), got {shapes!r}")
    return tuple(shapes)


def _split(spec: dict[str, Any], default: str, where: str) -> tuple[float, str]:
    holdout = float(spec.get("holdout", 0.0))
    split = str(spec.get("split", default))
    if split not in ("train", "val", "calib", "all"):
        raise ConfigError(f"{where}: split must be train, val, calib or all, got {split!r}")
    if not 0.0 <= holdout < 1.0:
        raise ConfigError(f"{where}: holdout must be in [0, 1), got {holdout}")
    calibration = float(spec.get("calibration", 0.0))
    if not 0.0 <= calibration < 1.0:
        raise ConfigError(f"{where}: calibration must be in [0, 1), got {calibration}")
    if split == "calib" and (holdout <= 0 or calibration <= 0):
        raise ConfigError(f"{where}: split calib needs holdout > 0 and calibration > 0")
    return holdout, split


def build_pair_dataset(specs: Sequence[dict[str, Any]], crop_size: int, *, seed: int, default_split: str,
                       grid_aligned: bool = True, fixed: bool = False, where: str = "data.train") -> EpochConcat:
    """The (image, mask) dataset of a list of sources (phases 2 and 3)."""
    parts: list[Dataset] = []
    for i, spec in enumerate(specs):
        w = f"{where}.{i}"
        kind = _check_keys(spec, w)
        holdout, split = _split(spec, default_split, w)
        if kind == "pristine":
            raise ConfigError(f"{w}: 'pristine' sources are for phase 1; use 'synthetic' to make forgeries from them")
        if kind == "synthetic":
            folders = spec.get("sources")
            if isinstance(folders, str):
                folders = [folders]
            if not folders:
                raise ConfigError(f"{w}: a synthetic source needs 'sources: [folder, ...]'")
            parts.append(SyntheticSource(
                folders, crop_size, length=spec.get("length"), seed=int(spec.get("seed", seed)) + i,
                holdout=holdout, split=split, pristine_fraction=float(spec.get("pristine_fraction", 0.2)),
                kinds=spec.get("kinds"), ignore_unchanged=bool(spec.get("ignore_unchanged", True)), fixed=fixed,
                donor_jpeg=_fraction_key(spec, "donor_jpeg", w), web_scale=_fraction_key(spec, "web_scale", w),
                shapes=_shapes_key(spec, w), calibration=float(spec.get("calibration", 0.0)),
                gradient_blend=_fraction_key(spec, "gradient_blend", w),
                web_pristine=_fraction_key(spec, "web_pristine", w) if "web_pristine" in spec else None))
            continue
        pairs = _source_pairs(kind, spec, holdout, split, w)
        parts.append(PairDataset(pairs, crop_size, seed=seed + 7919 * i, grid_aligned=grid_aligned, fixed=fixed,
                                 repeat=_repeat_key(spec, w), web_copies=_fraction_key(spec, "web_copies", w)))
    return EpochConcat(parts)


def _source_pairs(kind: str, spec: dict[str, Any], holdout: float, split: str, where: str) -> list[Pair]:
    """The pairs of a ``folder`` or ``list`` source in its split (an empty split is an error)."""
    if kind == "folder":
        if "images" not in spec:
            raise ConfigError(f"{where}: a folder source needs 'images: DIR'")
        pairs = folder_pairs(spec["images"], spec.get("masks"), spec.get("mask_suffix", ""), spec.get("pristine"))
    else:
        if "file" not in spec:
            raise ConfigError(f"{where}: a list source needs 'file: LIST.txt'")
        pairs = list_pairs(spec["file"], spec.get("root"))
        focus = spec.get("focus", False)
        if not isinstance(focus, bool):
            raise ConfigError(f"{where}: focus is true or false, got {focus!r}")
        if focus:  # the second column is a region to crop around; the image is authentic
            missing = [p.name for p in pairs if p.mask is None]
            if missing:
                raise ConfigError(f"{where}: focus: true needs a region on every line; {missing[0]!r} has none")
            pairs = [Pair(p.image, None, p.name, focus=p.mask) for p in pairs]
    calibration = float(spec.get("calibration", 0.0))
    pairs = [p for p in pairs if _keep(p.name, holdout, split, calibration)]
    if not pairs:
        raise ConfigError(f"{where}: no images in split {split!r}")
    return pairs


def _repeat_key(spec: dict[str, Any], where: str) -> int:
    repeat = spec.get("repeat", 1)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
        raise ConfigError(f"{where}: repeat must be a positive integer, got {repeat!r}")
    return repeat


# ------------------------------------------------------------------ whole images with an image-level label (phase 2)
#: ``label`` of an image-level source: what its images are.
IMAGE_LEVEL_LABELS: dict[str, int] = {"fake": 1, "real": 0}


@dataclass(frozen=True)
class LabelledImage:
    """A whole training image known only as manipulated (1) or authentic (0)."""

    path: str
    name: str
    label: int
    web_copies: float = 0.0  # probability that a draw of it is its web copy (synthesis.processing.web_copy)


class WholeImages(Dataset):
    """Whole images with an image-level label, drawn one at a time by the training step (``data.image_level``).

    Draw ``d`` is the item at position ``d mod n`` of a permutation of the ``n`` items seeded by
    (``seed``, ``d // n``): every item once per cycle, in a new order each cycle, and the same item for the same
    draw whatever resumes or workers. An image larger than ``max_side`` on a side gives a random window of at most
    ``max_side`` there (offsets on the 8-px JPEG grid, drawn from the same numbers); every side is cut down to a
    multiple of 32, the encoder's stride. An item with ``web_copies`` > 0 is, with that probability per draw, its web
    copy (downscaled, re-saved as JPEG) before the window is taken, on a random stream of its own: the windows of the
    draws that are not web copies stay as without the option.
    """

    def __init__(self, images: Sequence[LabelledImage], max_side: int, *, seed: int = 0, mirror: float = 0.0) -> None:
        self.images = list(images)
        self.max_side = int(max_side)
        self.seed = int(seed)
        self.mirror = float(mirror)  # data.mirror: each draw's window mirrored as Mirrored mirrors crops

    def __len__(self) -> int:
        return len(self.images)

    def index_of_draw(self, draw: int) -> int:
        cycle, pos = divmod(int(draw), len(self.images))
        order = np.random.default_rng(np.random.SeedSequence([self.seed, cycle])).permutation(len(self.images))
        return int(order[pos])

    def draw(self, draw: int) -> dict[str, Any]:
        """Item of draw ``draw``: ``image`` float32 (3, H, W), ``label`` int, ``name``."""
        index = self.index_of_draw(draw)
        item = self.images[index]
        pixels = read_image(item.path).pixels
        web = False
        if item.web_copies > 0:
            web_rng = item_rng(self.seed, int(draw), index, stream=1)
            if web_rng.random() < item.web_copies:
                from ..synthesis.processing import web_copy

                pixels, web = web_copy(pixels, web_rng)[0], True
        rng = item_rng(self.seed, int(draw), index)
        h, w = pixels.shape[:2]
        if h < 32 or w < 32:
            raise ConfigError(f"{item.path}: {w}x{h} px is too small for an image-level item (32 px at least)")
        win = [min(side, self.max_side) // 32 * 32 for side in (h, w)]
        top = 8 * int(rng.integers(0, (h - win[0]) // 8 + 1))
        left = 8 * int(rng.integers(0, (w - win[1]) // 8 + 1))
        pixels = pixels[top:top + win[0], left:left + win[1]]
        if self.mirror > 0:  # on a stream of its own: the windows stay as without the option
            flips = mirror_draw(self.seed, int(draw), index, self.mirror)
            axes = tuple(axis for axis, flip in zip((1, 0), flips) if flip)
            if axes:  # the window's sides are multiples of 32 from an offset on the grid: the grid maps onto itself
                pixels = np.ascontiguousarray(np.flip(pixels, axis=axes))
        return {"image": to_tensor_image(pixels), "label": item.label, "name": item.name, "web_copy": web}

    def __getitem__(self, index: int) -> dict[str, Any]:
        """``dataset[d]`` is draw ``d`` (:meth:`draw`), so that a sampler of draw numbers reads it as a dataset."""
        return self.draw(index)


def build_image_level_dataset(specs: Sequence[dict[str, Any]], max_side: int, *, seed: int,
                              where: str = "data.image_level", mirror: float = 0.0) -> WholeImages:
    """The whole images of ``data.image_level``: ``folder`` or ``list`` sources with a ``label`` (``fake`` or
    ``real``: what every image of the source is; masks, where a list names them, are not read), and the usual
    ``holdout`` / ``split`` / ``calibration`` / ``repeat`` / ``web_copies``."""
    images: list[LabelledImage] = []
    for i, spec in enumerate(specs):
        w = f"{where}.{i}"
        kind = spec.get("type")
        if kind not in ("folder", "list"):
            raise ConfigError(f"{w}: an image-level source is a folder or a list, got {kind!r}")
        allowed = COMMON_KEYS | {"label", "repeat", "web_copies"} | \
            ({"images"} if kind == "folder" else {"file", "root"})
        unknown = set(spec) - allowed
        if unknown:
            raise ConfigError(f"{w}: unknown key(s) {sorted(unknown)} for an image-level {kind} source "
                              f"(known: {', '.join(sorted(allowed))})")
        label = spec.get("label")
        if label not in IMAGE_LEVEL_LABELS:
            raise ConfigError(f"{w}: label: say what its images are, fake or real (got {label!r})")
        holdout, split = _split(spec, "train", w)
        pairs = _source_pairs(kind, {**spec, "pristine": True}, holdout, split, w)  # the label, not a mask, says
        web = _fraction_key(spec, "web_copies", w)
        images += [LabelledImage(p.image, p.name, IMAGE_LEVEL_LABELS[label], web) for p in pairs] * _repeat_key(spec, w)
    if not images:
        raise ConfigError(f"{where}: no image-level sources")
    return WholeImages(images, max_side, seed=seed, mirror=mirror)


def collate_pairs(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack items into a batch: image (B, 3, S, S), mask (B, S, S), label (B,)."""
    return {
        "image": torch.stack([it["image"] for it in items]),
        "mask": torch.stack([it["mask"] for it in items]),
        "label": torch.tensor([int(it["label"]) for it in items], dtype=torch.long),
    }


# ------------------------------------------------------------------------------ phase-1 sources
@dataclass(frozen=True)
class Photo:
    """A pristine photo for phase 1: path, name, and camera id (``camera:`` + :func:`trufor.exif.camera_model`,
    or ``image:<name>`` when unknown). ``unseen_camera``: its camera model is held out whole (never trained on)."""

    path: str
    name: str
    camera: str
    unseen_camera: bool = False

    @property
    def known_camera(self) -> bool:
        return self.camera.startswith("camera:")


def read_camera_manifest(path: str | os.PathLike) -> dict[str, str]:
    """File name -> camera model from a manifest CSV with columns ``file`` and ``source``, where ``source``
    is the original path ``Make/Model/...`` (as ``pristine/digicam/manifest.csv``): the camera of photos
    whose EXIF lost its make and model."""
    import csv

    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the camera manifest ({exc.strerror or exc})") from None
    if rows and not {"file", "source"} <= set(rows[0]):
        raise ConfigError(f"{path}: a camera manifest needs the columns 'file' and 'source' (Make/Model/...)")
    out: dict[str, str] = {}
    for row in rows:
        parts = [p for p in (row.get("source") or "").replace("\\", "/").split("/") if p]
        cam = camera_name(parts[0], parts[1]) if len(parts) >= 3 else None
        if cam:
            out[row["file"]] = cam
    return out


def build_photo_sources(specs: Sequence[dict[str, Any]], *, default_split: str, where: str = "data.train") -> list[Photo]:
    """The pristine photos of phase 1 (``pristine`` sources; ``folder`` sources without masks work too).

    A ``pristine`` source takes its cameras from EXIF (``exif: false``: none), else from
    ``camera_manifest`` (a CSV, or ``auto``: ``manifest.csv`` in the folder when it has a ``source``
    column). ``holdout`` holds photos out by file name (held-out photos of cameras seen in training);
    ``camera_holdout`` holds whole camera models out by a hash of the model (photos of unseen cameras:
    in the validation split whatever their name, never in training).
    """
    photos: list[Photo] = []
    for i, spec in enumerate(specs):
        w = f"{where}.{i}"
        kind = _check_keys(spec, w)
        holdout, split = _split(spec, default_split, w)
        calibration = float(spec.get("calibration", 0.0))
        camera_holdout = float(spec.get("camera_holdout", 0.0))
        if not 0.0 <= camera_holdout < 1.0:
            raise ConfigError(f"{w}: camera_holdout must be in [0, 1), got {camera_holdout}")
        manifest_spec = spec.get("camera_manifest")
        if kind == "pristine":
            folders = spec.get("folders")
            if isinstance(folders, str):
                folders = [folders]
            if not folders:
                raise ConfigError(f"{w}: a pristine source needs 'folders: [DIR, ...]'")
            use_exif = bool(spec.get("exif", True))
        elif kind == "folder" and not spec.get("masks"):
            folders, use_exif = [spec["images"]], True
        else:
            raise ConfigError(f"{where}: phase 1 trains on pristine photos only ('pristine' sources), got {kind!r}")
        for folder in folders:
            manifest: dict[str, str] = {}
            if manifest_spec == "auto":
                auto = Path(folder) / "manifest.csv"
                if auto.is_file():
                    with auto.open(encoding="utf-8") as f:
                        header = f.readline()
                    if "source" in [h.strip() for h in header.split(",")]:
                        manifest = read_camera_manifest(auto)
            elif manifest_spec:
                manifest = read_camera_manifest(manifest_spec)
            for path, name in scan_folder(folder):
                cam = (camera_model(path) if use_exif else None) or manifest.get(name)
                unseen = cam is not None and held_out(f"camera:{cam}", camera_holdout)
                if unseen:
                    keep = split in ("val", "all")
                else:
                    keep = _keep(name, holdout, split, calibration)
                if not keep:
                    continue
                camera = f"camera:{cam}" if cam else f"image:{folder}/{name}"
                photos.append(Photo(path, f"{Path(folder).name}/{name}", camera, unseen))
    if not photos:
        raise ConfigError(f"{where}: no pristine photos found")
    return photos
