"""Training configuration: one YAML file per run, dotted command-line overrides, strict validation.

A config has the sections below; every key has a default, an unknown key is an error (with the
closest known key suggested), so a typo never silently trains with a default::

    phase: localization          # noiseprint (1) | localization (2) | confidence (3)
    model: {variant: trufor_small, init: ..., noiseprint_init: ...}
    data:  {train: [SOURCE, ...], val: [SOURCE, ...], crop_size: 512, workers: 2}
    train: {epochs: 10, batch_size: 4, lr: 0.005, ...}
    val:   {every: 1, best_metric: f1, ...}
    loss:  {...}
    noiseprint: {...}            # phase 1 only: patches and editing histories
    output: {dir: ${repo}/out/train/phase2}

Overrides are ``dotted.key=value`` strings; the value is parsed as YAML (``train.lr=0.01``,
``data.train.0.length=500``, ``model.init=null``, ``loss.class_weights=[0.5,2.5]``).

String values may use ``${repo}`` (the repository root: the nearest folder above the config file,
else above the installed package, holding ``pyproject.toml``), ``${shared}`` (``$TRUFOR_SHARED``,
else ``${repo}/../shared``) and ``${config_dir}`` (the folder of the config file). Relative paths
are relative to the current directory.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

PHASES: tuple[str, ...] = ("noiseprint", "localization", "confidence")
#: Accepted spellings of each phase (its number, "phase1", ...).
PHASE_ALIASES: dict[str, str] = {
    "1": "noiseprint", "phase1": "noiseprint", "np": "noiseprint", "noiseprint++": "noiseprint",
    "2": "localization", "phase2": "localization", "loc": "localization",
    "3": "confidence", "phase3": "confidence", "conf": "confidence", "detection": "confidence",
}


# ------------------------------------------------------------------------------------------ schema
@dataclass
class ModelSection:
    """Which network to train and where its starting weights come from.

    Attributes:
        variant: a registered variant (``trufor_small``, ``trufor_b2``, ...).
        init: a training checkpoint (``best.pt``/``last.pt`` of an earlier phase) whose weights
            start this phase (phase 3: phase 2's checkpoint), or a ``.safetensors`` model exported
            by ``trufor train export`` (fine-tuning). Only our own weights are accepted.
        noiseprint_init: phase 2 only: phase 1's checkpoint providing the (frozen) Noiseprint++, or an
            exported model of ours (its Noiseprint++ is taken).
        pretrained: phase 2 without ``init`` only: start both encoder branches from these openly
            licensed ImageNet weights (the encoder's name, e.g. ``efficientnet_lite0``; see
            :mod:`trufor.training.pretrained`), instead of from scratch.
        heads_from: phase 3 only: where the two trained parts (confidence decoder, detection head) start:
            null (default: the init's), ``random`` (afresh, drawn from ``train.seed``), or another weights file
            of ours (e.g. an earlier bundled model) whose two parts are taken; the rest (Noiseprint++, encoder,
            localization decoder) always comes from ``init``. An exported model's heads carry its folded
            calibration and its own phase 3.
    """

    variant: str = "trufor_small"
    init: str | None = None
    noiseprint_init: str | None = None
    pretrained: str | None = None
    heads_from: str | None = None


@dataclass
class DataSection:
    """Training and validation data.

    ``train``/``val`` are lists of sources (see :mod:`trufor.training.data`), each a mapping with a
    ``type``: ``synthetic`` (forgeries generated from pristine folders), ``folder`` (images + masks
    folders), ``list`` (the authors' list files: ``image,mask`` per line) or, for phase 1,
    ``pristine`` (folders of camera-original photos).

    ``image_level`` (phase 2): ``folder`` or ``list`` sources of whole images known only as manipulated or
    authentic (each with ``label: fake`` or ``real``), one drawn every ``train.image_level_every`` steps for the
    image-level loss (``loss.image_level_weight``); an image larger than ``image_level_max_side`` on a side gives a
    random window of that size there.

    ``mirror`` (phases 2 and 3): the probability that a training crop, and a drawn whole image, is mirrored left-right,
    and independently top-bottom (:class:`trufor.training.data.Mirrored`; on the 8-px grid, so the JPEG grid maps onto
    itself); 0 (default): never.
    """

    train: list[dict[str, Any]] = field(default_factory=list)
    val: list[dict[str, Any]] = field(default_factory=list)
    crop_size: int = 512
    val_crop_size: int | None = None
    grid_aligned_crops: bool = True
    workers: int = 0
    image_level: list[dict[str, Any]] = field(default_factory=list)
    image_level_max_side: int = 1024
    mirror: float = 0.0


@dataclass
class TrainSection:
    """Schedule, optimiser and run-time options.

    ``epochs`` x ``steps_per_epoch`` optimiser steps in all (``steps_per_epoch`` null: one pass over
    the training data per epoch). The learning rate follows the poly schedule
    ``lr * (1 - step / total) ** poly_power`` after an optional linear warm-up.
    ``checkpoint_every`` steps (and at every epoch end) ``last.pt`` is rewritten for resuming;
    ``stop_after`` ends this invocation after that many steps (checkpoint written), for tests and
    for slicing a long run into sessions. ``log_every`` steps a line (running loss, lr, s/step, ETA)
    goes to ``train.log`` and stderr (useful when the progress bar is off, e.g. under nohup).
    ``amp`` runs the forward pass under bfloat16 autocast (weights, optimiser and losses stay
    float32): on CUDA, and on CPUs with native bfloat16 (AVX512-BF16/AMX), where a step takes
    1.5-2.3x less time (benchmarks/train_step.py); validation and exported models stay float32.
    ``freeze`` lists parts of the network (parameter-name prefixes at a dot, e.g. ``backbone`` for both
    encoder branches and their fusion, ``backbone.extra_blocks`` for the stages of the Noiseprint++ branch alone) kept
    as they are on top of what the phase freezes: not optimised, and in eval mode at every step, so that
    their BatchNorm statistics stay too (fine-tuning a decoder on a few images of your own).
    ``batchnorm``: ``train`` (default) normalises each step by its batch's statistics and moves the running
    statistics, as ``nn.BatchNorm2d`` does in train mode; ``frozen`` puts every BatchNorm layer of the network in
    eval mode at every step, so a step normalises with the running statistics as loaded, exactly as inference does
    (their scale and shift are still trained; the statistics stay bit for bit). It matters most for
    ``data.image_level``, whose whole image goes through the network alone: in train mode it is normalised by its own
    statistics, so its image-level loss trains a function the exported model never computes (runs 39-40 of
    docs/MODEL_CARD.md measured both settings).
    ``image_level_every`` (phase 2, with ``data.image_level``): every that many steps, one whole image with an
    image-level label goes through the network beside the batch and adds its image-level loss (0: never).
    ``noiseprint`` (phase 2): ``frozen`` (default, the paper's recipe) keeps the Noiseprint++ extractor as loaded;
    ``trained`` trains its weights with the encoder and the localization decoder, end to end from the localization
    and image-level losses (its BatchNorm layers keep their running statistics, as inference). The extractor then
    stops being a camera-model fingerprint trained by phase 1 alone: it becomes the first layers of the detector.
    """

    epochs: int = 1
    steps_per_epoch: int | None = None
    batch_size: int = 4
    optimizer: str = "sgd"
    lr: float = 0.005
    momentum: float = 0.9
    weight_decay: float = 0.0005
    poly_power: float = 0.9
    warmup_steps: int = 0
    grad_clip: float | None = None
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    deterministic: bool = False
    threads: int | None = None
    checkpoint_every: int = 100
    stop_after: int | None = None
    resume: bool = True
    progress: bool = True
    log_every: int = 50
    freeze: list[str] = field(default_factory=list)
    batchnorm: str = "train"
    image_level_every: int = 0
    noiseprint: str = "frozen"


@dataclass
class ValSection:
    """Validation after every ``every`` epochs; ``best.pt`` keeps the best ``best_metric``.

    ``best_metric`` null: the phase's default (phase 1 ``pair_auc``, phase 2 ``f1``, phase 3
    ``det_auc``); ``best_mode`` null: ``max`` except for losses. ``batches`` caps the batches
    per validation (null: all).
    """

    every: int = 1
    batches: int | None = None
    batch_size: int | None = None
    best_metric: str | None = None
    best_mode: str | None = None


#: Values of ``loss.conf_balance`` (see :func:`trufor.training.losses.confidence_loss`).
CONF_BALANCES = ("none", "flagged")
#: train.batchnorm: BatchNorm layers normalised by the batch (train mode) or by their running statistics (frozen)
BATCHNORM_MODES = ("train", "frozen")
#: train.noiseprint: the Noiseprint++ extractor kept as loaded (the paper's phase 2) or trained end to end in phase 2
NOISEPRINT_MODES = ("frozen", "trained")


@dataclass
class LossSection:
    """Loss weights of the three phases (defaults: the TruFor paper's)."""

    # phase 2: ce_weight * weighted cross-entropy + dice_weight * Dice of the forged class
    ce_weight: float = 0.3
    dice_weight: float = 0.7
    class_weights: list[float] = field(default_factory=lambda: [0.5, 2.5])
    dice_smooth: float = 1.0
    dice_exponent: float = 2.0
    ignore_index: int = -1
    # phase 3: conf_weight * MSE(confidence, true-class probability) + det_weight * weighted BCE
    conf_weight: float = 1.0
    det_weight: float = 0.5
    det_class_weights: list[float] = field(default_factory=lambda: [0.5 / 0.3, 0.5 / 0.7])
    det_min_pixels: int = 4
    conf_erode: int = 15
    conf_dilate: int = 11
    # phase 3: the detection head pools the confidence logits detached, so that the confidence decoder learns from
    # its own loss (the TCP target) only; false (the paper's joint training): the detection loss trains it too
    det_detach_conf: bool = False
    # phase 3: how the confidence loss weighs its pixels: "none" (the paper: every valid pixel alike), "flagged" (the
    # pixels the localization flags, where the map is at or above 0.5, weigh as much in all as the other pixels)
    conf_balance: str = "none"
    # phase 2, whole images with an image-level label only (data.image_level): image_level_weight * the binary
    # cross-entropy of the mean forged-minus-pristine logit over the image's top image_level_topk fraction of pixels
    image_level_weight: float = 0.5
    image_level_topk: float = 0.005
    # phase 1: contrastive loss over fingerprint distances
    temperature: float = 1.0
    border: int = 8
    center: bool = True
    # phase 1: compare fingerprints by correlation (each patch divided by its RMS) instead of raw MSE
    normalize: bool = False


@dataclass
class NoiseprintSection:
    """Phase 1 batches: each training item is one camera model (one source photo when the camera is
    unknown); it yields ``histories`` x ``offsets`` classes of ``patches`` patches each.

    A class is (camera, editing history, position on the 8x8 grid). A history is a random chain
    resize -> gamma -> brightness/contrast -> JPEG, each step applied with its probability.
    """

    patch_size: int = 48
    histories: int = 2
    offsets: int = 2
    patches: int = 2
    resize_prob: float = 0.5
    resize_range: list[float] = field(default_factory=lambda: [0.6, 1.5])
    gamma_prob: float = 0.3
    gamma_range: list[float] = field(default_factory=lambda: [0.7, 1.4])
    brightness_prob: float = 0.3
    brightness_range: list[float] = field(default_factory=lambda: [-0.1, 0.1])
    contrast_prob: float = 0.3
    contrast_range: list[float] = field(default_factory=lambda: [0.75, 1.25])
    jpeg_prob: float = 0.7
    jpeg_quality: list[int] = field(default_factory=lambda: [50, 100])
    # warm start: the first ``denoise_steps`` steps train the extractor as a residual denoiser
    # (predict white Gaussian noise of std ``denoise_sigma`` x 255 added to the patches), as the
    # original Noiseprint starts from a DnCNN denoiser; 0 = contrastive loss from the first step.
    denoise_steps: int = 0
    denoise_sigma: list[float] = field(default_factory=lambda: [1.0, 20.0])
    # after the warm start, keep ``denoise_weight`` x the denoising MSE (on noisy copies of every
    # other patch) beside the contrastive loss, so that the extractor stays a noise residual; 0 = off
    denoise_weight: float = 0.0
    # validation's camera probe (camera_auc, camera_unseen_auc): ``probe_patches`` unedited patches of
    # ``probe_size`` px per held-out photo with a known camera, compared with up to ``probe_references``
    # training photos of each seen camera; 0 patches = no probe
    probe_patches: int = 4
    probe_size: int = 64
    probe_references: int = 3


@dataclass
class OutputSection:
    """Where the run writes ``last.pt``, ``best.pt``, ``metrics.csv``, ``config.yaml``, ``train.log``.

    ``tensorboard``: ``auto`` (when the tensorboard package is installed), true or false.
    """

    dir: str = "out/train/run"
    tensorboard: Any = "auto"


@dataclass
class TrainingConfig:
    """A whole training run (see the module docstring)."""

    phase: str = "localization"
    description: str = ""
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    val: ValSection = field(default_factory=ValSection)
    loss: LossSection = field(default_factory=LossSection)
    noiseprint: NoiseprintSection = field(default_factory=NoiseprintSection)
    output: OutputSection = field(default_factory=OutputSection)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False, width=120)

    @property
    def phase_number(self) -> int:
        return PHASES.index(self.phase) + 1


# ---------------------------------------------------------------------------------------- parsing
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check/convert ``value`` to the annotated type ``tp`` (int, float, bool, str, list, dict, Optional)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is list:
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item_tp,) = args or (Any,)
        return [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, (dict, list)) or value is None:
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{where}: unsupported type {_type_name(tp)}")  # pragma: no cover


def _build(cls: type, data: Any, where: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), list(fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(fields)})"
        raise ConfigError(f"unknown config key {where + '.' if where else ''}{key}{hint}")
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        sub = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, sub)
        else:
            kwargs[name] = _coerce(value, tp, sub)
    return cls(**kwargs)


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def apply_override(data: dict[str, Any], override: str) -> None:
    """Apply one ``dotted.key=value`` override to the raw config mapping, in place."""
    if "=" not in override:
        raise ConfigError(f"override {override!r}: expected KEY=VALUE, e.g. train.lr=0.01")
    key, _, text = override.partition("=")
    parts = [p for p in key.strip().split(".")]
    if not all(parts):
        raise ConfigError(f"override {override!r}: empty key part")
    value = _parse_value(text)
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            node = node[_list_index(node, part, where, override)]
        elif isinstance(node, dict):
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
        else:
            raise ConfigError(f"override {override!r}: {where} is not a section")
    last = parts[-1]
    if isinstance(node, list):
        node[_list_index(node, last, key, override)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"override {override!r}: {'.'.join(parts[:-1])} is not a section")


