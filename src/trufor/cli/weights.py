"""``trufor weights``: download the authors' weights into the cache, or show where weights are."""

from __future__ import annotations

import argparse

from ..errors import TruForError
from ._common import console, fail


def register(subparsers) -> None:
    p = subparsers.add_parser("weights", help="download the official weights, or show where weights are looked for",
                              description="Manage weights files.")
    sub = p.add_subparsers(dest="weights_command", metavar="ACTION")
    d = sub.add_parser(
        "download",
        help="download the authors' weights archive into the user cache",
        description="Download the authors' TruFor_weights.zip, verify its MD5, and unpack trufor.pth.tar into the "
                    "user cache, where `trufor detect` finds it (and checks it against the SHA-256 recorded "
                    "now). These weights are the authors' work under their licence: research and non-commercial "
                    "use only.",
    )
    d.add_argument("--url", default=None, help="archive URL (default: the authors' address)")
    d.add_argument("--md5", default=None, help="expected MD5 of the archive (default: the published one)")
    d.add_argument("--cache-dir", default=None, help="where to unpack (default: the user cache folder)")
    d.add_argument("--force", action="store_true", help="download again even if already present")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=run_download)
    w = sub.add_parser("path", help="print the weights file that would be used")
    w.add_argument("--weights", default=None)
    w.set_defaults(func=run_path)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_download(args: argparse.Namespace) -> int:
    from ..weights import cache_dir
    from ..weights.download import OFFICIAL_WEIGHTS_MD5, OFFICIAL_WEIGHTS_URL, download_official_weights

    target = args.cache_dir or cache_dir()
    try:
        path = download_official_weights(target, url=args.url or OFFICIAL_WEIGHTS_URL,
                                          md5=args.md5 or OFFICIAL_WEIGHTS_MD5, progress=not args.quiet,
                                          force=args.force)
    except TruForError as exc:
        return fail(str(exc))
    console().print(f"weights ready: {path}\nThey are the TruFor authors' work: research and non-commercial use only.")
    return 0


def run_path(args: argparse.Namespace) -> int:
    from ..weights import find_weights

    try:
        src = find_weights(args.weights)
    except TruForError as exc:
        return fail(str(exc))
    console().print(f"{src.path} ({src.origin})")
    return 0
