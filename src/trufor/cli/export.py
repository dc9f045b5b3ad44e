"""``trufor export onnx``: the whole network as one ONNX file for other runtimes (see docs/DEPLOY.md)."""

from __future__ import annotations

import argparse

from ..errors import TruForError
from ._common import add_weights_argument, console, fail


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export the model for other runtimes (ONNX)",
        description="Export the whole network for deployment without PyTorch.",
    )
    formats = p.add_subparsers(dest="format", metavar="FORMAT", required=True)
    o = formats.add_parser(
        "onnx",
        help="one .onnx file: Noiseprint++, both encoder branches, fusion, decoders, detection head",
        description="Write the whole network (Noiseprint++ DnCNN, both encoder branches, fusion, both decoders, "
                    "detection head) as one ONNX file with dynamic batch, height and width. Input 'image': uint8 "
                    "(N, 3, H, W) RGB pixels (or float32 pixels/256 with --input-type float32). Outputs: 'map' "
                    "and 'conf' (N, H, W) float32, 'score' (N,) float32, 'np++' (N, H, W) float32. Sides below "
                    "29 px are mirror-padded inside the graph as the torch engine does. The variant, provenance "
                    "and licence of the weights are stored in the model's metadata props (trufor.*). The licence "
                    "of the weights applies to the exported file.",
        epilog="Run it with `trufor detect --backend onnxruntime --weights OUT.onnx` or any ONNX runtime; "
               "docs/DEPLOY.md gives the measured deviations (exact and fast modes).",
    )
    o.add_argument("output", metavar="OUT.onnx", help="the .onnx file to write")
    add_weights_argument(o)
    from ..deploy.onnx_export import DEFAULT_OPSET, EXPORTERS, INPUT_TYPES

    o.add_argument("--opset", type=int, default=DEFAULT_OPSET, metavar="N",
                   help=f"ONNX opset version (default {DEFAULT_OPSET}; 17-20 with the torchscript exporter)")
    o.add_argument("--input-type", choices=INPUT_TYPES, default="uint8",
                   help="uint8 pixels (default) or float32 pixels already divided by 256")
    o.add_argument("--exporter", choices=EXPORTERS, default="torchscript",
                   help="PyTorch exporter: torchscript (default, seconds) or dynamo (torch.export, minutes)")
    o.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..deploy.onnx_export import export_onnx, read_metadata

    try:
        out = export_onnx(args.output, args.weights, opset=args.opset, input_type=args.input_type,
                          exporter=args.exporter)
        meta = read_metadata(out)
    except TruForError as exc:
        return fail(str(exc))
    size = out.stat().st_size / 2**20
    console().print(f"wrote {out} ({size:.0f} MiB; {meta.get('variant')}, {meta.get('weights_name', '')}; "
                    f"opset {args.opset}, input {args.input_type})")
    return 0
