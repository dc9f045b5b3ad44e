"""The training loop shared by the three phases.

:func:`train` runs one config to completion (or to ``train.stop_after`` steps) and can be killed
and rerun at any time: it continues from ``<output>/last.pt``. What it provides:

* **Resume.** ``last.pt`` (model, optimiser, step, position in the epoch, metric history, best
  value) is rewritten every ``train.checkpoint_every`` steps, at every epoch end, on Ctrl-C and on
  SIGTERM, atomically (temporary file + ``os.replace``). Data are a function of
  (seed, epoch, index) and the random state of each step is seeded from (seed, step, rank), so a
  resumed run computes the same steps as an uninterrupted one.
* **Schedule.** ``epochs x steps_per_epoch`` steps, poly learning rate
  ``lr (1 - step/total)^poly_power`` after an optional linear warm-up; SGD (default), Adam or AdamW.
* **Reporting.** A tqdm progress bar with the running loss, learning rate and ETA; one row per epoch
  in ``metrics.csv`` (train loss and its parts, validation metrics, seconds per step);
  TensorBoard scalars when the package is installed; ``train.log``.
* **Validation and best checkpoint.** After every ``val.every`` epochs on the validation sources;
  ``best.pt`` keeps the model with the best ``val.best_metric`` (the latest one when there is no
  validation data).
* **Devices.** CPU or CUDA (``train.device``), optional bfloat16 autocast (``train.amp``) of the
  forward pass on CUDA and on CPUs with native bfloat16 (1.5-2.3x faster steps there; validation stays fp32);
  several GPUs or processes with ``torchrun`` (DistributedDataParallel; NCCL on CUDA, Gloo on CPU):
  each rank takes its share of every batch, rank 0 validates and writes files.

The parts the loop drives: the phase (:mod:`.phases`, an object of the :class:`~.phase_api.Phase`
protocol), the checkpoint format (:mod:`.checkpoint`: only our own checkpoints are accepted as
``model.init`` / ``model.noiseprint_init``), and the runtime (:mod:`.runtime`: devices, processes,
threads, signals).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import os
import platform
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Sampler

from ..errors import TrainingError
# Licence prefixes of the weights `trufor train export` writes: facts of the weights registry.
from ..weights.registry import OWN_WEIGHTS_LICENCE_PREFIX, OWN_WEIGHTS_LICENCE_PREFIXES  # noqa: F401
from .checkpoint import (BEST, LAST, Progress, atomic_torch_save, check_resumable, checkpoint_state,
                         load_training_checkpoint)
from .config import TrainingConfig, config_from_dict
from .freezing import batchnorm_to_eval, freeze_parts, frozen_to_eval
from .phases import Phase, make_phase
from .runtime import StopRequest, configure_torch, cpu_has_fast_bf16, git_commit, setup_distributed

# Names that moved to .checkpoint and .runtime (or are used by them), still importable from here.
from .checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, config_of_checkpoint, plain  # noqa: F401, E402
from .runtime import Dist  # noqa: F401, E402

METRICS, LOG, CONFIG_COPY = "metrics.csv", "train.log", "config.yaml"


# ---------------------------------------------------------------------------------------- sampling
class EpochBatchSampler(Sampler[list[int]]):
    """Batches of one epoch: ``num_batches`` batches of ``batch_size`` indices for this rank.

    The epoch's order is a seeded permutation of the dataset (repeated when more batches are asked
    than it holds); global batch ``b`` is split among ranks. ``skip`` batches are left out at the
    start (resuming mid-epoch).
    """

    def __init__(self, n: int, batch_size: int, num_batches: int, *, seed: int, epoch: int, shuffle: bool = True,
                 rank: int = 0, world: int = 1, skip: int = 0) -> None:
        self.n, self.batch_size, self.num_batches = n, batch_size, num_batches
        self.seed, self.epoch, self.shuffle = seed, epoch, shuffle
        self.rank, self.world, self.skip = rank, world, skip

    def order(self) -> list[int]:
        import numpy as np

        need = self.num_batches * self.batch_size * self.world
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch, 0x5EED]))
        chunks, total = [], 0
        while total < need:
            chunk = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
            chunks.append(chunk)
            total += len(chunk)
        return [int(i) for i in np.concatenate(chunks)[:need]]

    def __iter__(self) -> Iterator[list[int]]:
        order = self.order()
        bs, w = self.batch_size, self.world
        for b in range(self.skip, self.num_batches):
            start = (b * w + self.rank) * bs
            yield order[start:start + bs]

    def __len__(self) -> int:
        return max(0, self.num_batches - self.skip)


def poly_lr(step: int, total: int, base: float, power: float, warmup: int = 0) -> float:
    """Learning rate of ``step`` (0-based): linear warm-up, then ``base (1 - step/total)^power``."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    return base * max(0.0, 1.0 - step / max(total, 1)) ** power


