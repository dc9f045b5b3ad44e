"""trufor.exif: the one EXIF camera reader, its one spelling, and its callers (synth sources, phase 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from trufor.exif import EXIF_MAKE, EXIF_MODEL, camera_model, camera_name


def photo(path: Path, make=None, model=None, fmt: str = "JPEG") -> Path:
    exif = Image.Exif()
    if make is not None:
        exif[EXIF_MAKE] = make
    if model is not None:
        exif[EXIF_MODEL] = model
    pixels = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt, exif=exif, **({"quality": 90} if fmt == "JPEG" else {}))
    return path


@pytest.mark.parametrize("make,model,name", [
    ("Canon", "Canon PowerShot S30", "canon powershot s30"),  # the make is not repeated
    ("NIKON CORPORATION", "NIKON D70", "nikon d70"),  # ... when the model starts with its first word
    ("Apple", "iPhone 6", "apple iphone 6"),
    ("  Canon\x00\x00", "Canon  EOS   5D \x00", "canon eos 5d"),  # padding, NULs and runs of spaces
    (None, "DSC-W55", "dsc-w55"),
    ("SONY", None, None),  # no model: unknown
    (None, None, None),
])
def test_camera_model_of_a_jpeg_written_by_pil(tmp_path, make, model, name):
    assert camera_model(photo(tmp_path / "p.jpg", make, model)) == name


def test_other_formats_and_unreadable_files(tmp_path):
    assert camera_model(photo(tmp_path / "p.tif", "Canon", "Canon EOS 5D", fmt="TIFF")) == "canon eos 5d"
    assert camera_model(photo(tmp_path / "p.png", "Canon", "Canon EOS 5D", fmt="PNG")) == "canon eos 5d"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "plain.png")
    assert camera_model(tmp_path / "plain.png") is None
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    assert camera_model(tmp_path / "junk.jpg") is None
    assert camera_model(tmp_path / "missing.jpg") is None
    assert camera_name(b"Canon", b"Canon EOS 5D\x00") == "canon eos 5d"  # byte values decoded


def test_every_former_caller_uses_the_one_spelling(tmp_path):
    from trufor.synthesis import camera_model as synth_camera_model
    from trufor.synthesis.synthetic import scan_sources
    from trufor.training.data import build_photo_sources

    assert synth_camera_model is camera_model
    photo(tmp_path / "a.jpg", "Canon", "Canon PowerShot S30")
    photo(tmp_path / "b.jpg")
    assert {s.name: s.camera for s in scan_sources(tmp_path)} == {"a.jpg": "canon powershot s30", "b.jpg": None}
    photos = build_photo_sources([{"type": "pristine", "folders": [str(tmp_path)]}], default_split="train")
    cams = {p.name.split("/")[-1]: p.camera for p in photos}
    assert cams["a.jpg"] == "camera:canon powershot s30" and cams["b.jpg"].startswith("image:")


text = st.one_of(st.none(), st.text(st.characters(codec="latin-1"), max_size=20))


@settings(max_examples=300, deadline=None)
@given(text, text)
def test_camera_name_is_normalised_once_and_for_all(make, model):
    name = camera_name(make, model)
    if name is None:
        assert not (model or "").replace("\x00", " ").split()
        return
    assert name == name.lower() == " ".join(name.split())  # lower-case, no padding, single spaces
    assert camera_name(None, name) == name  # normalising again changes nothing
    assert camera_name(make, name) == name  # nor does giving the make again: it is never repeated
