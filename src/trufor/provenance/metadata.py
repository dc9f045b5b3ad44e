"""The EXIF summary of a file and the traces editing software leaves in metadata.

EXIF is read by the package's one EXIF reader (:func:`trufor.exif.parse_exif`); this module only turns
its record into plain facts: the camera, lens, software, the three date-times and whether they disagree,
GPS present or not, orientation; the embedded thumbnail and the EXIF image size compared with the image.
Editing traces come from the EXIF Software tag, XMP (``xmp:CreatorTool``, ``xmpMM:History`` events) and
a Photoshop image resource block (APP13 ``Photoshop 3.0``). Nothing here raises on a hostile block.
"""

from __future__ import annotations

import io
import re
from typing import Any

from ..exif import ExifRecord

#: Software names whose presence in Software / CreatorTool / XMP history means an editor or a converter
#: wrote the file (lower-case substrings).
KNOWN_EDITORS = (
    "photoshop", "lightroom", "camera raw", "gimp", "affinity", "pixelmator", "paint.net", "paintshop",
    "snapseed", "picasa", "acdsee", "capture one", "darktable", "rawtherapee", "luminar", "photoscape",
    "imagemagick", "graphicsmagick", "fotor", "canva", "krita", "corel", "illustrator", "photopea",
    "facetune", "picsart", "vsco", "photos", "preview", "irfanview", "xnview", "faststone", "digikam",
    "shotwell", "windows photo", "microsoft", "google", "adobe",
)  # fmt: skip

#: Photoshop image resources worth naming (id -> meaning).
IRB_NAMES = {0x0404: "IPTC-NAA record", 0x040C: "thumbnail", 0x0409: "thumbnail (PS4)", 0x0425: "IPTC digest",
             0x03ED: "resolution info", 0x040F: "ICC profile", 0x0422: "EXIF data 1", 0x0424: "XMP",
             0x0406: "JPEG quality (Save As)", 0x0421: "version info", 0x03F3: "print flags"}
_XMP_LIMIT = 1 << 20
_DATE = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def _editor(text: str | None) -> str | None:
    low = (text or "").lower()
    return next((name for name in KNOWN_EDITORS if name in low), None)


def _date_key(text: str | None) -> str | None:
    match = _DATE.match(text or "")
    return "".join(match.groups()) if match and match.group(1) != "0000" else None


def exif_summary(record: ExifRecord | None) -> dict[str, Any]:
    """Plain facts of an EXIF record (``present: False`` when the file has none)."""
    if record is None:
        return {"present": False}
    dates = {"original": record.datetime_original, "digitised": record.datetime_digitized,
             "modified": record.datetime_modified}
    keys = {k: _date_key(v) for k, v in dates.items()}
    known = {v for v in keys.values() if v}
    return {
        "present": record.tag_count > 0,
        "make": record.make, "model": record.model, "camera": record.camera, "lens": record.lens,
        "software": record.software,
        "datetime": dates,
        "datetimes_disagree": len(known) > 1,
        "datetimes_unparsed": sorted(k for k, v in dates.items() if v and not keys[k]),
        "gps": record.gps,
        "orientation": record.orientation,
        "pixel_width": record.pixel_width, "pixel_height": record.pixel_height,
        "thumbnail_bytes": record.thumbnail_length,
        "tag_count": record.tag_count,
    }


