"""The camera that took a photo, from its EXIF Make and Model tags: the one reader of them.

Used by ``trufor synth`` (a splice donor from another camera model) and by training phase 1 (the
patches of one camera model are positives of each other).

One spelling (:func:`camera_name`): ``"make model"``, lower-case, whitespace collapsed, NULs and
padding removed, and the make not repeated when the model already starts with it (many makers write
it in both tags): Make ``Canon`` + Model ``Canon PowerShot S30`` -> ``"canon powershot s30"``;
Make ``NIKON CORPORATION`` + Model ``NIKON D70`` -> ``"nikon d70"``; Make ``Apple`` + Model
``iPhone 6`` -> ``"apple iphone 6"``. A photo without a model tag has no known camera (None).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

#: EXIF tag numbers (TIFF/EXIF IFD0).
EXIF_MAKE, EXIF_MODEL = 0x010F, 0x0110


def _text(value: Any) -> str:
    """A tag value as clean text: bytes decoded as Latin-1, NULs dropped, whitespace collapsed."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    return " ".join(str(value).replace("\x00", " ").split())


def camera_name(make: Any, model: Any) -> str | None:
    """The normalised camera name of EXIF ``make`` and ``model`` values (see the module docstring)."""
    make_text, model_text = _text(make), _text(model)
    if not model_text:
        return None
    if make_text and not model_text.lower().startswith(make_text.lower().split()[0]):
        model_text = f"{make_text} {model_text}"
    return model_text.lower()


def camera_model(path: str | os.PathLike) -> str | None:
    """The camera of the image file at ``path`` (:func:`camera_name` of its EXIF Make and Model),
    or None when the file has no model tag or its metadata cannot be read.

    Never raises: a file that cannot be opened is reported when it is read as an image, not here.
    """
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            make, model = exif.get(EXIF_MAKE), exif.get(EXIF_MODEL)
    except Exception:
        return None
    return camera_name(make, model)


# --------------------------------------------------------------------------------------------
# The whole EXIF block, for provenance (trufor.provenance): same reader (Pillow's Exif), more tags.

#: More tag numbers. IFD0: Orientation, Software, DateTime (last modified); the pointers to the Exif and
#: GPS IFDs. Exif IFD: DateTimeOriginal, DateTimeDigitized, the image size written by the camera
#: (PixelXDimension, PixelYDimension), LensMake, LensModel. IFD1: the embedded thumbnail (offset, length).
EXIF_ORIENTATION, EXIF_SOFTWARE, EXIF_DATETIME = 0x0112, 0x0131, 0x0132
EXIF_IFD_POINTER, GPS_IFD_POINTER = 0x8769, 0x8825
EXIF_DATETIME_ORIGINAL, EXIF_DATETIME_DIGITIZED = 0x9003, 0x9004
EXIF_PIXEL_X, EXIF_PIXEL_Y = 0xA002, 0xA003
EXIF_LENS_MAKE, EXIF_LENS_MODEL = 0xA433, 0xA434
IFD1_THUMBNAIL_OFFSET, IFD1_THUMBNAIL_LENGTH = 0x0201, 0x0202
#: Largest embedded thumbnail extracted (bytes); a longer one is reported, not copied.
MAX_THUMBNAIL_BYTES = 1 << 20


@dataclass
class ExifRecord:
    """The EXIF facts provenance reports, read from one TIFF/EXIF block. Text is cleaned by :func:`_text`;
    an absent tag is None. ``problems`` lists the parts that could not be read (the rest is still good)."""

    make: str | None = None
    model: str | None = None
    camera: str | None = None
    lens: str | None = None
    software: str | None = None
    datetime_original: str | None = None
    datetime_digitized: str | None = None
    datetime_modified: str | None = None
    orientation: int | None = None
    gps: bool = False
    pixel_width: int | None = None
    pixel_height: int | None = None
    thumbnail: bytes | None = field(default=None, repr=False)
    thumbnail_length: int | None = None
    tag_count: int = 0
    problems: list[str] = field(default_factory=list)


def _clean(value: Any) -> str | None:
    text = _text(value)
    return text or None


