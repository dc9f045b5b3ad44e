"""Pieces shared by the subcommands: device and weights options, console, one-line errors."""

from __future__ import annotations

import argparse

from rich.console import Console

_consoles: dict[bool, Console] = {}


def console(err: bool = False) -> Console:
    """A rich console on stdout (results) or stderr (progress, warnings, errors)."""
    if err not in _consoles:
        _consoles[err] = Console(stderr=err, highlight=False, soft_wrap=True)
    return _consoles[err]


def fail(message: str, code: int = 1) -> int:
    """Print one clear error line and return the exit code."""
    console(err=True).print(f"[red]error:[/] {message}", markup=True)
    return code


def add_weights_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", "-w", default=None, metavar="PATH",
                   help="weights file (official trufor.pth.tar or .safetensors); default: $TRUFOR_WEIGHTS, "
                        "then the user cache, then the bundled model")


def add_device_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", metavar="DEV",
                   help="cpu, cuda, cuda:N or auto (default: auto = CUDA when present, else CPU)")
    p.add_argument("-gpu", "--gpu", type=int, default=None, metavar="N",
                   help="official flag: GPU index, -1 for CPU (overrides --device)")


def device_from_args(args: argparse.Namespace) -> str:
    """The torch device string chosen by --device / -gpu."""
    if args.gpu is not None:
        return "cpu" if args.gpu < 0 else f"cuda:{args.gpu}"
    if args.device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return args.device

