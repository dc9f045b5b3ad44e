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


#: The names of trufor.inference.TTA_VIEWS (kept here so that the CLI's help does not import torch; a test checks them).
TTA_CHOICES = ("none", "hflip", "flips", "shifts")


def add_tta_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tta", choices=TTA_CHOICES, default="none",
                   help="test-time views: none (default: one pass, the weights' exact outputs), hflip (the image and "
                        "its left-right mirror: 2 passes), flips (the image and its 3 mirrors: 4 passes) or shifts "
                        "(the image and 3 copies without its first 8-24 rows and columns: 4 passes); their maps are "
                        "averaged before the score is read, on the JPEG grid (trufor.inference.TTA_VIEWS). The "
                        "model's name in every output says which. Torch backend only. Measured on the bundled model "
                        "(docs/MODEL_CARD.md, runs 37 and 45): flips finds more of real manipulations in the map, "
                        "the score ranks no better")


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


def add_read_arguments(p: argparse.ArgumentParser) -> None:
    """How images are read (one set of flags for detect and eval; see trufor.imageio.ReadOptions)."""
    g = p.add_argument_group("reading images")
    g.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="refuse images larger than N pixels (decompression-bomb guard; default 200 MP)")
    g.add_argument("--allow-truncated", action="store_true",
                   help="analyse truncated images (the missing part is filled) instead of refusing them")
    g.add_argument("--exif-transpose", action="store_true",
                   help="rotate images by their EXIF orientation first (default: analyse the stored pixel grid; "
                        "ground-truth masks in trufor eval are turned the same way)")


def read_options_from_args(args: argparse.Namespace):
    """The :class:`trufor.imageio.ReadOptions` chosen by the flags of :func:`add_read_arguments`."""
    from ..imageio import DEFAULT_MAX_PIXELS, ReadOptions

    if args.max_pixels is not None and args.max_pixels < 1:
        raise argparse.ArgumentTypeError("--max-pixels must be a positive number of pixels")
    return ReadOptions(max_pixels=DEFAULT_MAX_PIXELS if args.max_pixels is None else args.max_pixels,
                       exif_transpose=args.exif_transpose, allow_truncated=args.allow_truncated)


def parse_bytes(text: str) -> int:
    """``"4G"``, ``"512M"``, ``"1.5GB"`` or a plain number of bytes -> bytes (for --max-memory)."""
    units = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "M": 2**20, "MB": 2**20, "G": 2**30, "GB": 2**30, "T": 2**40}
    t = text.strip().upper().replace("IB", "B")
    num = t.rstrip("KMGTB")
    unit = t[len(num):]
    try:
        value = float(num) * units[unit]
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"not a memory size: {text!r} (examples: 4G, 512M)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"memory size must be positive, got {text!r}")
    return int(value)
