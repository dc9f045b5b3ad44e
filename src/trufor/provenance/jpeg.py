"""JPEG coding of a file, from its markers (no pixel is decoded): quantisation tables, the quality an IJG
encoder would have used for them (and how well that fits), chroma subsampling, progressive or not, and
the metadata segments (EXIF, XMP, Photoshop IRB, C2PA JUMBF) other modules read.

The parser walks the segments from SOI up to the first SOS (every table and metadata block of a normal
file comes before the scan data). It never raises: a damaged segment ends the walk with a ``problem``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Zig-zag order: position k of a DQT segment holds coefficient ZIGZAG[k] of the 8x8 block (row-major).
ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14,
    21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53,
    60, 61, 54, 47, 55, 62, 63])  # fmt: skip

#: The example tables of the JPEG standard (Annex K), row-major: libjpeg (IJG) scales them by the quality.
IJG_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])  # fmt: skip
IJG_CHROMINANCE = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32)  # fmt: skip

_SOF_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
XMP_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_EXTENDED_PREFIX = b"http://ns.adobe.com/xmp/extension/\x00"
IRB_PREFIX = b"Photoshop 3.0\x00"
#: At most this many segments are walked (a hostile file cannot make the walk long).
MAX_SEGMENTS = 4096


def ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """The table libjpeg's ``jpeg_set_quality(quality, force_baseline=TRUE)`` makes from ``base``."""
    quality = min(max(int(quality), 1), 100)
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((base * scale + 50) // 100, 1, 255)


_IJG = {q: (ijg_table(IJG_LUMINANCE, q), ijg_table(IJG_CHROMINANCE, q)) for q in range(1, 101)}


@dataclass
class JpegCoding:
    """What the markers of a JPEG file say. Tables are row-major 64-value lists by table id."""

    width: int | None = None
    height: int | None = None
    components: int | None = None
    sampling: list[tuple[int, int]] = field(default_factory=list)  # (h, v) per component
    progressive: bool = False
    arithmetic: bool = False
    precision: int | None = None
    tables: dict[int, list[int]] = field(default_factory=dict)
    component_tables: list[int] = field(default_factory=list)  # table id of each component
    exif: bytes | None = field(default=None, repr=False)
    xmp: bytes | None = field(default=None, repr=False)
    irb: bytes | None = field(default=None, repr=False)
    jumbf: bool = False  # an APP11 JUMBF segment (where C2PA manifests live in JPEG)
    jfif: bool = False
    adobe: bool = False  # APP14 "Adobe" (written by Adobe software and some libraries)
    comments: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def subsampling(self) -> str | None:
        """Chroma subsampling as J:a:b (``"4:2:0"``, ``"4:2:2"``, ``"4:4:4"``, ``"4:1:1"``, ``"4:4:0"``), or
        ``"grey"`` for one component, or ``"h1xv1,..."`` for any other layout."""
        if not self.sampling:
            return None
        if len(self.sampling) == 1:
            return "grey"
        (h0, v0), rest = self.sampling[0], self.sampling[1:]
        if any(s != rest[0] for s in rest) or any(x < 1 for s in self.sampling for x in s):
            return ",".join(f"{h}x{v}" for h, v in self.sampling)
        h, v = h0 / rest[0][0], v0 / rest[0][1]
        return {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (4, 1): "4:1:1", (1, 2): "4:4:0"}.get(
            (h, v), ",".join(f"{a}x{b}" for a, b in self.sampling))


def parse_jpeg(data: bytes) -> JpegCoding | None:
    """The :class:`JpegCoding` of ``data``, or None when it does not start like a JPEG file. Never raises."""
    if not data.startswith(b"\xff\xd8"):
        return None
    info = JpegCoding()
    n, pos, segments = len(data), 2, 0
    try:
        while pos < n and segments < MAX_SEGMENTS:
            segments += 1
            if data[pos] != 0xFF:
                info.problems.append(f"JPEG: no marker at byte {pos} (damaged file)")
                break
            while pos < n and data[pos] == 0xFF:  # fill bytes
                pos += 1
            if pos >= n:
                break
            marker = data[pos]
            pos += 1
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
                continue
            if marker == 0xD9:
                break
            if pos + 2 > n:
                info.problems.append("JPEG: file ends inside a segment header")
                break
            length = int.from_bytes(data[pos:pos + 2], "big")
            if length < 2 or pos + length > n:
                info.problems.append(f"JPEG: segment 0x{marker:02X} at byte {pos - 2} has a bad length {length}")
                break
            body = data[pos + 2:pos + length]
            pos += length
            if marker == 0xDA:
                break  # scan data follows: every table and metadata segment came before
            _segment(info, marker, body)
    except Exception as exc:  # a parser bug must not cost the rest of the report
        info.problems.append(f"JPEG: markers unreadable ({type(exc).__name__}: {exc})")
    return info


def _segment(info: JpegCoding, marker: int, body: bytes) -> None:
    if marker == 0xDB:
        _dqt(info, body)
    elif marker in _SOF:
        if len(body) < 6:
            info.problems.append("JPEG: frame header too short")
            return
        info.precision, info.height = body[0], int.from_bytes(body[1:3], "big")
        info.width, info.components = int.from_bytes(body[3:5], "big"), body[5]
        info.progressive, info.arithmetic = marker in _SOF_PROGRESSIVE, marker >= 0xC9
        info.sampling, info.component_tables = [], []
        for c in range(info.components):
            part = body[6 + 3 * c:9 + 3 * c]
            if len(part) < 3:
                info.problems.append("JPEG: frame header lists fewer components than it says")
                break
            info.sampling.append((part[1] >> 4, part[1] & 15))
            info.component_tables.append(part[2])
    elif marker == 0xE0 and body.startswith(b"JFIF\x00"):
        info.jfif = True
    elif marker == 0xE1 and body.startswith(b"Exif\x00") and info.exif is None:
        info.exif = body
    elif marker == 0xE1 and body.startswith(XMP_PREFIX) and info.xmp is None:
        info.xmp = body[len(XMP_PREFIX):]
    elif marker == 0xE1 and body.startswith(XMP_EXTENDED_PREFIX) and info.xmp is not None:
        info.xmp += body[len(XMP_EXTENDED_PREFIX) + 40:]
    elif marker == 0xEB and b"jumb" in body[:64]:
        info.jumbf = True
    elif marker == 0xED and body.startswith(IRB_PREFIX):
        info.irb = (info.irb or b"") + body[len(IRB_PREFIX):]
    elif marker == 0xEE and body.startswith(b"Adobe"):
        info.adobe = True
    elif marker == 0xFE and len(info.comments) < 8:
        info.comments.append(" ".join(body[:200].decode("latin-1").replace("\x00", " ").split()))


def _dqt(info: JpegCoding, body: bytes) -> None:
    i = 0
    while i < len(body):
        pq, tq = body[i] >> 4, body[i] & 15
        size = 128 if pq else 64
        chunk = body[i + 1:i + 1 + size]
        if len(chunk) < size or tq > 3:
            info.problems.append("JPEG: quantisation table segment is damaged")
            return
        values = np.frombuffer(chunk, dtype=">u2" if pq else np.uint8).astype(int)
        natural = np.empty(64, dtype=int)
        natural[ZIGZAG] = values
        info.tables[tq] = natural.tolist()
        i += 1 + size


def estimate_quality(tables: dict[int, list[int]], component_tables: list[int] | None = None) -> dict[str, Any] | None:
    """The IJG quality (1-100) whose scaled standard tables come closest to ``tables``.

    The luminance table is the table of the first component (id 0 when unknown), the chrominance table
    that of the second, if any. Returns ``quality``, ``error`` (mean absolute difference per coefficient
    at that quality: 0 means the tables are exactly IJG's), ``standard`` (error 0: tables a library such as
    libjpeg, Pillow or OpenCV, or an editor using it, would write) and ``max_difference``.
    """
    if not tables:
        return None
    ids = list(dict.fromkeys(component_tables or [])) or sorted(tables)
    luma_id = ids[0] if ids[0] in tables else min(tables)
    chroma_id = next((t for t in ids[1:] if t in tables and t != luma_id), None)
    luma = np.asarray(tables[luma_id])
    chroma = None if chroma_id is None else np.asarray(tables[chroma_id])
    best = None
    for q, (tl, tc) in _IJG.items():
        diff = np.abs(luma - tl)
        if chroma is not None:
            diff = np.concatenate([diff, np.abs(chroma - tc)])
        key = (float(diff.mean()), int(diff.max()), -q)
        if best is None or key < best[0]:
            best = (key, q)
    (error, worst, _), quality = best
    return {"quality": quality, "error": round(error, 3), "max_difference": worst, "standard": worst == 0}
