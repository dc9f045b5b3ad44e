"""Tests of trufor.evaluation.datasets: list files, the benchmark folder layouts, mask reading and defects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trufor.evaluation import datasets as D

REPO = Path(__file__).resolve().parents[1]
CASIA1 = REPO.parent / "shared" / "data" / "benchmarks" / "casia1"


def save(path: Path, array, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array), mode=mode).save(path)
    return path


def rgb(h=32, w=48, value=128):
    return np.full((h, w, 3), value, np.uint8)


def square_mask(h=32, w=48, rgb_=False, inverted=False):
    m = np.zeros((h, w), np.uint8)
    m[8:20, 10:30] = 255
    if inverted:
        m = 255 - m
    return np.repeat(m[..., None], 3, axis=2) if rgb_ else m


# ----------------------------------------------------------------------------------------------
# List files
# ----------------------------------------------------------------------------------------------


def test_list_files(tmp_path):
    root = tmp_path / "data"
    save(root / "image" / "10t.tif", rgb())
    save(root / "mask" / "10forged.tif", square_mask())
    save(root / "image" / "11t.tif", rgb())
    save(root / "image" / "13t.tif", rgb())
    save(root / "image" / "10.tif", rgb())
    (tmp_path / "fake.txt").write_text(
        "# comment\nimage/10t.tif,mask/10forged.tif\n\nimage/11t.tif,mask/11forged.tif\n"
        "image/12t.tif,mask/12forged.tif\nimage/10t.tif,mask/10forged.tif\nimage/13t.tif,None\n"
    )
    (tmp_path / "real.txt").write_text("image/10.tif\n")
    ds = D.from_lists(tmp_path / "fake.txt", tmp_path / "real.txt", root=root)
    assert [s.name for s in ds.samples] == [
        "image/10t.tif", "image/11t.tif", "image/12t.tif", "image/10t.tif#2", "image/13t.tif", "image/10.tif"]
    by = {s.name: s for s in ds.samples}
    assert by["image/10t.tif"].skip is None and by["image/10t.tif"].mask == str(root / "mask" / "10forged.tif")
    assert by["image/11t.tif"].mask_issue.startswith("mask file not found") and not by["image/11t.tif"].skip
    assert by["image/12t.tif"].skip.startswith("image file not found")
    assert by["image/10t.tif#2"].skip.startswith("duplicate entry")
    assert "no mask given on line 7" in by["image/13t.tif"].mask_issue
    assert by["image/10.tif"].label == D.REAL and by["image/10.tif"].skip is None
    assert len(ds.fakes) == 5 and len(ds.reals) == 1 and len(ds.skipped) == 2 and len(ds.without_mask) == 2


def test_list_file_mask_root_and_comma_names(tmp_path):
    """DSO-1 style: the same name for image and mask, under two roots; a comma inside a name."""
    save(tmp_path / "img" / "splicing-1.png", rgb())
    save(tmp_path / "img" / "a,b.png", rgb())
    save(tmp_path / "gt" / "splicing-1.png", square_mask(inverted=True))
    (tmp_path / "f.txt").write_text("splicing-1.png,splicing-1.png\na,b.png,x.png\n")
    ds = D.from_lists(tmp_path / "f.txt", root=tmp_path / "img", mask_root=tmp_path / "gt")
    assert ds.samples[0].mask == str(tmp_path / "gt" / "splicing-1.png") and ds.samples[0].skip is None
    assert ds.samples[1].name == "a,b.png" and ds.samples[1].mask == str(tmp_path / "gt" / "x.png")
    (tmp_path / "bad.txt").write_text("p,q,r\n")
    with pytest.raises(D.DatasetError, match="bad.txt:1"):
        D.from_lists(tmp_path / "bad.txt", root=tmp_path / "img")
    with pytest.raises(D.DatasetError, match="list file not found"):
        D.from_lists(tmp_path / "nope.txt", root=tmp_path / "img")


def test_load_dataset_list_spec(tmp_path):
    save(tmp_path / "a.png", rgb())
    save(tmp_path / "a_gt.png", square_mask())
    save(tmp_path / "b.png", rgb())
    (tmp_path / "f.txt").write_text("a.png,a_gt.png\n")
    (tmp_path / "r.txt").write_text("b.png\n")
    ds = D.load_dataset("list:f.txt,r.txt", tmp_path)  # list paths found under the root
    assert len(ds.fakes) == 1 and len(ds.reals) == 1 and ds.name == "list:f.txt,r.txt"
    with pytest.raises(D.DatasetError, match="unknown dataset"):
        D.load_dataset("casia9", tmp_path)
    with pytest.raises(D.DatasetError, match="root folder not found"):
        D.load_dataset("casia1", tmp_path / "missing")
    with pytest.raises(D.DatasetError, match="FAKE_LIST"):
        D.load_dataset("list:", tmp_path)
    with pytest.raises(D.DatasetError, match="--images"):
        D.load_dataset("folder", tmp_path)


# ----------------------------------------------------------------------------------------------
# Folder layouts
# ----------------------------------------------------------------------------------------------


def test_casia1_layout(tmp_path):
    save(tmp_path / "Sp" / "Sp_D_x_0001.jpg", rgb())
    save(tmp_path / "Sp" / "Sp_S_y_0002.jpg", rgb())
    save(tmp_path / "masks" / "Sp_D_x_0001_gt.png", square_mask(rgb_=True))
    save(tmp_path / "Au" / "Au_ani_0001.jpg", rgb())
    save(tmp_path / "Au" / "Au_art_0044.JPG", rgb())
    ds = D.load_dataset("casia1", tmp_path)
    assert [s.name for s in ds.fakes] == ["Sp/Sp_D_x_0001.jpg", "Sp/Sp_S_y_0002.jpg"]
    assert ds.fakes[1].mask_issue == "no ground-truth mask (masks/Sp_S_y_0002_gt.png does not exist)"
    assert len(ds.reals) == 2  # upper-case extension included


def test_columbia_layout_green_mask(tmp_path):
    save(tmp_path / "4cam_splc" / "cam1_cam2_sub_01.tif", rgb())
    edge = np.zeros((32, 48, 3), np.uint8)
    edge[..., 0] = 255  # red: authentic part
    edge[5:15, 5:25] = (0, 255, 0)  # green: spliced part
    save(tmp_path / "4cam_splc" / "edgemask" / "cam1_cam2_sub_01_edgemask.jpg", edge)
    save(tmp_path / "4cam_auth" / "cam1_sub_01.tif", rgb())
    ds = D.load_dataset("columbia", tmp_path)
    assert len(ds.fakes) == 1 and len(ds.reals) == 1 and ds.fakes[0].skip is None
    m = D.load_mask(ds.fakes[0].mask, ds.mask_format, (32, 48)).mask
    assert abs(int(m.sum()) - 200) < 20 and m[10, 10] and not m[25, 40]  # JPEG-tolerant


def test_coverage_layout(tmp_path):
    save(tmp_path / "image" / "1t.tif", rgb())
    save(tmp_path / "image" / "1.tif", rgb())
    save(tmp_path / "mask" / "1forged.tif", square_mask())
    save(tmp_path / "mask" / "1copy.tif", square_mask())
    ds = D.load_dataset("coverage", tmp_path)
    assert [(s.name, s.label) for s in ds.samples] == [("image/1.tif", 0), ("image/1t.tif", 1)]
    assert ds.fakes[0].mask.endswith("1forged.tif")


def test_dso1_layout_inverted(tmp_path):
    save(tmp_path / "DSO-1" / "splicing-01.png", rgb())
    save(tmp_path / "DSO-1" / "normal-01.png", rgb())
    save(tmp_path / "DSO-1-Fake-Images-Masks" / "splicing-01.png", square_mask(rgb_=True, inverted=True))
    ds = D.load_dataset("dso1", tmp_path)
    assert len(ds.fakes) == 1 and len(ds.reals) == 1 and ds.mask_format.invert
    m = D.load_mask(ds.fakes[0].mask, ds.mask_format, (32, 48)).mask
    assert m.sum() == 12 * 20 and m[10, 15]


def test_nist16_layout(tmp_path):
    save(tmp_path / "probe" / "NC2016_0001.jpg", rgb())
    save(tmp_path / "probe" / "NC2016_0002.jpg", rgb())
    save(tmp_path / "reference" / "splice" / "mask" / "NC2016_9001.png", square_mask(inverted=True))
    ref = tmp_path / "reference" / "splice" / "NC2016-splice-ref.csv"
    ref.write_text("TaskID|ProbeFileID|ProbeFileName|ProbeMaskFileName|IsTarget\n"
                   "splice|NC2016_0001|probe/NC2016_0001.jpg|reference/splice/mask/NC2016_9001.png|Y\n"
                   "splice|NC2016_0002|probe/NC2016_0002.jpg||N\n")
    ds = D.load_dataset("nist16", tmp_path)
    assert [(s.name, s.label, s.skip) for s in ds.samples] == [
        ("probe/NC2016_0001.jpg", 1, None), ("probe/NC2016_0002.jpg", 0, None)]
    assert ds.mask_format.invert


def test_cocoglide_layout(tmp_path):
    save(tmp_path / "fake" / "glide_inpainting_val2017_114871_up.png", rgb())
    save(tmp_path / "fake" / "glide_inpainting_val2017_5_up.png", rgb())
    save(tmp_path / "mask" / "dining table_114871_mask.png", square_mask())
    save(tmp_path / "real" / "dining table_114871.png", rgb())
    ds = D.load_dataset("cocoglide", tmp_path)
    by = {s.name: s for s in ds.samples}
    assert by["fake/glide_inpainting_val2017_114871_up.png"].mask.endswith("dining table_114871_mask.png")
    assert by["fake/glide_inpainting_val2017_5_up.png"].mask_issue.startswith("no mask with the same COCO id")
    assert len(ds.reals) == 1


def test_imd2020_layout(tmp_path):
    save(tmp_path / "1a1ogs" / "1a1ogs_orig.jpg", rgb())
    save(tmp_path / "1a1ogs" / "c8tf5mq_0.png", rgb())
    save(tmp_path / "1a1ogs" / "c8tf5mq_0_mask.png", square_mask())
    save(tmp_path / "1a1ogs" / "c8tf5mq_1.jpg", rgb())
    ds = D.load_dataset("imd2020", tmp_path)
    assert [(s.name, s.label) for s in ds.samples] == [
        ("1a1ogs/1a1ogs_orig.jpg", 0), ("1a1ogs/c8tf5mq_0.png", 1), ("1a1ogs/c8tf5mq_1.jpg", 1)]
    assert ds.samples[2].mask_issue == "no mask c8tf5mq_1_mask.png"


def test_generic_folder_layout(tmp_path):
    save(tmp_path / "imgs" / "a.jpg", rgb())
    save(tmp_path / "imgs" / "b.jpg", rgb())
    save(tmp_path / "gts" / "a_gt.png", square_mask())
    save(tmp_path / "reals" / "r.jpg", rgb())
    ds = D.load_dataset("folder", tmp_path, images="imgs", masks="gts", pattern="{stem}_gt.png", real="reals")
    assert [(s.name, s.label, s.mask_issue is None) for s in ds.samples] == [
        ("imgs/a.jpg", 1, True), ("imgs/b.jpg", 1, False), ("reals/r.jpg", 0, True)]
    ds = D.from_folders(tmp_path / "imgs", tmp_path / "gts", "{name}.png")
    assert all(s.mask_issue for s in ds.fakes)
    with pytest.raises(D.DatasetError, match="pattern"):
        D.from_folders(tmp_path / "imgs", tmp_path / "gts", "fixed.png")


def test_limit_takes_both_classes():
    samples = [D.Sample(f"f{i}", "x", D.FAKE) for i in range(5)] + [D.Sample(f"r{i}", "x", D.REAL) for i in range(2)]
    ds = D.Benchmark("t", "/", samples)
    assert [s.name for s in ds.limited(4).samples] == ["f0", "r0", "f1", "r1"]
    assert [s.name for s in ds.limited(6).samples] == ["f0", "r0", "f1", "r1", "f2", "f3"]
    assert ds.limited(None) is ds and ds.limited(100) is ds


# ----------------------------------------------------------------------------------------------
# Masks
# ----------------------------------------------------------------------------------------------


def test_binarize_formats():
    m = square_mask()
    assert D.binarize_mask(Image.fromarray(m)).sum() == 240
    assert D.binarize_mask(Image.fromarray(square_mask(rgb_=True))).sum() == 240
    rgba = np.dstack([square_mask(rgb_=True), np.full((32, 48), 255, np.uint8)])
    assert D.binarize_mask(Image.fromarray(rgba)).sum() == 240
    assert D.binarize_mask(Image.fromarray((m > 0).astype(np.uint8))).sum() == 240  # 0/1 masks
    assert D.binarize_mask(Image.fromarray(m), D.MaskFormat(invert=True)).sum() == 32 * 48 - 240
    assert D.binarize_mask(Image.fromarray(m.astype(np.uint16) * 257)).sum() == 240  # 16-bit
    assert D.binarize_mask(square_mask(rgb_=True)).sum() == 240  # arrays too
    noisy = m.copy()
    noisy[0, 0] = 3  # JPEG noise: forged with the authors' "> 0", not with threshold 127
    assert D.binarize_mask(noisy).sum() == 241
    assert D.binarize_mask(noisy, D.MaskFormat(threshold=127)).sum() == 240
    assert "grey level > 0" in D.MaskFormat().describe()


def test_load_mask_sizes(tmp_path):
    fmt = D.MaskFormat()
    p = save(tmp_path / "m.png", square_mask())
    ok = D.load_mask(p, fmt, (32, 48))
    assert ok.mask.shape == (32, 48) and not ok.warnings and ok.issue is None
    half = save(tmp_path / "half.png", square_mask()[::2, ::2])
    r = D.load_mask(half, fmt, (32, 48))
    assert r.mask.shape == (32, 48) and "resized" in r.warnings[0]
    other = save(tmp_path / "other.png", np.zeros((30, 30), np.uint8))
    r = D.load_mask(other, fmt, (32, 48))
    assert r.mask is None and "different aspect ratio" in r.issue
    r = D.load_mask(other, fmt, (32, 48), mismatch="resize")
    assert r.mask.shape == (32, 48) and "no forged pixel" in r.warnings[-1]
    r = D.load_mask(half, fmt, (32, 48), mismatch="skip")
    assert r.mask is None and r.issue == "mask is 24x16 but image is 48x32"
    r = D.load_mask(tmp_path / "none.png", fmt, (32, 48))
    assert r.issue.startswith("mask file not found")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    assert D.load_mask(tmp_path / "junk.png", fmt, (32, 48)).issue.startswith("cannot read mask")


@pytest.mark.parametrize("how", ["ccw", "cw", "t"])
def test_swapped_mask_is_reoriented_to_fit_the_image(tmp_path, how):
    img = np.full((40, 64), 30, np.uint8)
    img[5:17, 40:58] = 220  # an object off-centre, so every orientation puts the mask elsewhere
    truth = np.zeros((40, 64), bool)
    truth[5:17, 40:58] = True
    stored = {"ccw": np.rot90(truth, -1), "cw": np.rot90(truth, 1), "t": truth.T}[how]
    ip = save(tmp_path / "img.png", img)
    mp = save(tmp_path / "mask.png", stored.astype(np.uint8) * 255)
    r = D.load_mask(mp, D.MaskFormat(), (40, 64), image=ip)
    np.testing.assert_array_equal(r.mask, truth)
    assert "mask is 40x64 but image is 64x40" in r.warnings[0]


# ----------------------------------------------------------------------------------------------
# The real CASIA v1 copy in ../shared
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def casia():
    if not CASIA1.is_dir():
        pytest.skip(f"{CASIA1} not available (the shared data folder lives beside the repository)")
    return D.load_dataset("casia1", CASIA1)


def test_casia1_real_copy_listing(casia):
    assert len(casia.fakes) == 921 and len(casia.reals) == 800
    assert not casia.skipped
    assert [(s.name, s.mask_issue.split(" (")[0]) for s in casia.without_mask] == [
        ("Sp/Sp_D_NRN_A_sce0011_cha0011_0542.jpg", "no ground-truth mask")]


def test_casia1_real_copy_masks(casia):
    mismatched = []
    for s in casia.fakes:
        if s.mask_issue:
            continue
        with Image.open(s.image) as im, Image.open(s.mask) as mk:
            if im.size != mk.size:
                mismatched.append(s.name)
    assert mismatched == ["Sp/Sp_D_CNN_A_sec0012_ani0007_0275.jpg"]
    s = next(x for x in casia.fakes if x.name == mismatched[0])
    r = D.load_mask(s.mask, casia.mask_format, (256, 384), image=s.image)
    assert r.mask.shape == (256, 384)
    assert "rotated 90 degrees counter-clockwise" in r.warnings[0]  # checked by eye: fits the birds
    with Image.open(s.mask) as mk:
        raw = np.asarray(mk.convert("L")) > 0
    np.testing.assert_array_equal(r.mask, np.rot90(raw, 1))
