"""Seeded synthetic forgeries from a folder of pristine photos: sample generator, torch Dataset, writer.

Sample ``index`` of epoch ``epoch`` is a pure function of ``(seed, epoch, index)`` and the source
list: its random numbers come from ``numpy.random.SeedSequence([seed, epoch, index])``, never from a
global or per-worker state, so the data do not depend on the number of DataLoader workers nor on
the order in which they ask for items.

One sample:

1. host = ``sources[index % len(sources)]`` (every photo is used once per ``len(sources)`` items);
2. a window of at most ``work_size`` px is cut from large hosts (offsets on the 8 px JPEG grid);
3. pristine with probability ``pristine_fraction``; else a forgery kind is drawn
   (splice, copymove, inpaint, retouch; see :mod:`trufor.synthesis.forgeries`); a splice donor is another
   photo, of another camera model when EXIF make+model of both are known and one exists; with
   probability ``donor_jpeg_prob`` the donor first gets a JPEG history of its own (saved at a quality
   drawn in ``donor_quality_range``, on a grid shifted by 0-7 px), as a region copied from a web image;
   with probability ``web_prob`` the forgery is made **at web scale**: host and donor are first whole web
   copies (:func:`trufor.synthesis.processing.web_copy`: downscaled to a longer side of 384-1024 px, saved
   as JPEG once or twice), so the edit meets images whose camera traces the downscaling erased and whose
   JPEG grid the host keeps, as when a photo found online is edited and saved again; with probability
   ``gradient_prob`` a splice or copy-move is pasted in the gradient domain (Poisson blending, as a seamless paste
   or a healing brush: the pasted content takes the host's colours at its border and leaves no seam);
4. the whole-image chain (:mod:`trufor.synthesis.processing`): resize, crop to ``size``, JPEG.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..errors import OutputError
from ..exif import camera_model
from ..imageio import read_image, scan_images
from .forgeries import DEFAULT_AREA, KINDS, ManipulationFailed, make_forgery
from .processing import ChainConfig, apply_chain, jpeg_decode, jpeg_encode, web_copy
from .regions import SHAPES

FAKE_LIST, REAL_LIST, MANIFEST = "fake_list.txt", "real_list.txt", "manifest.csv"
MANIFEST_FIELDS: tuple[str, ...] = ("file", "mask", "kind", "label", "params", "sources")


# ----------------------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class SourceImage:
    """A pristine photo: absolute ``path``, ``name`` relative to the scanned folder, camera model
    (:func:`trufor.exif.camera_model`; None when unknown)."""

    path: str
    name: str
    camera: str | None = None


def scan_sources(root: str | os.PathLike, *, read_exif: bool = True) -> list[SourceImage]:
    """Every image under ``root`` (recursively, :func:`trufor.imageio.scan_images`), sorted by relative path."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: not a folder of images")
    found = [SourceImage(os.path.abspath(path), name, camera_model(str(path)) if read_exif else None)
             for path, name in scan_images(root)]
    found.sort(key=lambda s: s.name)
    return found


def choose_donor(
    rng: np.random.Generator, sources: Sequence[SourceImage], host: int, prefer_other_camera: bool = True
) -> tuple[int, bool | None]:
    """Index of a splice donor other than ``host``; and whether its camera model differs (None: unknown).

    Prefers a donor whose known camera model differs from the host's known one.
    """
    n = len(sources)
    if n < 2:
        return host, None  # a lone photo is its own donor (a different region of it)
    cam = sources[host].camera
    candidates = [i for i in range(n) if i != host]
    if prefer_other_camera and cam is not None:
        other = [i for i in candidates if sources[i].camera is not None and sources[i].camera != cam]
        if other:
            candidates = other
    donor = candidates[int(rng.integers(len(candidates)))]
    dcam = sources[donor].camera
    return donor, (None if cam is None or dcam is None else dcam != cam)