def _int(value: Any) -> int | None:
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 <= number < 1 << 32 else None


def parse_exif(block: bytes) -> ExifRecord:
    """The :class:`ExifRecord` of an EXIF block (a TIFF structure, with or without the ``Exif\\0\\0``
    prefix of a JPEG APP1 segment). Never raises: what cannot be read is named in ``problems``."""
    from PIL import ExifTags

    record = ExifRecord()
    exif = Image.Exif()
    try:
        exif.load(bytes(block))
        ifd0 = dict(exif)
    except Exception as exc:
        record.problems.append(f"EXIF block unreadable ({type(exc).__name__}: {exc})")
        return record

    def sub(pointer: int, what: str) -> dict:
        if pointer not in ifd0 and pointer != ExifTags.IFD.IFD1:
            return {}
        try:
            return dict(exif.get_ifd(pointer))
        except Exception as exc:
            record.problems.append(f"EXIF {what} unreadable ({type(exc).__name__}: {exc})")
            return {}

    sub_ifd, gps = sub(EXIF_IFD_POINTER, "Exif IFD"), sub(GPS_IFD_POINTER, "GPS IFD")
    ifd1 = sub(ExifTags.IFD.IFD1, "IFD1 (thumbnail)")
    record.tag_count = len(ifd0) + len(sub_ifd) + len(gps) + len(ifd1)
    record.make, record.model = _clean(ifd0.get(EXIF_MAKE)), _clean(ifd0.get(EXIF_MODEL))
    record.camera = camera_name(ifd0.get(EXIF_MAKE), ifd0.get(EXIF_MODEL))
    lens = " ".join(t for t in (_clean(sub_ifd.get(EXIF_LENS_MAKE)), _clean(sub_ifd.get(EXIF_LENS_MODEL))) if t)
    record.lens = lens or None
    record.software = _clean(ifd0.get(EXIF_SOFTWARE))
    record.datetime_modified = _clean(ifd0.get(EXIF_DATETIME))
    record.datetime_original = _clean(sub_ifd.get(EXIF_DATETIME_ORIGINAL))
    record.datetime_digitized = _clean(sub_ifd.get(EXIF_DATETIME_DIGITIZED))
    record.orientation = _int(ifd0.get(EXIF_ORIENTATION))
    record.gps = bool(gps)
    record.pixel_width, record.pixel_height = _int(sub_ifd.get(EXIF_PIXEL_X)), _int(sub_ifd.get(EXIF_PIXEL_Y))
    offset, length = _int(ifd1.get(IFD1_THUMBNAIL_OFFSET)), _int(ifd1.get(IFD1_THUMBNAIL_LENGTH))
    if offset is not None and length:
        record.thumbnail_length = length
        tiff = bytes(block[6:]) if bytes(block[:6]) == b"Exif\x00\x00" else bytes(block)
        if length <= MAX_THUMBNAIL_BYTES and offset + length <= len(tiff):
            record.thumbnail = tiff[offset:offset + length]
        else:
            record.problems.append(f"EXIF thumbnail ({length} bytes at {offset}) lies outside the EXIF block "
                                   f"of {len(tiff)} bytes or is too large; not read")
    return record


def read_exif(path: str | os.PathLike) -> ExifRecord | None:
    """The :class:`ExifRecord` of an image file (any format Pillow reads EXIF from), or None when it has
    no EXIF block. Never raises for a bad file: a file that cannot be opened gives a record whose
    ``problems`` say why."""
    try:
        with Image.open(path) as im:
            block = exif_block(im)
    except Exception as exc:
        return ExifRecord(problems=[f"metadata unreadable ({type(exc).__name__}: {exc})"])
    return None if block is None else parse_exif(block)


def exif_block(im: Image.Image) -> bytes | None:
    """The raw EXIF block of an opened image (as stored, or rebuilt by Pillow for formats that keep the
    tags elsewhere, e.g. TIFF), without decoding pixels; None when it has no EXIF."""
    block = im.info.get("exif")
    if block is None:
        exif = im.getexif()
        if not len(exif):
            return None
        block = exif.tobytes()
    return block
