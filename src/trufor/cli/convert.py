"""``trufor convert``: the authors' ``trufor.pth.tar`` to our safetensors format (with metadata)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import TruForError
from ._common import console, fail


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert official weights (trufor.pth.tar) to .safetensors",
        description="Convert a TruFor checkpoint (the authors' trufor.pth.tar, read without executing any "
                    "pickled code) to a .safetensors file whose metadata records the architecture, provenance "
                    "and licence. The licence of the original weights still applies to the converted file.",
    )
    p.add_argument("source", metavar="SRC")
    p.add_argument("destination", metavar="DST", nargs="?", help="default: SRC with the suffix .safetensors")
    p.add_argument("--half", action="store_true", help="store float16 tensors (half the size; computed in float32)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..weights import convert_official, read_weights

    src = Path(args.source)
    dst = Path(args.destination) if args.destination else src.with_name(src.name.split(".")[0] + ".safetensors")
    try:
        convert_official(src, dst, half=args.half)
        meta = read_weights(dst).metadata
    except TruForError as exc:
        return fail(str(exc))
    console().print(f"wrote {dst} (variant {meta.get('variant')}, provenance: {meta.get('provenance')})")
    return 0
