"""Where a training run executes: device and processes (torchrun / DistributedDataParallel), torch
threads and determinism, bfloat16 support of the CPU, the git commit of the code, stop signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from ..errors import TrainingError

#: The repository this package runs from (src/trufor/training/ -> the repository root).
REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Dist:
    """Where this process stands in a (possibly single-process) run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    initialised_here: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def setup_distributed(device_pref: str) -> tuple[Dist, torch.device]:
    """Read torchrun's environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``), join the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    pref = device_pref.lower()
    use_cuda = torch.cuda.is_available() if pref == "auto" else pref.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise TrainingError(f"train.device={device_pref}: CUDA is not available here (use cpu or auto)")
    if use_cuda:
        device = torch.device(f"cuda:{local}") if (world > 1 or pref in ("auto", "cuda")) else torch.device(pref)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    d = Dist(rank, world, local)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        d.initialised_here = True
    return d, device


def configure_torch(threads: int | None = None, deterministic: bool = False) -> None:
    """``train.threads`` (torch intra-op threads; None: torch's default) and ``train.deterministic``."""
    if threads:
        torch.set_num_threads(int(threads))
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def cpu_has_fast_bf16() -> bool:
    """Whether oneDNN runs bfloat16 natively on this CPU (AVX512-BF16 or AMX); elsewhere it is emulated and slow."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def git_commit(repo: Path = REPO_ROOT) -> str:
    """Short commit hash of ``repo`` ("unknown" outside a git checkout)."""
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except Exception:
        return "unknown"


class StopRequest:
    """A polite stop on SIGTERM or a first Ctrl-C: finish the step, write ``last.pt``, return.

    A second Ctrl-C aborts at once (``last.pt`` then holds the latest periodic checkpoint).
    """

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: no handlers
                pass
        return self

    def _handle(self, signum, frame) -> None:
        if signum == signal.SIGINT and self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if signum == signal.SIGINT:
            print("\nstopping after this step (Ctrl-C again to abort without a checkpoint)", file=sys.stderr)

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
