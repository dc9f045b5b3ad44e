"""Evidence beyond pixels: what a file's metadata, JPEG coding and C2PA content credentials say, and the
chain of custody of an analysis (see docs/PROVENANCE.md for what each field can and cannot prove).

One idea per module: :mod:`.jpeg` (markers, quantisation tables, quality estimate), :mod:`.metadata`
(EXIF summary through :mod:`trufor.exif`, editing traces, thumbnail and size checks), :mod:`.credentials`
(C2PA through the optional ``c2pa-python``), :mod:`.custody` (hashes and the results.json header),
:mod:`.report` (one file's report, its one-line summary and short label).
"""

from __future__ import annotations

from .credentials import EXTRA, TRUST_ENV, c2pa_available, trust_anchor_text
from .custody import custody_header, sha256_bytes, sha256_file
from .report import inspect_bytes, inspect_file, short_label, summary_line

__all__ = ["EXTRA", "TRUST_ENV", "c2pa_available", "custody_header", "inspect_bytes", "inspect_file",
           "sha256_bytes", "sha256_file", "short_label", "summary_line", "trust_anchor_text"]
