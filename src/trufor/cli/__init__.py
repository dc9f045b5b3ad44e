"""The ``trufor`` command line: a thin layer over the Python API.

Each subcommand lives in its own module of this package and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (called with the parsed arguments, returning the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

# Subcommand modules, in the order they are listed by ``trufor --help``.
SUBCOMMANDS: tuple[str, ...] = ("detect", "visualize", "info", "convert", "export", "weights", "synth", "eval", "train",
                               "serve", "provenance", "compare")

#: Flags of the official trufor_test.py; a command line starting with one of them means `detect`.
OFFICIAL_FLAGS = frozenset({"-gpu", "--gpu", "-in", "--input", "-out", "--output", "-save_np", "--save_np"})


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered subcommand."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="trufor",
        description="TruFor image forgery detection and localization (independent implementation).",
    )
    parser.add_argument("--version", action="version", version=f"trufor {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``trufor`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in OFFICIAL_FLAGS:
        # A command line written for the official trufor_test.py: treat it as `trufor detect ...`.
        argv.insert(0, "detect")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    with warnings.catch_warnings():
        _print_trufor_warnings()
        try:
            return int(args.func(args) or 0)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130


def _print_trufor_warnings() -> None:
    """Show trufor's own warnings (e.g. unverified weights) as one ``warning:`` line each on stderr,
    like the per-image warnings; other warnings keep Python's format. Call inside ``catch_warnings``."""
    from ..errors import TruForWarning

    warnings.simplefilter("default", TruForWarning)  # once per place, whatever an earlier filter said
    python_show = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, TruForWarning):
            return python_show(message, category, filename, lineno, file, line)
        from rich.markup import escape

        from ._common import console

        console(err=True).print(f"[yellow]warning:[/] {escape(str(message))}")

    warnings.showwarning = show