# ------------------------------------------------------------------------------------------ config
@dataclass(frozen=True)
class SynthConfig:
    """What to generate. ``size`` None: no crop; ``work_size`` None: ``ceil(size / min scale)``."""

    kinds: tuple[str, ...] = KINDS
    kind_weights: tuple[float, ...] | None = None
    pristine_fraction: float = 0.2
    size: int | None = 512
    chain: ChainConfig = field(default_factory=ChainConfig)
    shapes: tuple[str, ...] = SHAPES
    area: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_AREA))
    work_size: int | None = None
    prefer_other_camera: bool = True
    donor_jpeg_prob: float = 0.0
    donor_quality_range: tuple[int, int] = (50, 95)
    web_prob: float = 0.0
    web_pristine_fraction: float | None = None  # the pristine fraction of web-scale items (None: pristine_fraction)
    gradient_prob: float = 0.0

    def __post_init__(self):
        bad = [k for k in self.kinds if k not in KINDS]
        if bad or not self.kinds:
            raise ValueError(f"unknown forgery kind(s) {bad}; choose from {', '.join(KINDS)}")
        if not 0.0 <= self.pristine_fraction <= 1.0:
            raise ValueError("pristine_fraction must be in [0, 1]")
        if self.kind_weights is not None and len(self.kind_weights) != len(self.kinds):
            raise ValueError("kind_weights needs one weight per kind")
        if self.size is not None and self.size < 8:
            raise ValueError("size must be at least 8 pixels (or None)")
        if not 0.0 <= self.donor_jpeg_prob <= 1.0:
            raise ValueError("donor_jpeg_prob must be in [0, 1]")
        if not 0.0 <= self.web_prob <= 1.0:
            raise ValueError("web_prob must be in [0, 1]")
        if self.web_pristine_fraction is not None and not 0.0 <= self.web_pristine_fraction <= 1.0:
            raise ValueError("web_pristine_fraction must be in [0, 1] (or None)")
        if not 0.0 <= self.gradient_prob <= 1.0:
            raise ValueError("gradient_prob must be in [0, 1]")
        bad = [s for s in self.shapes if s not in SHAPES]
        if bad or not self.shapes:
            raise ValueError(f"unknown region shape(s) {bad}; choose from {', '.join(SHAPES)}")
        lo, hi = self.donor_quality_range
        if not 1 <= lo <= hi <= 100:
            raise ValueError("donor_quality_range must be two JPEG qualities 1 <= lo <= hi <= 100")

    @property
    def window(self) -> int | None:
        if self.work_size is not None:
            return self.work_size
        if self.size is None:
            return None
        return int(math.ceil(self.size / max(min(self.chain.scale_range), 1e-3)))


