#!/usr/bin/env python
"""Gather out-of-fold evaluation reports into one report per set, beside the same images of a reference model.

    python benchmarks/cv_reports.py NAME --base BASE --sets heldout calibpart judge_web --folds R1 R2 ...
                                    [--base-name BASE_cv] [--reports out/reports]

In a cross-validation (``scripts/imd2020_cv_folds.py``, run 36) each fold's model scores only its own fold's images,
so each fold has a report of its own (``REPORTS/R/per_image.csv``, written by `trufor eval`). The other benchmarks
compare two models set by set (``REPORTS/SET_MODEL``), on the same images. For every ``SET``, this writes
``REPORTS/SET_NAME/per_image.csv``: the fold rows of the images that ``REPORTS/SET_BASE`` holds, and
``REPORTS/SET_BASE-NAME/per_image.csv``: the reference's rows of the same images, in the same order. An image scored by
two fold reports is an error (folds do not overlap); images of the reference that no fold scored are left out of both
(e.g. the authentic photos that are not part of the cross-validation); a fold row that no set holds is named. The rows
keep their cached-map paths (``npz``), so map statistics and derived-mask F1 read the fold's own maps.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from trufor.outputs import atomic_write


def read_rows(path: Path) -> tuple[list[str], list[dict]]:
    if not path.is_file():
        raise SystemExit(f"{path}: no such report (run `trufor eval ... -o {path.parent}` first)")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def write_rows(path: Path, fields: list[str], rows: list[dict]) -> None:
    with atomic_write(path, "w") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def gather(reports: Path, name: str, base: str, base_name: str, sets: list[str], folds: list[str]) -> dict[str, int]:
    """Write the reports (module docstring); returns the number of images per set."""
    by_name: dict[str, dict] = {}
    origin: dict[str, str] = {}
    fields: list[str] = []
    for fold in folds:
        fold_fields, rows = read_rows(reports / fold / "per_image.csv")
        fields = fields or fold_fields
        for r in rows:
            if r["name"] in by_name:
                raise SystemExit(f"{r['name']}: scored by both {origin[r['name']]} and {fold} (folds must not overlap)")
            by_name[r["name"]] = r
            origin[r["name"]] = fold
    used: set[str] = set()
    counts = {}
    for s in sets:
        base_fields, base_rows = read_rows(reports / f"{s}_{base}" / "per_image.csv")
        keep = [r for r in base_rows if r["name"] in by_name]
        if not keep:
            raise SystemExit(f"{s}_{base}: none of its images is in the fold reports {', '.join(folds)}")
        write_rows(reports / f"{s}_{base_name}" / "per_image.csv", base_fields, keep)
        write_rows(reports / f"{s}_{name}" / "per_image.csv", fields, [by_name[r["name"]] for r in keep])
        used |= {r["name"] for r in keep}
        counts[s] = len(keep)
    unused = sorted(set(by_name) - used)
    if unused:
        print(f"{len(unused)} fold rows are in none of the sets (e.g. {unused[0]} of {origin[unused[0]]})",
              file=sys.stderr)
    return counts


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name", help="the name of the gathered out-of-fold model (reports SET_NAME)")
    p.add_argument("--base", required=True, help="the reference model whose reports SET_BASE fix the images")
    p.add_argument("--base-name", help="the name of the reference restricted to those images (default BASE_cv)")
    p.add_argument("--sets", nargs="+", required=True, help="report prefixes (heldout, calibpart, judge_web...)")
    p.add_argument("--folds", nargs="+", required=True, help="the fold reports (folders under --reports)")
    p.add_argument("--reports", type=Path, default=Path("out/reports"))
    args = p.parse_args(argv[1:])
    base_name = args.base_name or f"{args.base}_cv"
    if base_name in (args.base, args.name):
        p.error("--base-name must differ from the base and the gathered name")
    counts = gather(args.reports, args.name, args.base, base_name, args.sets, args.folds)
    for s, n in counts.items():
        print(f"{s}: {n} images -> {s}_{args.name} and {s}_{base_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
