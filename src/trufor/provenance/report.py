"""The provenance of one file: file facts, EXIF summary, editing traces, JPEG coding, C2PA credentials.

:func:`inspect_file` reads the file once (its bytes are hashed and parsed from memory); every part is
guarded, so a bad or hostile metadata block becomes a line in ``warnings`` and the rest of the report
(and the analysis) goes on. The result is a JSON-ready dict; :func:`summary_line` and :func:`short_label`
condense it for a figure and a table column.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from ..exif import ExifRecord, exif_block, parse_exif
from . import credentials
from .custody import sha256_bytes
from .jpeg import estimate_quality, parse_jpeg
from .metadata import editing_traces, exif_summary, irb_resources, thumbnail_check, xmp_traces

#: Files larger than this are hashed in chunks and only their first MAX_HEAD bytes parsed for metadata.
MAX_IN_MEMORY = 512 << 20
MAX_HEAD = 16 << 20

_SIGNATURES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
               (b"GIF8", "GIF"), (b"BM", "BMP"))


def file_format(head: bytes) -> str | None:
    """The format of a file from its first bytes (None: not recognised)."""
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "AVIF" if brand in (b"avif", b"avis") else "HEIF"
    return None


def _guard(warnings: list[str], what: str, fn, *args, default=None, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        warnings.append(f"{what}: unreadable metadata ignored ({type(exc).__name__}: {str(exc)[:200]})")
        return default


def _other_exif(data: bytes) -> ExifRecord | None:
    """EXIF of a non-JPEG file, through Pillow without decoding pixels."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        block = exif_block(im)
    return None if block is None else parse_exif(block)


def _image_size(data: bytes) -> tuple[int, int] | None:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return im.size


def inspect_bytes(data: bytes, *, name: str | None = None, size: int | None = None, sha256: str | None = None,
                  c2pa: bool = True, trust_anchors: str | None = None, c2pa_stream: Any = None) -> dict[str, Any]:
    """The provenance report of a file's bytes (see the module docstring). Never raises for bad data.

    ``size``/``sha256``: those of the whole file when ``data`` is only its head; ``trust_anchors``: PEM text;
    ``c2pa_stream``: a seekable stream of the whole file for C2PA (default: ``data``).
    """
    warnings: list[str] = []
    fmt = file_format(data[:32])
    report: dict[str, Any] = {
        "file": {"name": name, "format": fmt, "size": len(data) if size is None else size,
                 "sha256": sha256 or sha256_bytes(data)},
    }
    jpeg = _guard(warnings, "JPEG markers", parse_jpeg, data) if fmt == "JPEG" else None
    record: ExifRecord | None = None
    width = height = None
    if jpeg is not None:
        warnings.extend(jpeg.problems)
        width, height = jpeg.width, jpeg.height
        if jpeg.exif is not None:
            record = _guard(warnings, "EXIF", parse_exif, jpeg.exif)
    elif fmt is not None:
        record = _guard(warnings, "EXIF", _other_exif, data)
        dims = _guard(warnings, "image header", _image_size, data)
        if dims:
            width, height = dims
    if record is not None:
        warnings.extend(f"EXIF: {p}" for p in record.problems)
    exif = exif_summary(record)
    xmp = _guard(warnings, "XMP", xmp_traces, jpeg.xmp if jpeg else None)
    irb = _guard(warnings, "Photoshop IRB", irb_resources, jpeg.irb if jpeg else None)
    report["exif"] = exif
    report["xmp"] = xmp
    report["photoshop_irb"] = irb
    report["editing_traces"] = _guard(warnings, "editing traces", editing_traces, exif, xmp, irb, default=[])
    report["image"] = {"width": width, "height": height}
    report["consistency"] = _guard(warnings, "thumbnail", thumbnail_check, record.thumbnail if record else None,
                                   width, height, exif, default={})
    if report["consistency"] and report["consistency"].get("thumbnail_problem"):
        warnings.append(report["consistency"].pop("thumbnail_problem"))
    if jpeg is not None:
        quality = _guard(warnings, "JPEG quality", estimate_quality, jpeg.tables, jpeg.component_tables)
        report["jpeg"] = {
            "progressive": jpeg.progressive, "arithmetic": jpeg.arithmetic, "subsampling": jpeg.subsampling,
            "components": jpeg.components, "quality": quality,
            "tables": {str(k): v for k, v in sorted(jpeg.tables.items())},
            "jfif": jpeg.jfif, "adobe_app14": jpeg.adobe, "comments": jpeg.comments,
        }
    else:
        report["jpeg"] = None
    if c2pa:
        stream = c2pa_stream if c2pa_stream is not None else io.BytesIO(data)
        report["c2pa"] = credentials.read_credentials(stream, fmt, trust_anchors=trust_anchors,
                                                      embedded_hint=jpeg.jumbf if jpeg else None)
    else:
        report["c2pa"] = {"present": jpeg.jumbf if jpeg else None, "state": "not-checked"}
    report["warnings"] = warnings
    report["summary"] = summary_line(report)
    report["short"] = short_label(report)
    return report