def step_seed(seed: int, step: int, rank: int) -> int:
    """The torch seed of one step (dropout etc.): a function of (seed, step, rank) only."""
    return (seed * 1_000_003 + step * 9_176 + rank * 7_919 + 12_345) % (2**63 - 1)


# ------------------------------------------------------------------------------------- reporting
def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def write_metrics_csv(path: Path, history: list[dict[str, Any]]) -> None:
    """Rewrite ``metrics.csv`` from the whole history (atomically), one row per epoch."""
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: _fmt(row.get(k, "")) for k in keys})
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    os.replace(tmp, path)


class _TensorBoard:
    def __init__(self, setting: Any, logdir: Path, enabled: bool) -> None:
        self.writer = None
        if not enabled or setting in (False, "false", "off", "no"):
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception:  # tensorboard not installed
            if setting is True:
                print("warning: output.tensorboard=true but the tensorboard package is not installed", file=sys.stderr)
            return
        self.writer = SummaryWriter(log_dir=str(logdir / "tensorboard"))

    def scalars(self, values: dict[str, Any], step: int, prefix: str = "") -> None:
        if self.writer is None:
            return
        for k, v in values.items():
            if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)):
                self.writer.add_scalar(prefix + k, v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# --------------------------------------------------------------------------------------- the loop
@dataclass
class TrainResult:
    """What a call of :func:`train` did."""

    output_dir: Path
    step: int
    total_steps: int
    finished: bool
    best_metric: str
    best_value: float | None
    history: list[dict[str, Any]]
    resumed_from: int | None
    seconds_per_step: float | None


def _make_optimizer(cfg: TrainingConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    t = cfg.train
    name = t.optimizer.lower()
    if name == "sgd":
        return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)


def _better(value: float, best: float | None, mode: str) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    return value > best if mode == "max" else value < best


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) and k == "image" else v)
            for k, v in batch.items()}