def xmp_traces(xmp: bytes | None) -> dict[str, Any] | None:
    """CreatorTool, history (action, software agent, when) and the tools named in an XMP packet; read with
    regular expressions (no XML parser runs on untrusted text, so no entity expansion)."""
    if not xmp:
        return None
    text = bytes(xmp[:_XMP_LIMIT]).decode("utf-8", "replace")

    def values(name: str) -> list[str]:
        found = re.findall(rf'{name}\s*=\s*"([^"]{{0,300}})"', text)
        found += re.findall(rf"<{name}>([^<]{{0,300}})</{name}>", text)
        return [" ".join(v.split()) for v in found if v.strip()]

    history = []
    agents = values("stEvt:softwareAgent")
    actions = values("stEvt:action")
    whens = values("stEvt:when")
    for i, action in enumerate(actions[:50]):
        history.append({"action": action, "software": agents[i] if i < len(agents) else None,
                        "when": whens[i] if i < len(whens) else None})
    creator = (values("xmp:CreatorTool") or [None])[0]
    return {"creator_tool": creator, "history": history,
            "photoshop_namespace": "ns.adobe.com/photoshop/" in text,
            "tools": sorted({t for t in [creator, *agents] if t})}


def irb_resources(irb: bytes | None) -> list[str] | None:
    """The resources of a Photoshop image resource block (``8BIM`` records), named when known."""
    if irb is None:
        return None
    names, pos, n = [], 0, len(irb)
    while pos + 12 <= n and irb[pos:pos + 4] == b"8BIM" and len(names) < 200:
        rid = int.from_bytes(irb[pos + 4:pos + 6], "big")
        name_len = irb[pos + 6]
        pos += 6 + ((name_len + 2) & ~1)  # Pascal string padded to an even size
        if pos + 4 > n:
            break
        size = int.from_bytes(irb[pos:pos + 4], "big")
        pos += 4 + size + (size & 1)
        names.append(IRB_NAMES.get(rid, f"0x{rid:04X}"))
    return names


def editing_traces(exif: dict[str, Any], xmp: dict[str, Any] | None, irb: list[str] | None) -> list[str]:
    """Sentences naming each trace of editing software (empty: none found, which proves nothing)."""
    traces = []
    if _editor(exif.get("software")):
        traces.append(f"EXIF Software: {exif['software']}")
    if xmp:
        if _editor(xmp.get("creator_tool")):
            traces.append(f"XMP CreatorTool: {xmp['creator_tool']}")
        for tool in xmp.get("tools", []):
            if tool != xmp.get("creator_tool") and _editor(tool):
                traces.append(f"XMP history: {tool}")
        saved = [h["action"] for h in xmp.get("history", []) if h["action"] in ("saved", "derived", "converted")]
        if saved:
            traces.append(f"XMP history: {len(saved)} save/derive/convert event(s)")
        if xmp.get("photoshop_namespace"):
            traces.append("XMP Photoshop namespace")
    if irb is not None:
        traces.append("Photoshop image resource block (APP13)" + (f": {', '.join(irb[:6])}" if irb else ""))
    return traces


def thumbnail_check(thumbnail: bytes | None, width: int | None, height: int | None,
                    exif: dict[str, Any]) -> dict[str, Any]:
    """The embedded thumbnail and the EXIF image size compared with the image's size.

    ``dimensions_match``: EXIF PixelX/YDimension equal the image's (either way round: a rotation by a tool
    that did not update the tag is not a content change); ``thumbnail_aspect_match``: the thumbnail's aspect
    ratio within 5 % of the image's (a thumbnail letterboxed by the camera to 4:3 of a 16:9 image is a known
    false alarm). None when there is nothing to compare.
    """
    out: dict[str, Any] = {"dimensions_match": None, "thumbnail": None, "thumbnail_aspect_match": None}
    pw, ph = exif.get("pixel_width"), exif.get("pixel_height")
    if width and height and pw and ph:
        out["dimensions_match"] = {pw, ph} == {width, height} and (pw, ph) in ((width, height), (height, width))
    if thumbnail:
        try:
            from PIL import Image

            with Image.open(io.BytesIO(thumbnail)) as im:
                tw, th = im.size
            out["thumbnail"] = [tw, th]
            if width and height and tw and th:
                aspect = tw / th
                out["thumbnail_aspect_match"] = any(0.95 <= aspect / a <= 1.05 for a in (width / height, height / width))
        except Exception as exc:
            out["thumbnail_problem"] = f"embedded thumbnail unreadable ({type(exc).__name__})"
    return out
