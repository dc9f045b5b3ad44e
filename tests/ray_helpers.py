"""Helpers of the Ray tests: real photos cut to CASIA size, and comparing two detect output folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import IN_CI, require_shared


def require_ray_module():
    """``ray`` (with Ray Data); skip without it, but fail in CI, where the dev extra installs it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("ray is not installed although the dev extra lists trufor[ray]")
        pytest.skip("ray is not installed (pip install 'trufor[ray]')")
    return ray


def make_photos(folder: Path, count: int, size: tuple[int, int] = (384, 256), *, bad: bool = True,
                subfolder_every: int = 0) -> Path:
    """``count`` JPEG crops (width, height = ``size``) of the real photos of ../shared/data/pristine, and,
    with ``bad``, one file that is not an image (``broken.jpg``: a JPEG cut after its header)."""
    pristine = require_shared("data/pristine")
    sources = sorted(p for p in pristine.rglob("*.jpg"))[:count]
    if len(sources) < count:
        pytest.skip(f"{pristine} holds fewer than {count} photos")
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    for i, src in enumerate(sources):
        with Image.open(src) as im:
            im = im.convert("RGB")
            if im.width < w or im.height < h:
                im = im.resize((max(w, im.width), max(h, im.height)))
            crop = im.crop((0, 0, w, h))
        target = folder / (f"sub/{i:03d}.jpg" if subfolder_every and i % subfolder_every == 0 else f"{i:03d}.jpg")
        target.parent.mkdir(parents=True, exist_ok=True)
        crop.save(target, quality=90)
    if bad:
        data = (folder / "001.jpg").read_bytes()
        (folder / "broken.jpg").write_bytes(data[:300])
    return folder


def load_rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines() if line.strip()]


def comparable(rows: list[dict], root_in: str, root_out: str) -> list[dict]:
    """Rows without the timing, with the input and output roots cut off (two runs write to two folders)."""
    out = []
    for r in rows:
        r = {k: v for k, v in r.items() if k != "seconds"}
        r["image"] = r["image"].replace(root_in, "<IN>")
        r["output"] = r["output"].replace(root_out, "<OUT>")
        r["message"] = r["message"].replace(root_in, "<IN>").replace(root_out, "<OUT>")
        out.append(r)
    return out


def npz_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.npz"))


def assert_same_npz(a: Path, b: Path, names: list[str]) -> None:
    """The npz files ``names`` of two folders hold the same keys and bit-identical arrays."""
    assert names
    for name in names:
        with np.load(a / name) as x, np.load(b / name) as y:
            assert sorted(x.files) == sorted(y.files), name
            for key in x.files:
                assert x[key].dtype == y[key].dtype and np.array_equal(x[key], y[key]), (name, key)


def no_part_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".part")]