def train(cfg: TrainingConfig, *, command: str | None = None, log=None) -> TrainResult:
    """Run (or continue) the training described by ``cfg``; see the module docstring."""
    t = cfg.train
    ddp, device = setup_distributed(t.device)
    configure_torch(t.threads, t.deterministic)
    out_dir = Path(cfg.output.dir)
    phase = make_phase(cfg)
    best_metric = cfg.val.best_metric or phase.default_best_metric
    best_mode = cfg.val.best_mode or ("min" if "loss" in best_metric or "mse" in best_metric else "max")

    def say(msg: str) -> None:
        if not ddp.main:
            return
        line = f"[{_dt.datetime.now().strftime('%H:%M:%S')}] {msg}"
        (log or (lambda s: print(s, file=sys.stderr)))(line)
        out_dir.mkdir(parents=True, exist_ok=True)
        with open(out_dir / LOG, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    # data
    train_set, val_set = phase.datasets()
    if len(train_set) == 0:
        raise TrainingError("no training items")
    global_batch = t.batch_size * ddp.world
    batches_per_pass = len(train_set) // global_batch
    steps_per_epoch = t.steps_per_epoch or batches_per_pass
    if steps_per_epoch < 1:
        raise TrainingError(f"{len(train_set)} training items cannot fill one batch of {global_batch}; "
                            "lower train.batch_size or set train.steps_per_epoch")
    total = t.epochs * steps_per_epoch

    # model, optimiser
    torch.manual_seed(t.seed)
    net = phase.build_model()
    last_path = out_dir / LAST
    resume = load_training_checkpoint(last_path) if (t.resume and last_path.is_file()) else None
    if resume is not None:
        check_resumable(resume, cfg, last_path)
        net.load_state_dict(resume["model"], strict=True)
        init_info = resume.get("provenance", {}).get("init_info", {})
    else:
        init_info = phase.init_weights(net, load_training_checkpoint)
    net.to(device)
    params = freeze_parts(net, phase.trainable_parameters(net), t.freeze)
    if not params:
        raise TrainingError("nothing to train: no trainable parameters")
    module = phase.training_module(net)
    if ddp.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        module = DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = _make_optimizer(cfg, params)
    step, epoch, batch_in_epoch = 0, 0, 0
    history: list[dict[str, Any]] = []
    best_value: float | None = None
    epoch_sums: dict[str, float] = {}
    resumed_from = None
    if resume is not None:
        optimizer.load_state_dict(resume["optimizer"])
        done = Progress.of_checkpoint(resume)
        step, epoch, batch_in_epoch = done.step, done.epoch, done.batch_in_epoch
        history, best_value, epoch_sums = done.history, done.best_value, done.epoch_sums
        resumed_from = step
        if done.total_steps != total:
            say(f"note: schedule changed since the checkpoint ({done.total_steps} -> {total} steps)")
        say(f"resuming {cfg.phase} from {last_path} at step {step}/{total} (epoch {epoch + 1}, batch {batch_in_epoch})")
    else:
        say(f"starting {cfg.phase} (phase {cfg.phase_number}) of {cfg.model.variant}: {total} steps "
            f"({t.epochs} epochs x {steps_per_epoch}), batch {t.batch_size} x {ddp.world} rank(s), device {device}")
    say(f"data: {phase.summary}")
    if t.amp:
        slow = device.type == "cpu" and not cpu_has_fast_bf16()
        say("bfloat16 autocast of the forward pass (train.amp)"
            + ("; note: this CPU has no native bfloat16, it will be slower than float32, set train.amp=false"
               if slow else ""))

    repo_commit = git_commit()
    provenance = {
        "phase": cfg.phase,
        "variant": cfg.model.variant,
        "description": cfg.description,
        "command": command or "trufor.training.train()",
        "git_commit": repo_commit,
        "data": phase.summary,
        "data_sources": {"train": cfg.data.train, "val": cfg.data.val},
        "init_info": init_info,
        "host": platform.node(),
        "torch": str(torch.__version__),
    }
    if ddp.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / CONFIG_COPY).write_text(cfg.to_yaml(), encoding="utf-8")
    tb = _TensorBoard(cfg.output.tensorboard, out_dir, ddp.main)

    def state(kind: str) -> dict[str, Any]:
        progress = Progress(step, epoch, batch_in_epoch, total, history, best_metric, best_value, epoch_sums)
        return checkpoint_state(kind, cfg, progress, provenance, net, optimizer if kind == "last" else None)

    def save_last() -> None:
        if ddp.main:
            atomic_torch_save(state("last"), last_path)
        ddp.barrier()

    def run_validation() -> dict[str, float]:
        if val_set is None:
            return {}
        metrics = _validation_pass(cfg, phase, net, val_set, device) if ddp.main else {}
        ddp.barrier()
        return metrics

    started = time.perf_counter()
    steps_this_run = 0
    stop = StopRequest()
    use_amp = bool(t.amp)
    progress = None
    try:
        with stop:
            from tqdm.auto import tqdm

            progress = tqdm(total=total, initial=step, disable=not (t.progress and ddp.main), unit="step",
                            dynamic_ncols=True, desc=f"phase {cfg.phase_number}")
            while epoch < t.epochs:
                if hasattr(train_set, "set_epoch"):
                    train_set.set_epoch(epoch)
                sampler = EpochBatchSampler(len(train_set), t.batch_size, steps_per_epoch, seed=t.seed, epoch=epoch,
                                            rank=ddp.rank, world=ddp.world, skip=batch_in_epoch)
                loader = DataLoader(train_set, batch_sampler=sampler, num_workers=cfg.data.workers,
                                    collate_fn=phase.collate, pin_memory=device.type == "cuda")
                epoch_start = time.perf_counter()
                epoch_steps_here = 0
                for batch in loader:
                    lr = poly_lr(step, total, t.lr, t.poly_power, t.warmup_steps)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    torch.manual_seed(step_seed(t.seed, step, ddp.rank))
                    phase.set_train_mode(net)
                    frozen_to_eval(net, t.freeze)
                    if t.batchnorm == "frozen":
                        batchnorm_to_eval(net)
                    phase.begin_step(step)
                    batch = _to_device(batch, device)
                    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
                        out = phase.forward(module, batch)
                    loss, parts = phase.loss(out, batch)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if t.grad_clip:
                        torch.nn.utils.clip_grad_norm_(params, t.grad_clip)
                    optimizer.step()
                    value = float(loss.detach())
                    if not math.isfinite(value):
                        raise TrainingError(f"loss is {value} at step {step}; lower train.lr or enable train.grad_clip")
                    step += 1
                    batch_in_epoch += 1
                    steps_this_run += 1
                    epoch_steps_here += 1
                    epoch_sums["loss"] = epoch_sums.get("loss", 0.0) + value
                    for k, v in parts.items():  # a part may be absent from some steps: counted per part
                        epoch_sums[k] = epoch_sums.get(k, 0.0) + v
                        epoch_sums[f"#{k}"] = epoch_sums.get(f"#{k}", 0.0) + 1
                    epoch_sums["n"] = epoch_sums.get("n", 0.0) + 1
                    elapsed = time.perf_counter() - started
                    progress.set_postfix(loss=f"{epoch_sums['loss'] / epoch_sums['n']:.4f}", lr=f"{lr:.2e}",
                                         s_per_step=f"{elapsed / steps_this_run:.2f}", refresh=False)
                    progress.update(1)
                    tb.scalars({"loss": value, "lr": lr, **parts}, step, "train/")
                    if t.log_every and step % t.log_every == 0:
                        sps = elapsed / steps_this_run
                        say(f"step {step}/{total}: loss {epoch_sums['loss'] / epoch_sums['n']:.4f} (epoch mean), "
                            f"lr {lr:.2e}, {sps:.2f} s/step, ETA {_dt.timedelta(seconds=round(sps * (total - step)))}")
                    finishing_epoch = batch_in_epoch >= steps_per_epoch
                    if ddp.world > 1:  # a signal seen by one rank stops them all at the same step
                        flag = torch.tensor([float(stop.requested)], device=device)
                        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                        stop.requested = bool(flag.item())
                    stopping = stop.requested or (t.stop_after is not None and steps_this_run >= t.stop_after)
                    if not finishing_epoch and (stopping or step % t.checkpoint_every == 0):
                        save_last()
                    if stopping and not finishing_epoch:
                        why = "signal" if stop.requested else f"train.stop_after={t.stop_after}"
                        say(f"stopped at step {step}/{total} ({why}); rerun the same command to continue")
                        return _result(out_dir, step, total, False, best_metric, best_value, history,
                                       resumed_from, started, steps_this_run)
                    if finishing_epoch:
                        break
                # epoch end: validation, history, best, last
                n = max(epoch_sums.get("n", 0.0), 1.0)
                row: dict[str, Any] = {"epoch": epoch + 1, "step": step, "lr": poly_lr(step - 1, total, t.lr,
                                                                                       t.poly_power, t.warmup_steps)}
                row.update({f"train_{k}": v / (epoch_sums.get(f"#{k}") or n) for k, v in epoch_sums.items()
                            if k != "n" and not k.startswith("#")})
                val_due = (epoch + 1) % cfg.val.every == 0 or epoch + 1 == t.epochs
                metrics = run_validation() if val_due else {}
                row.update({f"val_{k}": v for k, v in metrics.items()})
                secs = time.perf_counter() - epoch_start
                row["seconds"] = secs
                row["sec_per_step"] = secs / epoch_steps_here if epoch_steps_here else float("nan")
                epoch += 1
                batch_in_epoch = 0
                epoch_sums = {}
                improved = False
                if val_set is None:
                    improved = True
                elif metrics:
                    value = metrics.get(best_metric)
                    if value is None:
                        raise TrainingError(f"val.best_metric={best_metric!r} is not a validation metric of phase "
                                            f"{cfg.phase}; choose one of {', '.join(metrics)}")
                    improved = _better(value, best_value, best_mode)
                    if improved:
                        best_value = float(value)
                row["best"] = int(improved)
                history.append(row)
                if ddp.main:
                    if improved:
                        atomic_torch_save(state("best"), out_dir / BEST)
                    write_metrics_csv(out_dir / METRICS, history)
                tb.scalars({k: v for k, v in row.items() if k.startswith("val_")}, step, "")
                say("epoch {}/{}: ".format(epoch, t.epochs) + ", ".join(
                    f"{k}={_fmt(v)}" for k, v in row.items() if k not in ("epoch",)))
                save_last()
                if stop.requested or (t.stop_after is not None and steps_this_run >= t.stop_after):
                    if epoch < t.epochs:
                        say(f"stopped at step {step}/{total}; rerun the same command to continue")
                        return _result(out_dir, step, total, False, best_metric, best_value, history,
                                       resumed_from, started, steps_this_run)
    except KeyboardInterrupt:
        say(f"aborted at step {step}/{total}; rerun the same command to continue from the last checkpoint")
        raise
    finally:
        if progress is not None:
            progress.close()
        tb.close()
        if ddp.initialised_here:
            dist.destroy_process_group()
    say(f"finished {cfg.phase}: {step} steps; best {best_metric} = {_fmt(best_value)}; "
        f"best checkpoint {out_dir / BEST}")
    return _result(out_dir, step, total, True, best_metric, best_value, history, resumed_from, started, steps_this_run)