def _list_index(node: list, part: str, where: str, override: str) -> int:
    if not re.fullmatch(r"-?\d+", part):
        raise ConfigError(f"override {override!r}: {where} is a list; use a number, e.g. data.train.0.length=100")
    index = int(part)
    if not -len(node) <= index < len(node):
        raise ConfigError(f"override {override!r}: {where}: index {index} out of range (list of {len(node)})")
    return index


def find_repo_root(start: str | os.PathLike | None = None) -> Path:
    """The nearest folder at or above ``start`` (else above this package) holding ``pyproject.toml``."""
    candidates = []
    if start is not None:
        candidates.append(Path(start).resolve())
    candidates.append(Path(__file__).resolve().parent)
    for c in candidates:
        for p in (c, *c.parents):
            if (p / "pyproject.toml").is_file():
                return p
    return Path.cwd()


def shared_root(repo: Path | None = None) -> Path:
    """The shared data folder: ``$TRUFOR_SHARED``, else ``<repo>/../shared``."""
    env = os.environ.get("TRUFOR_SHARED")
    if env:
        return Path(env)
    return (repo or find_repo_root()).parent / "shared"


def _expand(obj: Any, variables: dict[str, str]) -> Any:
    if isinstance(obj, str):
        def sub(m: re.Match) -> str:
            name = m.group(1)
            if name not in variables:
                raise ConfigError(f"unknown variable ${{{name}}} in {obj!r}; known: "
                                  + ", ".join(f"${{{k}}}" for k in variables))
            return variables[name]

        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, obj)
    if isinstance(obj, list):
        return [_expand(v, variables) for v in obj]
    if isinstance(obj, dict):
        return {k: _expand(v, variables) for k, v in obj.items()}
    return obj


