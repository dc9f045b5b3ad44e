"""scripts/make_web_jpeg_set.py (web-sized JPEG copies of authentic photos) and how the held-out table groups them."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def _module(rel: str, name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / rel)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _photo(path: Path, size: tuple[int, int], seed: int, exif: bool = False) -> None:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels)
    if exif:
        ex = Image.Exif()
        ex[0x0112] = 6  # rotated: the copy must be upright
        image.save(path, quality=92, exif=ex.tobytes())
    else:
        image.save(path, quality=92)


def test_copies_are_web_sized_jpegs_in_one_folder_per_group(tmp_path):
    web = _module("scripts/make_web_jpeg_set.py", "make_web_jpeg_set")
    root = tmp_path / "data"
    _photo(root / "pristine" / "camera" / "a.jpg", (1600, 1200), 1, exif=True)
    _photo(root / "pristine" / "digicam" / "b.jpg", (300, 200), 2)  # smaller than every side: never enlarged
    _photo(root / "forgeries" / "imd" / "real" / "c.png", (900, 700), 3)
    (root / "pristine" / "camera" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    lst = tmp_path / "list.txt"
    lst.write_text("pristine/camera/a.jpg\npristine/digicam/b.jpg\nforgeries/imd/real/c.png\n"
                   "pristine/camera/broken.jpg\n\n", encoding="utf-8")
    out = tmp_path / "out"
    assert web.main([str(lst), str(out), "--root", str(root), "--sides", "512,640", "--quality", "70,80"]) == 0
    names = (out / "real_list.txt").read_text(encoding="utf-8").split()
    assert names == ["web__pristine__camera/pristine__camera__a.jpg",
                     "web__pristine__digicam/pristine__digicam__b.jpg",
                     "web__forgeries__imd/forgeries__imd__real__c.jpg"]
    sizes = {}
    for name in names:
        with Image.open(out / name) as im:
            assert im.format == "JPEG" and not im.getexif()
            sizes[name] = im.size
    assert max(sizes[names[0]]) in (512, 640) and sizes[names[0]][1] > sizes[names[0]][0]  # upright (EXIF 6)
    assert sizes[names[1]] == (300, 200)
    assert not list(out.rglob(".*.tmp"))
    first = {n: (out / n).read_bytes() for n in names}
    assert web.main([str(lst), str(out), "--root", str(root), "--sides", "512,640", "--quality", "70,80"]) == 0
    assert {n: (out / n).read_bytes() for n in names} == first  # seeded by name: the same files again


def test_quality_and_second_compression_are_drawn_in_range():
    from trufor.synthesis.processing import web_copy

    web = _module("scripts/make_web_jpeg_set.py", "make_web_jpeg_set")
    image = np.random.default_rng(0).integers(0, 256, (100, 150, 3), dtype=np.uint8)
    twice = 0
    for i in range(40):
        _, _, data, what = web_copy(image, web.rng_for(f"x{i}", 1), sides=(100,), quality_range=(60, 95), twice=0.5)
        steps = what.split()[1].split("+")
        assert 1 <= len(steps) <= 2 and all(60 <= int(s[1:]) <= 95 for s in steps)
        twice += len(steps) == 2
        assert Image.open(io.BytesIO(data)).size == (100, 67)
    assert 5 < twice < 35


def test_held_out_table_groups_a_copy_with_its_original():
    table = _module("benchmarks/heldout_table.py", "heldout_table")
    assert table.group_of("web__pristine__camera/pristine__camera__sub__a.jpg") == "web copies of pristine/camera"
    assert table.group_of("web__forgeries__imd2020_subset/forgeries__imd2020_subset__real__x.jpg") == \
        "web copies of imd2020_subset/real"
    assert table.group_of("pristine/camera/a.jpg") == "pristine/camera"


def test_web_copy_resizes_the_mask_with_the_image():
    from trufor.synthesis.processing import web_copy

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8)
    mask = np.zeros((900, 1200), np.int64)
    mask[300:600, 400:800] = 1
    out, m, data, what = web_copy(image, np.random.default_rng(5), sides=(600,), quality_range=(80, 80), twice=0.0,
                                  mask=mask)
    assert out.shape == (450, 600, 3) and m.shape == (450, 600) and m.dtype == np.int64
    assert what == "600x450 q80" and data[:2] == b"\xff\xd8"
    assert set(np.unique(m)) == {0, 1} and abs(int(m.sum()) - 300 * 400 // 4) < 1000
    small, m2, _, _ = web_copy(image[:100, :100], np.random.default_rng(5), sides=(600,), mask=mask[:100, :100])
    assert small.shape == (100, 100, 3) and m2.shape == (100, 100)  # never enlarged


def test_manipulated_images_are_copied_with_their_masks(tmp_path):
    web = _module("scripts/make_web_jpeg_set.py", "make_web_jpeg_set")
    root = tmp_path / "data"
    _photo(root / "forgeries" / "imd" / "fake" / "f.jpg", (1200, 800), 4)
    _photo(root / "forgeries" / "imd" / "fake" / "g.png", (900, 600), 5)
    _photo(root / "forgeries" / "imd" / "fake" / "h.jpg", (600, 400), 6)
    _photo(root / "forgeries" / "imd" / "real" / "r.jpg", (1000, 800), 7)
    mask = np.zeros((800, 1200), np.uint8)
    mask[200:400, 300:700] = 255
    (root / "forgeries" / "imd" / "masks").mkdir()
    Image.fromarray(mask).save(root / "forgeries" / "imd" / "masks" / "f_mask.png")
    Image.fromarray(mask[:100, :100]).save(root / "forgeries" / "imd" / "masks" / "h_mask.png")  # wrong size
    fakes = tmp_path / "fakes.txt"
    fakes.write_text("forgeries/imd/fake/f.jpg,forgeries/imd/masks/f_mask.png\nforgeries/imd/fake/g.png,None\n"
                     "forgeries/imd/fake/h.jpg,forgeries/imd/masks/h_mask.png\n", encoding="utf-8")
    reals = tmp_path / "reals.txt"
    reals.write_text("forgeries/imd/real/r.jpg\n", encoding="utf-8")
    out = tmp_path / "out"
    assert web.main([str(reals), str(out), "--fakes", str(fakes), "--root", str(root), "--sides", "600",
                     "--quality", "70,80"]) == 0
    web_imd = "web__forgeries__imd/forgeries__imd__"
    assert (out / "real_list.txt").read_text(encoding="utf-8").split() == [web_imd + "real__r.jpg"]
    lines = (out / "fake_list.txt").read_text(encoding="utf-8").split()
    assert lines == [f"{web_imd}fake__f.jpg,{web_imd}fake__f.mask.png",
                     f"{web_imd}fake__g.jpg,None"]  # h: its mask does not fit the image, skipped
    image, mask_name = lines[0].split(",")
    with Image.open(out / image) as im, Image.open(out / mask_name) as m:
        assert im.size == m.size == (600, 400)
        copied = np.asarray(m)
    assert set(np.unique(copied)) == {0, 255}
    assert np.array_equal(copied > 0, cv2_nearest(mask > 127, (600, 400)))


def cv2_nearest(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(mask.astype(np.int32), size, interpolation=cv2.INTER_NEAREST) > 0
