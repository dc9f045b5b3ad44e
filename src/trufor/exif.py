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