def config_from_dict(data: dict[str, Any], *, overrides: list[str] | tuple[str, ...] = (),
                     config_dir: str | os.PathLike | None = None) -> TrainingConfig:
    """Validate a raw config mapping (after applying ``overrides``) into a :class:`TrainingConfig`."""
    data = copy.deepcopy(data or {})
    if not isinstance(data, dict):
        raise ConfigError(f"a training config is a mapping of sections, got {type(data).__name__}")
    for ov in overrides:
        apply_override(data, ov)
    repo = find_repo_root(config_dir)
    variables = {
        "repo": str(repo),
        "shared": str(shared_root(repo)),
        "config_dir": str(Path(config_dir).resolve()) if config_dir is not None else str(Path.cwd()),
    }
    data = _expand(data, variables)
    phase = str(data.get("phase", "localization")).lower()
    data["phase"] = PHASE_ALIASES.get(phase, phase)
    cfg = _build(TrainingConfig, data, "")
    validate(cfg)
    return cfg


def load_config(path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()) -> TrainingConfig:
    """Read a YAML training config and apply dotted overrides (``train.lr=0.01``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    try:
        return config_from_dict(data or {}, overrides=overrides, config_dir=path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def validate(cfg: TrainingConfig) -> None:
    """Value checks that types alone cannot express."""
    if cfg.phase not in PHASES:
        raise ConfigError(f"phase: unknown phase {cfg.phase!r}; choose {', '.join(PHASES)} (or 1, 2, 3)")
    from ..modeling.variants import VARIANTS

    if cfg.model.variant not in VARIANTS:
        raise ConfigError(f"model.variant: unknown variant {cfg.model.variant!r}; known: {', '.join(VARIANTS)}")
    t = cfg.train
    positive = {"train.epochs": t.epochs, "train.batch_size": t.batch_size, "train.checkpoint_every": t.checkpoint_every,
                "val.every": cfg.val.every, "data.crop_size": cfg.data.crop_size}
    for name, v in positive.items():
        if v < 1:
            raise ConfigError(f"{name}: must be at least 1, got {v}")
    for name, v in {"train.steps_per_epoch": t.steps_per_epoch, "train.stop_after": t.stop_after,
                    "val.batches": cfg.val.batches, "val.batch_size": cfg.val.batch_size}.items():
        if v is not None and v < 1:
            raise ConfigError(f"{name}: must be at least 1 (or null), got {v}")
    if t.lr <= 0:
        raise ConfigError(f"train.lr: must be positive, got {t.lr}")
    for part in t.freeze:
        if not part.strip() or part != part.strip(". "):
            raise ConfigError(f"train.freeze: {part!r} is not a part name (a parameter-name prefix such as backbone "
                              "or backbone.extra_blocks)")
    if t.batchnorm not in BATCHNORM_MODES:
        raise ConfigError(f"train.batchnorm: choose {' or '.join(BATCHNORM_MODES)}, got {t.batchnorm!r}")
    if t.batchnorm == "frozen" and not cfg.model.init:
        raise ConfigError("train.batchnorm: frozen keeps the running statistics of the weights a phase starts from; "
                          "without model.init there are none to keep (a network built afresh has mean 0 and variance 1 "
                          "everywhere): give model.init, or leave train.batchnorm at train")
    if t.noiseprint not in NOISEPRINT_MODES:
        raise ConfigError(f"train.noiseprint: choose {' or '.join(NOISEPRINT_MODES)}, got {t.noiseprint!r}")
    if t.noiseprint == "trained" and cfg.phase != "localization":
        raise ConfigError(f"train.noiseprint: trained applies to phase 2 (localization); phase {cfg.phase!r} "
                          "trains its own parts only")
    if t.optimizer.lower() not in ("sgd", "adam", "adamw"):
        raise ConfigError(f"train.optimizer: choose sgd, adam or adamw, got {t.optimizer!r}")
    if cfg.val.best_mode not in (None, "max", "min"):
        raise ConfigError(f"val.best_mode: choose max or min, got {cfg.val.best_mode!r}")
    if cfg.loss.conf_balance not in CONF_BALANCES:
        raise ConfigError(f"loss.conf_balance: choose {' or '.join(CONF_BALANCES)}, got {cfg.loss.conf_balance!r}")
    if cfg.data.image_level or t.image_level_every:
        if cfg.phase != "localization":
            raise ConfigError("data.image_level / train.image_level_every: phase 2 (localization) only")
        if not cfg.data.image_level or t.image_level_every < 1:
            raise ConfigError("data.image_level and train.image_level_every go together: sources of whole images and "
                              "how often one is drawn (every N >= 1 steps)")
    if t.image_level_every < 0:
        raise ConfigError(f"train.image_level_every: 0 (never) or more, got {t.image_level_every}")
    if cfg.data.image_level_max_side < 64 or cfg.data.image_level_max_side % 32:
        raise ConfigError(f"data.image_level_max_side: a multiple of 32, at least 64, got {cfg.data.image_level_max_side}")
    if not 0.0 < cfg.loss.image_level_topk <= 1.0:
        raise ConfigError(f"loss.image_level_topk: a fraction of the pixels in (0, 1], got {cfg.loss.image_level_topk}")
    if not (math.isfinite(cfg.loss.image_level_weight) and cfg.loss.image_level_weight >= 0):
        raise ConfigError(f"loss.image_level_weight: a number >= 0, got {cfg.loss.image_level_weight}")
    if len(cfg.loss.class_weights) != 2 or len(cfg.loss.det_class_weights) != 2:
        raise ConfigError("loss.class_weights and loss.det_class_weights take two numbers: [pristine, forged]")
    if not 0.0 <= cfg.data.mirror <= 1.0:
        raise ConfigError(f"data.mirror: a probability between 0 and 1, got {cfg.data.mirror}")
    if cfg.data.mirror and cfg.phase == "noiseprint":
        raise ConfigError("data.mirror: phases 2 and 3 only (phase 1 draws its own patches)")
    if cfg.data.grid_aligned_crops and cfg.data.crop_size % 8:
        raise ConfigError(f"data.crop_size: must be a multiple of 8 with grid_aligned_crops, got {cfg.data.crop_size}")
    n = cfg.noiseprint
    if n.histories < 1 or n.offsets < 1 or n.patches < 1 or n.histories * n.offsets * n.patches < 2:
        raise ConfigError("noiseprint.histories, offsets, patches: at least 1 each, and 2 patches per item in all")
    if n.offsets > 64:
        raise ConfigError("noiseprint.offsets: at most 64 positions on the 8x8 grid")
    if n.probe_patches < 0 or n.probe_size < 16 or n.probe_references < 0:
        raise ConfigError("noiseprint.probe_patches >= 0, probe_size >= 16 and probe_references >= 0, got "
                          f"{n.probe_patches}, {n.probe_size}, {n.probe_references}")
    if not (math.isfinite(n.denoise_weight) and n.denoise_weight >= 0):
        raise ConfigError(f"noiseprint.denoise_weight: a number >= 0, got {n.denoise_weight}")
    if n.denoise_steps < 0 or not (0 <= n.denoise_sigma[0] <= n.denoise_sigma[1]) or n.denoise_sigma[1] <= 0:
        raise ConfigError("noiseprint.denoise_steps >= 0 and 0 <= denoise_sigma[0] <= denoise_sigma[1], "
                          "denoise_sigma[1] > 0")
    if n.patch_size < 16:
        raise ConfigError(f"noiseprint.patch_size: at least 16, got {n.patch_size}")
    if 2 * cfg.loss.border >= n.patch_size and cfg.phase == "noiseprint":
        raise ConfigError("loss.border: must leave pixels inside noiseprint.patch_size")
    if cfg.phase == "confidence" and not cfg.model.init:
        raise ConfigError("model.init: phase 3 (confidence) starts from phase 2's checkpoint; set model.init")
    if cfg.model.heads_from is not None and cfg.phase != "confidence":
        raise ConfigError("model.heads_from: phase 3 (confidence) only: it sets where the parts phase 3 trains start")
    if cfg.model.heads_from == "":
        raise ConfigError("model.heads_from: null, 'random' or a weights file")
    if cfg.phase == "localization" and not cfg.model.noiseprint_init and not cfg.model.init:
        raise ConfigError("model.noiseprint_init: phase 2 needs phase 1's checkpoint (our own Noiseprint++); "
                          "set model.noiseprint_init (or model.init to resume from a phase-2 checkpoint)")
    if not cfg.data.train:
        raise ConfigError("data.train: no training data sources")
    for i, src in enumerate(cfg.data.train + cfg.data.val):
        if not isinstance(src, dict) or "type" not in src:
            raise ConfigError(f"data source {i}: a mapping with a 'type' (synthetic, folder, list, pristine)")