def _validation_pass(cfg: TrainingConfig, phase: Phase, net: nn.Module, val_set,
                     device: torch.device) -> dict[str, float]:
    """One pass of the phase's validation over ``val_set`` (fixed draws), in eval mode, no gradients."""
    net.eval()
    phase.validation_begin()
    if hasattr(val_set, "set_epoch"):
        val_set.set_epoch(0)
    bs = cfg.val.batch_size or cfg.train.batch_size
    loader = DataLoader(val_set, batch_size=bs, shuffle=False, num_workers=cfg.data.workers, collate_fn=phase.collate)
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if cfg.val.batches is not None and i >= cfg.val.batches:
                break
            phase.validation_batch(net, batch, device)
    return phase.validation_end()


def validate_checkpoint(path: str | os.PathLike, overrides: Sequence[str] = (), *,
                        device: str | None = None) -> dict[str, float]:
    """Rerun a checkpoint's validation: the config stored in it (plus dotted ``overrides``), its weights.

    The figures are those the run would report now, with the current code's metrics, so a checkpoint
    trained before a metric was added or corrected can be measured again.
    """
    ckpt = load_training_checkpoint(path)
    cfg = config_from_dict(ckpt["config"], overrides=list(overrides))
    configure_torch(cfg.train.threads)
    phase = make_phase(cfg)
    _, val_set = phase.datasets()
    if val_set is None:
        raise TrainingError(f"{path}: its config has no data.val to validate on")
    net = phase.build_model()
    net.load_state_dict(ckpt["model"], strict=True)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    net.to(dev)
    return _validation_pass(cfg, phase, net, val_set, dev)


def _result(out_dir, step, total, finished, best_metric, best_value, history, resumed_from, started, n) -> TrainResult:
    sps = (time.perf_counter() - started) / n if n else None
    return TrainResult(out_dir, step, total, finished, best_metric, best_value, history, resumed_from, sps)