def inspect_file(path: str | os.PathLike, *, c2pa: bool = True, trust_anchors: str | None = None) -> dict[str, Any]:
    """The provenance report of the file at ``path`` (read once). Raises OSError only when the file
    cannot be opened at all."""
    path = Path(path)
    size = path.stat().st_size
    if size <= MAX_IN_MEMORY:
        data = path.read_bytes()
        return inspect_bytes(data, name=str(path), c2pa=c2pa, trust_anchors=trust_anchors)
    from .custody import sha256_file

    with open(path, "rb") as f:
        head = f.read(MAX_HEAD)
        digest = sha256_file(path)
        return inspect_bytes(head, name=str(path), size=size, sha256=digest, c2pa=c2pa,
                             trust_anchors=trust_anchors, c2pa_stream=f)


_STATE_TEXT = {"none": "no C2PA", "invalid": "C2PA INVALID", "valid-untrusted": "C2PA valid, untrusted signer",
               "trusted": "C2PA trusted", "not-checked": "C2PA not checked", "error": "C2PA unreadable"}


def _quality_text(report: dict[str, Any]) -> str | None:
    q = (report.get("jpeg") or {}).get("quality")
    if not q:
        return None
    tables = "IJG tables" if q["standard"] else f"custom tables, fit error {q['error']:.2f}"
    return f"JPEG q{q['quality']} ({tables})"


def summary_line(report: dict[str, Any]) -> str:
    """One line: camera or 'no EXIF', software traces, JPEG quality, thumbnail/size mismatch, C2PA state."""
    parts = []
    exif = report.get("exif") or {}
    parts.append(exif.get("camera") or ("EXIF without camera" if exif.get("present") else "no EXIF"))
    traces = report.get("editing_traces") or []
    if traces:
        parts.append("edited? " + traces[0] + (f" (+{len(traces) - 1})" if len(traces) > 1 else ""))
    if quality := _quality_text(report):
        parts.append(quality)
    cons = report.get("consistency") or {}
    if cons.get("dimensions_match") is False or cons.get("thumbnail_aspect_match") is False:
        parts.append("EXIF size/thumbnail differ from the image")
    if exif.get("datetimes_disagree"):
        parts.append("EXIF dates disagree")
    c2pa = report.get("c2pa") or {}
    state = c2pa.get("state")
    if state and not (state == "not-checked" and not c2pa.get("present")):
        text = _STATE_TEXT.get(state, state)
        if c2pa.get("ai_generated"):
            text += ", AI-generated"
        parts.append(text)
    if report.get("warnings"):
        parts.append(f"{len(report['warnings'])} metadata warning(s)")
    return "; ".join(parts)


def short_label(report: dict[str, Any]) -> str:
    """A few words for a table column: C2PA state when a manifest is there, else EXIF/editing/quality."""
    c2pa = report.get("c2pa") or {}
    if c2pa.get("present"):
        return {"invalid": "C2PA invalid", "valid-untrusted": "C2PA untrusted", "trusted": "C2PA trusted"}.get(
            c2pa.get("state"), "C2PA ?")
    exif = report.get("exif") or {}
    words = ["EXIF" if exif.get("present") else "no EXIF"]
    if report.get("editing_traces"):
        words.append("edited")
    cons = report.get("consistency") or {}
    if cons.get("dimensions_match") is False or cons.get("thumbnail_aspect_match") is False:
        words.append("resized/cropped")
    q = (report.get("jpeg") or {}).get("quality")
    if q:
        words.append(f"q{q['quality']}{'' if q['standard'] else '~'}")
    return ", ".join(words)