@dataclass
class Sample:
    """One generated image. ``label`` 1 = fake, 0 = real (pristine).

    ``mask`` (uint8 0/1, H x W) marks the pixels whose value the manipulation changed; ``region``
    (uint8 0/1) where it was allowed to act (``mask`` is inside it, up to resize rounding).
    """

    index: int
    image: np.ndarray
    mask: np.ndarray
    label: int
    kind: str
    params: dict
    sources: list[str]
    jpeg_bytes: bytes | None = None
    region: np.ndarray | None = None

    def target(self, ignore_unchanged: bool = True) -> np.ndarray:
        """int64 (H, W) training target: 1 forged, 0 authentic, and -1 (ignore) for pixels of the
        manipulated region that kept their value (when ``ignore_unchanged``)."""
        t = self.mask.astype(np.int64)
        if ignore_unchanged and self.region is not None:
            t[(self.region > 0) & (self.mask == 0)] = -1
        return t


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` in ``epoch``: a function of these three numbers only."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch), int(index)]))


def _window(rng: np.random.Generator, image: np.ndarray, size: int | None) -> tuple[np.ndarray, list[int] | None]:
    """A random window of at most ``size`` px, with offsets on the 8 px grid (keeps JPEG blocks)."""
    h, w = image.shape[:2]
    if size is None or (h <= size and w <= size):
        return image, None
    ch, cw = min(h, size), min(w, size)
    top = 8 * int(rng.integers(0, (h - ch) // 8 + 1))
    left = 8 * int(rng.integers(0, (w - cw) // 8 + 1))
    return np.ascontiguousarray(image[top : top + ch, left : left + cw]), [top, left, ch, cw]


def donor_jpeg_history(rng: np.random.Generator, donor: np.ndarray, quality_range: tuple[int, int]) -> tuple[np.ndarray, dict]:
    """``donor`` saved as a JPEG of its own: quality uniform in ``quality_range``, 4:2:0, on a grid starting
    at (dy, dx) in 0..7; the first dy rows and dx columns stay as they were, so the shape is kept (and with
    it every later draw). Returns the pixels and the recipe."""
    quality = int(rng.integers(quality_range[0], quality_range[1] + 1))
    dy, dx = (int(v) for v in rng.integers(0, 8, size=2))
    if donor.shape[0] - dy < 16 or donor.shape[1] - dx < 16:
        dy = dx = 0
    out = donor.copy()
    out[dy:, dx:] = jpeg_decode(jpeg_encode(np.ascontiguousarray(donor[dy:, dx:]), quality, 2))
    return out, {"quality": quality, "grid_shift": [dy, dx]}


class SyntheticForgeries:
    """Deterministic sample generator over a list of pristine photos.

    ``sources`` is a folder (scanned with :func:`scan_sources`) or a list of :class:`SourceImage`.
    """

    def __init__(self, sources, config: SynthConfig | None = None, seed: int = 0):
        if isinstance(sources, (str, os.PathLike)):
            sources = scan_sources(sources)
        self.sources: list[SourceImage] = list(sources)
        if not self.sources:
            raise ValueError("no source images (jpg, png, tif) found")
        self.config = config or SynthConfig()
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.sources)

    def sample(self, index: int, epoch: int = 0) -> Sample:
        cfg = self.config
        ss = np.random.SeedSequence([self.seed, int(epoch), int(index)])
        # spawn(7) keeps the first streams of the former spawn(4), spawn(5) and spawn(6): samples without a donor
        # history, a web-scale edit or a gradient-domain paste are unchanged
        r_kind, r_host, r_forge, r_chain, r_donor, r_web, r_blend = (np.random.default_rng(s) for s in ss.spawn(7))
        host_i = int(index) % len(self.sources)
        # the web draw is the first of its own stream, so drawing it first changes no sample; a web-scale item may
        # have a pristine fraction of its own (web_pristine_fraction), from the same uniform draw
        web = cfg.web_prob > 0 and r_web.random() < cfg.web_prob
        p_pristine = cfg.pristine_fraction
        if web and cfg.web_pristine_fraction is not None:
            p_pristine = cfg.web_pristine_fraction
        pristine = r_kind.random() < p_pristine
        w = np.ones(len(cfg.kinds)) if cfg.kind_weights is None else np.asarray(cfg.kind_weights, float)
        kind = cfg.kinds[int(r_kind.choice(len(cfg.kinds), p=w / w.sum()))]
        gradient = None  # a splice or copy-move pasted in the gradient domain: "normal" 80 %, "mixed" 20 %
        if kind in ("splice", "copymove") and cfg.gradient_prob > 0 and r_blend.random() < cfg.gradient_prob:
            gradient = "normal" if r_blend.random() < 0.8 else "mixed"
        params: dict = {}

        def load(src: SourceImage, role: str) -> tuple[np.ndarray, list[int] | None]:
            pixels = read_image(src.path).pixels
            if web:  # the whole photo as found online, then the usual window (rarely needed at web sizes)
                pixels, _, _, recipe = web_copy(pixels, r_web)
                params.setdefault("web", {})[role] = recipe
            return _window(r_host, pixels, cfg.window)

        host_src = self.sources[host_i]
        host, host_win = load(host_src, "host")
        if host_win:
            params["host_window"] = host_win
        names = [host_src.name]
        if host_src.camera:
            params["host_camera"] = host_src.camera
        if pristine:
            kind, image, mask = "pristine", host, np.zeros(host.shape[:2], bool)
            region = mask
        else:
            donor = None
            if kind == "splice":
                d_i, cross = choose_donor(r_host, self.sources, host_i, cfg.prefer_other_camera)
                donor, d_win = load(self.sources[d_i], "donor")
                names.append(self.sources[d_i].name)
                params.update(donor_camera=self.sources[d_i].camera, cross_camera=cross, donor_window=d_win)
                if cfg.donor_jpeg_prob > 0 and r_donor.random() < cfg.donor_jpeg_prob:
                    donor, params["donor_jpeg"] = donor_jpeg_history(r_donor, donor, cfg.donor_quality_range)
            try:
                forgery = make_forgery(
                    kind, r_forge, host, donor, area=cfg.area.get(kind), shapes=cfg.shapes, gradient=gradient
                )
            except ManipulationFailed as exc:  # e.g. a flat saturated photo: keep it, as pristine
                params["fallback"] = str(exc)
                kind, image, mask = "pristine", host, np.zeros(host.shape[:2], bool)
                region = mask
                names = names[:1]
            else:
                image, mask, region = forgery.image, forgery.mask, forgery.region
                params["manipulation"] = forgery.params
                params["changed_pixels"] = int(mask.sum())
        out = apply_chain(r_chain, image, mask, cfg.chain, cfg.size, region=region)
        params["chain"] = out.params
        label = int(kind != "pristine")
        return Sample(
            int(index), out.image, out.mask.astype(np.uint8), label, kind, params, names,
            out.jpeg_bytes, out.region.astype(np.uint8),
        )


# ----------------------------------------------------------------------------------------- dataset
try:  # torch is a dependency of the package, but keep the generator importable without it
    from torch.utils.data import Dataset as _TorchDataset
except ImportError:  # pragma: no cover
    _TorchDataset = object


class SyntheticForgeryDataset(_TorchDataset):
    """A map-style torch Dataset of on-the-fly synthetic forgeries, deterministic in (seed, epoch, index).

    Item ``i`` is a dict:

    * ``image``: float32 tensor (3, size, size) = uint8 / 256 (``as_tensor=True``), else uint8 (size, size, 3);
    * ``mask``: int64 (size, size): 1 forged (value changed), 0 authentic, -1 ignore: padding, and
      (``ignore_unchanged=True``) pixels inside the manipulated region whose value did not change;
    * ``label``: 1 fake, 0 real (int); ``kind``: "splice" | "copymove" | "inpaint" | "retouch" | "pristine";
    * ``index`` (int) and ``params`` (JSON string: the full recipe, sources included).

    Images smaller than ``size`` after the chain are padded at the bottom/right (image 0, mask -1);
    ``size=None`` gives whole images (variable sizes: batch size 1 or a custom collate).
    Call :meth:`set_epoch` before each epoch (non-persistent workers) for new draws per epoch.
    """

    def __init__(
        self,
        sources,
        length: int | None = None,
        *,
        seed: int = 0,
        size: int | None = 512,
        kinds: Sequence[str] = KINDS,
        pristine_fraction: float = 0.2,
        chain: ChainConfig | None = None,
        config: SynthConfig | None = None,
        as_tensor: bool = True,
        ignore_unchanged: bool = True,
        epoch: int = 0,
        donor_jpeg_prob: float = 0.0,
        web_prob: float = 0.0,
        shapes: Sequence[str] = SHAPES,
        gradient_prob: float = 0.0,
        web_pristine_fraction: float | None = None,
    ):
        if config is None:
            config = SynthConfig(
                kinds=tuple(kinds), pristine_fraction=pristine_fraction, size=size, chain=chain or ChainConfig(),
                donor_jpeg_prob=donor_jpeg_prob, web_prob=web_prob, shapes=tuple(shapes), gradient_prob=gradient_prob,
                web_pristine_fraction=web_pristine_fraction,
            )
        self.generator = SyntheticForgeries(sources, config, seed)
        self.length = len(self.generator) if length is None else int(length)
        self.as_tensor = as_tensor
        self.ignore_unchanged = ignore_unchanged
        self.epoch = int(epoch)

    @property
    def config(self) -> SynthConfig:
        return self.generator.config

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(index)
        s = self.generator.sample(index, self.epoch)
        image, mask = s.image, s.target(self.ignore_unchanged)
        size = self.config.size
        if size is not None and image.shape[:2] != (size, size):
            h, w = image.shape[:2]
            padded = np.zeros((size, size, 3), np.uint8)
            padded[:h, :w] = image
            pmask = np.full((size, size), -1, np.int64)
            pmask[:h, :w] = mask
            image, mask = padded, pmask
        params = json.dumps({"sources": s.sources, **s.params}, sort_keys=True)
        item = {"label": s.label, "kind": s.kind, "index": s.index, "params": params}
        if self.as_tensor:
            import torch

            item["image"] = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 256.0
            item["mask"] = torch.from_numpy(mask)
        else:
            item["image"], item["mask"] = image, mask
        return item


# ------------------------------------------------------------------------------------------ writer
def _write(path: str, data: bytes) -> None:
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def _png_bytes(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def write_dataset(
    sources,
    out_dir: str | os.PathLike,
    n: int,
    *,
    seed: int = 0,
    config: SynthConfig | None = None,
    start: int = 0,
    progress: Callable[[int, Sample], None] | None = None,
) -> dict:
    """Write samples ``start .. start+n-1`` (epoch 0) to ``out_dir`` in the authors' list format.

    Layout: ``fake/NNNNNN.{png,jpg}`` + ``masks/NNNNNN.png`` (0/255), ``real/NNNNNN.{png,jpg}``;
    ``fake_list.txt`` (``image,mask`` per line), ``real_list.txt`` (``image`` per line), paths
    relative to ``out_dir``; ``manifest.csv`` (file, mask, kind, label, params JSON, sources joined
    by ``;``). A JPEG is written with the exact bytes the chain produced; other images as PNG.
    The files written are those of :class:`SyntheticForgeryDataset` items (before padding).
    Returns counts per kind.
    """
    gen = SyntheticForgeries(sources, config, seed)
    out_dir = os.fspath(out_dir)
    for sub in ("fake", "masks", "real"):
        try:
            os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{out_dir}: cannot create output folder ({exc.strerror or exc})") from exc
    fake_lines, real_lines, rows = [], [], []
    counts: dict[str, int] = {}
    for index in range(start, start + n):
        s = gen.sample(index)
        stem = f"{index:06d}"
        ext = ".jpg" if s.jpeg_bytes is not None else ".png"
        rel = f"{'fake' if s.label else 'real'}/{stem}{ext}"
        _write(os.path.join(out_dir, rel), s.jpeg_bytes if s.jpeg_bytes is not None else _png_bytes(s.image))
        rel_mask = ""
        if s.label:
            rel_mask = f"masks/{stem}.png"
            _write(os.path.join(out_dir, rel_mask), _png_bytes(s.mask.astype(np.uint8) * 255))
            fake_lines.append(f"{rel},{rel_mask}")
        else:
            real_lines.append(rel)
        rows.append(
            {
                "file": rel,
                "mask": rel_mask,
                "kind": s.kind,
                "label": s.label,
                "params": json.dumps(s.params, sort_keys=True),
                "sources": ";".join(s.sources),
            }
        )
        counts[s.kind] = counts.get(s.kind, 0) + 1
        if progress is not None:
            progress(index, s)
    for name, lines in ((FAKE_LIST, fake_lines), (REAL_LIST, real_lines)):
        _write(os.path.join(out_dir, name), "".join(line + "\n" for line in lines).encode())
    try:
        with open(os.path.join(out_dir, MANIFEST), "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise OutputError(f"{out_dir}/{MANIFEST}: cannot write ({exc.strerror or exc})") from exc
    return counts


def read_list(path: str | os.PathLike) -> list[tuple[str, ...]]:
    """Parse a list file: one tuple per non-empty line (``(image, mask)`` for fake, ``(image,)`` for real).

    Paths are returned as written (relative to the list's folder).
    """
    with open(path, encoding="utf-8") as f:
        return [tuple(p.strip() for p in line.rstrip("\n").split(",")) for line in f if line.strip()]
