"""scripts/pack_crops.py: lossless crops of the training side of a data root (same names, same splits)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trufor.training.data import held_out

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("jpegtran") is None,
                                reason="jpegtran not installed (libjpeg-turbo-progs; .ci/run installs it)")


def _photo(path: Path, size: tuple[int, int], seed: int, quality: int = 87, **kw) -> None:
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) * 128 // (w + h))], -1)
    pixels = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=quality, **kw)


def test_pack_crops_lossless_same_names_training_side_only(tmp_path):
    data = tmp_path / "data"
    names = [f"cam_{i:02d}.jpg" for i in range(12)]
    for i, n in enumerate(names):
        _photo(data / "pristine/camera" / n, (700, 530), i)
    for i in range(12):
        _photo(data / "pristine/wallpapers/set" / f"w{i}.jpg", (1000, 900), 100 + i, subsampling=0)
    imd = data / "forgeries/imd2020_subset"
    fakes, reals = [], []
    for i in range(14):
        ext = "png" if i % 4 == 0 else "jpg"
        img = imd / "fake" / f"{i:05d}_fake.{ext}"
        _photo(img, (900, 800), 200 + i)
        mask = np.zeros((800, 900), np.uint8)
        mask[600:700, 700:860] = 255
        (imd / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask).save(imd / "masks" / f"{i:05d}_fake_mask.png")
        fakes.append(f"fake/{img.name},masks/{i:05d}_fake_mask.png")
        _photo(imd / "real" / f"{i:05d}_real.jpg", (640, 480), 300 + i)
        reals.append(f"real/{i:05d}_real.jpg")
    (imd / "fake_list.txt").write_text("\n".join(fakes) + "\n")
    (imd / "real_list.txt").write_text("\n".join(reals) + "\n")

    out = tmp_path / "packed"
    subprocess.run([sys.executable, str(REPO / "scripts/pack_crops.py"), str(out), "--data", str(data),
                    "--camera", "256", "--other", "512", "--no-bsds"], check=True, capture_output=True)
    packed = out / "data"

    # every camera photo (validation needs the held-out ones), a crop of 256 px on the MCU grid, pixels and
    # quantisation tables unchanged inside (no re-compression)
    for n in names:
        with Image.open(data / "pristine/camera" / n) as a, Image.open(packed / "pristine/camera" / n) as b:
            assert b.size == (256, 256) and a.quantization == b.quantization
            x, y = (700 - 256) // 2 // 16 * 16, (530 - 256) // 2 // 16 * 16
            full = np.asarray(a.convert("RGB"))[y:y + 256, x:x + 256].astype(int)
            crop = np.asarray(b.convert("RGB")).astype(int)
        assert np.abs(full[16:-16, 16:-16] - crop[16:-16, 16:-16]).max() <= 1  # chroma upsampling at the edges aside
    # training side only where the configs hold out by name
    kept = sorted(p.name for p in (packed / "pristine/wallpapers/set").iterdir())
    assert kept == sorted(f"w{i}.jpg" for i in range(12) if not held_out(f"set/w{i}.jpg", 0.1))
    with Image.open(data / "pristine/wallpapers/set/w1.jpg") as a:  # 4:4:4: exact to the pixel
        full = np.asarray(a)
    if "w1.jpg" in kept:
        with Image.open(packed / "pristine/wallpapers/set/w1.jpg") as b:
            crop = np.asarray(b)
        x, y = (1000 - 512) // 2 // 16 * 16, (900 - 512) // 2 // 16 * 16
        assert np.array_equal(full[y:y + 512, x:x + 512], crop)
    lines = (packed / "forgeries/imd2020_subset/fake_list.txt").read_text().split()
    assert lines == [f for f in fakes if not held_out(f.split(",")[0], 0.4)] and lines
    assert (packed / "forgeries/imd2020_subset/real_list.txt").read_text().split() == \
        [r for r in reals if not held_out(r, 0.4)]
    for line in lines:  # the crop follows the forged region, image and mask cut alike
        image, mask = line.split(",")
        with Image.open(packed / "forgeries/imd2020_subset" / image) as im, \
                Image.open(packed / "forgeries/imd2020_subset" / mask) as m:
            assert im.size == m.size == (512, 512)
            mk = np.asarray(m) > 127
        assert mk.sum() == 100 * 160  # the whole forged region is inside the crop
