"""``trufor info``: which weights would be used, on which device, with which library versions."""

from __future__ import annotations

import argparse
import json
import platform

from ..errors import TruForError
from ._common import add_device_arguments, add_weights_argument, console, device_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="show the weights in use, the device and versions",
                              description="Show which weights trufor would use (path, variant, provenance, "
                                          "licence), the device, and the versions of the libraries.")
    add_weights_argument(p)
    add_device_arguments(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def collect(args: argparse.Namespace) -> dict:
    import numpy
    import PIL
    import torch

    from .. import __version__, load_model
    from ..weights import cache_dir

    info: dict = {
        "trufor": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "cpu_threads": torch.get_num_threads(),
        "cache_dir": str(cache_dir()),
    }
    try:
        model = load_model(args.weights, device=device_from_args(args))
        info["model"] = model.describe()
        info["model"]["parameters"] = sum(p.numel() for p in model.net.parameters())
    except TruForError as exc:
        info["model"] = None
        info["model_error"] = str(exc)
    return info


def run(args: argparse.Namespace) -> int:
    try:
        info = collect(args)
    except TruForError as exc:  # e.g. CUDA requested but absent
        console(err=True).print(f"[red]error:[/] {exc}")
        return 1
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    out = console()
    model = info.get("model")
    if model:
        out.print(f"[bold]model[/]      {model['name']}")
        out.print(f"weights    {model['weights']}")
        out.print(f"variant    {model['variant']} ({model['parameters'] / 1e6:.1f} M parameters)")
        out.print(f"provenance {model['provenance']}")
        out.print(f"licence    {model['licence']}")
        out.print(f"device     {model['device']}")
    else:
        out.print(f"[yellow]model      none: {info['model_error']}[/]")
    out.print(f"cache      {info['cache_dir']}")
    out.print(f"versions   trufor {info['trufor']}, python {info['python']}, torch {info['torch']}, "
              f"numpy {info['numpy']}, pillow {info['pillow']}")
    cuda = ", ".join(info["cuda_devices"]) if info["cuda_available"] else "not available"
    out.print(f"CUDA       {cuda}; CPU threads {info['cpu_threads']}")
    return 0
