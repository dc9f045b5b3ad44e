#!/usr/bin/env python
"""Make a calibrated candidate the bundled model (src/trufor/bundled/trufor_lite0.safetensors).

    python scripts/ship_bundled.py CANDIDATE.safetensors --note "run 3.1: ..." [--licence-from FILE]

Checks that the candidate is one of our files, calibrated (`trufor train calibrate`), of the bundled variant (the
registry's, `trufor.weights.registry`) and
at most 25 MB; writes it to the bundled path with one provenance line ("shipped as the bundled model: NOTE"),
its tensors bit for bit (checked after writing); ``--licence-from`` takes the licence text of another file
(e.g. the bundled file it replaces, when the candidate was calibrated from an export that lost the credit of the
pretrained weights); a first provenance line that says "from scratch" under a licence that credits pretrained
weights is replaced by what the licence says. Prints the SHA-256 of the new file. Choose the candidate on the held-out sets first
(docs/MODEL_CARD.md); CASIA v1 is measured after, never used to choose.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch

from trufor.training.calibration import rewrite_weights
from trufor.training.export import FROM_SCRATCH_SUMMARY, credits_pretrained, summary_line
from trufor.weights import read_weights, registry

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "src" / "trufor" / "bundled" / "trufor_lite0.safetensors"
MAX_BYTES = 25 * 10**6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("candidate")
    p.add_argument("--note", required=True, help="what the new bundled model is (a provenance line)")
    p.add_argument("--licence-from", default=None, help="take the licence text of this file")
    p.add_argument("--out", default=str(BUNDLED), help="where to write (default: the bundled path)")
    args = p.parse_args(argv)
    cand = read_weights(args.candidate)
    problems = []
    if cand.format != "safetensors":
        problems.append("not one of our .safetensors files")
    if "calibration" not in cand.metadata:
        problems.append("not calibrated (run trufor train calibrate first: the bundled score must mean something at 0.5)")
    expected = registry.bundled().variant
    if cand.metadata.get("variant") != expected:
        problems.append(f"variant {cand.metadata.get('variant')!r}, the bundled model is {expected} "
                        "(trufor.weights.registry)")
    if problems:
        print(f"{args.candidate}: " + "; ".join(problems), file=sys.stderr)
        return 2
    licence = read_weights(args.licence_from).licence if args.licence_from else None
    final_licence = licence if licence is not None else cand.licence
    first_line = None
    if cand.provenance.split("\n")[0] == FROM_SCRATCH_SUMMARY and credits_pretrained(final_licence):
        # the chain passed through a weights file, which kept the pretrained credit in its licence only
        first_line = summary_line([], final_licence)
        print("first provenance line said 'from scratch' under a licence that credits pretrained weights: "
              "replaced by what the licence says")
    out = rewrite_weights(args.candidate, args.out, lambda sd: None, action="shipping",
                          provenance_line=f"shipped as the bundled model (scripts/ship_bundled.py): {args.note}",
                          extra={"calibration": cand.metadata["calibration"]}, licence=licence,
                          first_line=first_line)
    written = read_weights(out)
    same = written.state_dict.keys() == cand.state_dict.keys() and all(
        torch.equal(written.state_dict[k], cand.state_dict[k]) for k in cand.state_dict)
    size = out.stat().st_size
    if not same or size > MAX_BYTES:
        print(f"{out}: {'tensors differ from the candidate; ' if not same else ''}{size} bytes "
              f"(limit {MAX_BYTES})", file=sys.stderr)
        return 1
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} ({size / 1e6:.1f} MB, sha256 {digest}); licence: {written.licence}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
