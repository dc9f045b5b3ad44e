"""Synthetic forgeries (trufor.data): exact masks, determinism, the chain, the Dataset, lists and CLI."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from trufor.cli import SUBCOMMANDS, main
from trufor.synthesis import (
    KINDS,
    ChainConfig,
    SynthConfig,
    SyntheticForgeries,
    SyntheticForgeryDataset,
    make_forgery,
    read_list,
    scan_sources,
    write_dataset,
)
from trufor.synthesis.forgeries import RETOUCH_OPS, _retouch_op, composite, copy_move, retouch
from trufor.synthesis.processing import apply_chain, crop_window, jpeg_decode, resize_pair
from trufor.synthesis.regions import blob_region, polygon_region, segment_region, soft_alpha
from trufor.synthesis.synthetic import choose_donor, SourceImage
from trufor.imageio import read_image

REPO = Path(__file__).resolve().parents[1]
SHARED_PRISTINE = REPO.parent / "shared" / "data" / "pristine"
NO_CHAIN = ChainConfig(resize_prob=0.0, jpeg_prob=0.0)


def _photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A textured stand-in for a photo: smooth colour field, noise, a few shapes."""
    base = cv2.resize(rng.uniform(30, 220, (6, 8, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    img = base + rng.normal(0, 6, (h, w, 3))
    for _ in range(4):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.circle(img, (int(rng.integers(w)), int(rng.integers(h))), int(rng.integers(5, h // 3)), c, -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _save_with_camera(path: Path, img: np.ndarray, make: str | None, model: str | None, fmt: str) -> None:
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    kw = {"quality": 95} if fmt == "JPEG" else {}
    Image.fromarray(img).save(path, format=fmt, exif=exif, **kw)


@pytest.fixture(scope="module")
def src_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    (root / "sub").mkdir()
    rng = np.random.default_rng(1234)
    specs = [
        ("a.jpg", (96, 128), "Canon", "Canon EOS 5D", "JPEG"),
        ("b.jpg", (112, 96), "NIKON CORPORATION", "NIKON D70", "JPEG"),
        ("c.png", (80, 120), None, None, "PNG"),
        ("sub/d.tif", (100, 100), "Canon", "Canon EOS 5D", "TIFF"),
        ("sub/e.JPG", (128, 160), "Apple", "iPhone 6", "JPEG"),
    ]
    for name, (h, w), make, model, fmt in specs:
        _save_with_camera(root / name, _photo(rng, h, w), make, model, fmt)
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def sources(src_dir):
    return scan_sources(src_dir)


# ------------------------------------------------------------------------------------------ sources
def test_scan_sources_recursive_sorted_with_cameras(sources):
    assert [s.name for s in sources] == ["a.jpg", "b.jpg", "c.png", "sub/d.tif", "sub/e.JPG"]
    cams = {s.name: s.camera for s in sources}
    assert cams["a.jpg"] == "canon eos 5d"
    assert cams["b.jpg"] == "nikon d70"  # model already starts with the make: not repeated
    assert cams["c.png"] is None
    assert cams["sub/d.tif"] == "canon eos 5d"
    assert cams["sub/e.JPG"] == "apple iphone 6"
    assert all(os.path.isabs(s.path) for s in sources)


def test_donor_prefers_another_camera_model():
    srcs = [SourceImage("/x/0", "0", "cam a"), SourceImage("/x/1", "1", "cam a"),
            SourceImage("/x/2", "2", None), SourceImage("/x/3", "3", "cam b")]
    for seed in range(20):
        donor, cross = choose_donor(np.random.default_rng(seed), srcs, 0)
        assert donor == 3 and cross is True
    # unknown host camera: any other photo, camera relation unknown
    donors = {choose_donor(np.random.default_rng(s), srcs, 2)[0] for s in range(40)}
    assert donors == {0, 1, 3}
    assert choose_donor(np.random.default_rng(0), srcs, 2)[1] is None


# ------------------------------------------------------------------------------------------ regions
@pytest.mark.parametrize("fn", [polygon_region, blob_region])
def test_geometric_regions_hit_target_area(fn):
    for seed in range(10):
        target = 600.0
        m = fn(np.random.default_rng(seed), (120, 160), target)
        assert m.shape == (120, 160) and m.dtype == bool
        assert 0.4 * target < m.sum() < 1.6 * target


def test_segment_region_follows_content_and_inner_avoids_border():
    img = np.full((120, 160, 3), 40, np.uint8)
    img[30:90, 50:120] = (200, 60, 60)  # an "object" of 4200 px
    img = np.clip(img + np.random.default_rng(0).normal(0, 2, img.shape), 0, 255).astype(np.uint8)
    m = segment_region(np.random.default_rng(1), img, 3000, center=(60, 85))
    inside = m[30:90, 50:120].sum()
    assert inside >= 0.9 * m.sum()  # grows within the object, not across its edge
    for seed in range(6):
        r = np.random.default_rng(seed)
        m = segment_region(r, _photo(r, 96, 128), 1500, inner=True)
        assert m.any()
        assert not (m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any())


def test_composite_keeps_zero_alpha_pixels_bit_exact():
    rng = np.random.default_rng(0)
    host = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    layer = rng.integers(0, 256, (40, 50, 3)).astype(np.float32)
    region = np.zeros((40, 50), bool)
    region[10:30, 10:30] = True
    alpha = soft_alpha(region, 1.5)
    out = composite(host, layer, alpha)
    assert np.array_equal(out[alpha == 0], host[alpha == 0])
    assert (alpha[region] > 0).all() and (alpha > 0).sum() > region.sum()


# ------------------------------------------------------------------------------------ manipulations
def _check_exact(host, f):
    changed = (f.image != host).any(axis=-1)
    assert np.array_equal(changed, f.mask), "mask must be exactly the changed pixels"
    assert np.array_equal(f.image[~f.region], host[~f.region]), "pixels outside the region changed"
    assert not (f.mask & ~f.region).any()
    assert f.mask.sum() >= 16
    json.dumps(f.params)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_mask_is_exact(kind):
    rng = np.random.default_rng(7)
    for i in range(6):
        host = _photo(rng, 96, 128)
        donor = _photo(rng, 110, 90)
        f = make_forgery(kind, np.random.default_rng(100 + i), host, donor)
        assert f.kind == kind and f.image.dtype == np.uint8 and f.image.shape == host.shape
        _check_exact(host, f)
        assert f.mask.sum() >= 0.25 * f.region.sum()


def test_every_retouch_op_changes_pixels():
    rng = np.random.default_rng(3)
    crop = _photo(rng, 40, 48)
    for op in RETOUCH_OPS:
        out, params = _retouch_op(np.random.default_rng(0), crop, op)
        out = np.clip(np.rint(np.asarray(out, np.float32)), 0, 255).astype(np.uint8)
        assert (out != crop).any(), op
        json.dumps(params)
    host = _photo(rng, 96, 128)
    for seed in range(12):
        _check_exact(host, retouch(np.random.default_rng(seed), host))


def test_plain_copy_move_duplicates_pixels_exactly():
    host = _photo(np.random.default_rng(5), 96, 128)
    found = 0
    for seed in range(40):
        f = copy_move(np.random.default_rng(seed), host)
        if not f.params["plain_shift"]:
            continue
        found += 1
        dy = round(f.params["target_center"][0] - f.params["source_center"][0])
        dx = round(f.params["target_center"][1] - f.params["source_center"][1])
        ys, xs = np.nonzero(f.region)
        assert np.array_equal(f.image[ys, xs], host[ys - dy, xs - dx])
        assert (dy, dx) != (0, 0)
    assert found >= 3


def test_splice_needs_a_donor_and_kinds_are_checked():
    host = _photo(np.random.default_rng(0), 64, 64)
    with pytest.raises(ValueError):
        make_forgery("splice", np.random.default_rng(0), host)
    with pytest.raises(ValueError):
        make_forgery("warp", np.random.default_rng(0), host)


# -------------------------------------------------------------------------------------------- chain
def test_resize_keeps_aligned_masks_exact():
    img = np.zeros((64, 64, 3), np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[16:40, 8:32] = True
    _, half = resize_pair(img, mask, 0.5)
    expect = np.zeros((32, 32), bool)
    expect[8:20, 4:16] = True
    assert np.array_equal(half, expect)
    _, double = resize_pair(img, mask, 2.0, "cubic")
    expect = np.zeros((128, 128), bool)
    expect[32:80, 16:64] = True
    assert np.array_equal(double, expect)
    rng = np.random.default_rng(0)
    for s in rng.uniform(0.5, 1.5, 8):
        out, m = resize_pair(img, mask, float(s))
        assert m.shape == out.shape[:2] and m.dtype == bool
        assert abs(m.mean() - mask.mean()) < 0.05


def test_chain_off_is_identity_and_jpeg_bytes_are_the_image():
    rng = np.random.default_rng(0)
    img = _photo(rng, 70, 90)
    mask = np.zeros((70, 90), bool)
    mask[10:20, 10:30] = True
    out = apply_chain(np.random.default_rng(1), img, mask, NO_CHAIN, None)
    assert np.array_equal(out.image, img) and np.array_equal(out.mask, mask) and out.jpeg_bytes is None
    cfg = ChainConfig(resize_prob=1.0, jpeg_prob=1.0)
    for seed in range(5):
        out = apply_chain(np.random.default_rng(seed), img, mask, cfg, 48)
        assert out.image.shape[0] <= 48 and out.image.shape[1] <= 48
        assert out.mask.shape == out.image.shape[:2] and out.mask.any()
        assert np.array_equal(jpeg_decode(out.jpeg_bytes), out.image)
        with Image.open(io.BytesIO(out.jpeg_bytes)) as im:
            assert im.format == "JPEG"
        assert 30 <= out.params["jpeg_quality"] <= 100 and 0.5 <= out.params["resize"] <= 1.5


def test_crop_window_contains_a_focus_pixel():
    focus = np.zeros((200, 300), bool)
    focus[180:185, 290:295] = True
    for seed in range(20):
        top, left, h, w = crop_window(np.random.default_rng(seed), focus.shape, 64, focus)
        assert (h, w) == (64, 64) and focus[top : top + h, left : left + w].any()


# ------------------------------------------------------------------------------ generator / dataset
def test_sample_mask_exact_against_host_before_chain(sources):
    gen = SyntheticForgeries(sources, SynthConfig(size=None, chain=NO_CHAIN, pristine_fraction=0.0), seed=3)
    seen = set()
    for i in range(12):
        s = gen.sample(i)
        host = read_image(sources[i % len(sources)].path).pixels
        assert s.image.shape == host.shape
        assert np.array_equal((s.image != host).any(-1), s.mask.astype(bool))
        assert s.label == 1 and s.mask.any()
        assert s.sources[0] == sources[i % len(sources)].name
        if s.kind == "splice":
            assert len(s.sources) == 2 and s.sources[1] != s.sources[0]
        seen.add(s.kind)
    assert seen == set(KINDS)


def test_samples_are_deterministic_in_seed_epoch_index(sources):
    cfg = SynthConfig(size=64)
    a, b = SyntheticForgeries(sources, cfg, seed=11), SyntheticForgeries(sources, cfg, seed=11)
    for i in (0, 3, 7):
        sa, sb = a.sample(i, epoch=2), b.sample(i, epoch=2)
        assert np.array_equal(sa.image, sb.image) and np.array_equal(sa.mask, sb.mask)
        assert sa.params == sb.params and sa.kind == sb.kind and sa.jpeg_bytes == sb.jpeg_bytes
    other_seed = SyntheticForgeries(sources, cfg, seed=12)
    diffs = [not np.array_equal(a.sample(i).image, other_seed.sample(i).image) for i in range(5)]
    assert sum(diffs) >= 4
    diffs = [a.sample(i, 0).params != a.sample(i, 1).params for i in range(5)]
    assert sum(diffs) >= 4


def _items_by_index(ds, num_workers, order):
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(ds, order), batch_size=2, num_workers=num_workers, shuffle=False
    )
    out = {}
    for batch in loader:
        for k, idx in enumerate(batch["index"].tolist()):
            b = batch
            out[idx] = (b["image"][k], b["mask"][k], int(b["label"][k]), b["kind"][k], b["params"][k])
    return out


def test_dataset_is_independent_of_workers_and_order(sources):
    ds = SyntheticForgeryDataset(sources, 8, seed=5, size=48)
    ref = _items_by_index(ds, 0, list(range(8)))
    other = _items_by_index(ds, 2, [5, 2, 7, 0, 1, 6, 3, 4])
    assert sorted(ref) == sorted(other) == list(range(8))
    for i in range(8):
        assert torch.equal(ref[i][0], other[i][0]) and torch.equal(ref[i][1], other[i][1])
        assert ref[i][2:] == other[i][2:]


def test_dataset_item_format_and_padding(sources):
    ds = SyntheticForgeryDataset(sources, 12, seed=2, size=160, pristine_fraction=0.3)
    assert len(ds) == 12
    labels = set()
    for i in range(len(ds)):
        item = ds[i]
        img, mask = item["image"], item["mask"]
        assert img.shape == (3, 160, 160) and img.dtype == torch.float32
        assert 0.0 <= float(img.min()) and float(img.max()) < 1.0
        assert mask.shape == (160, 160) and mask.dtype == torch.int64
        assert set(torch.unique(mask).tolist()) <= {-1, 0, 1}
        h, w = ds.generator.sample(i).image.shape[:2]
        assert h < 160 or w < 160  # the sources are smaller than 160 x 160 here: padded
        assert (mask[h:] == -1).all() and (mask[:, w:] == -1).all()
        assert (img[:, h:] == 0).all() and (img[:, :, w:] == 0).all()
        assert item["label"] == int(item["kind"] != "pristine")
        assert bool((mask == 1).any()) == bool(item["label"])
        params = json.loads(item["params"])
        assert params["sources"]
        labels.add(item["label"])
    assert labels == {0, 1}
    raw = SyntheticForgeryDataset(sources, 3, seed=2, size=None, as_tensor=False)[1]
    assert raw["image"].dtype == np.uint8 and raw["image"].ndim == 3 and raw["mask"].dtype == np.int64
    with pytest.raises(IndexError):
        ds[12]


def test_ignore_label_marks_unchanged_pixels_of_the_region(sources):
    gen = SyntheticForgeries(sources, SynthConfig(size=None, chain=NO_CHAIN, pristine_fraction=0.0), seed=9)
    for i in range(6):
        s = gen.sample(i)
        t = s.target()
        assert np.array_equal(t == 1, s.mask.astype(bool))
        assert np.array_equal(t == -1, (s.region > 0) & (s.mask == 0))
        assert np.array_equal(s.target(ignore_unchanged=False), s.mask.astype(np.int64))


def test_pristine_samples_go_through_the_same_chain(sources):
    cfg = SynthConfig(size=64, pristine_fraction=1.0, chain=ChainConfig(resize_prob=1.0, jpeg_prob=1.0))
    gen = SyntheticForgeries(sources, cfg, seed=0)
    for i in range(5):
        s = gen.sample(i)
        assert s.kind == "pristine" and s.label == 0 and not s.mask.any()
        assert s.jpeg_bytes is not None and "resize" in s.params["chain"]


def test_unforgeable_photo_falls_back_to_pristine(tmp_path):
    Image.fromarray(np.full((48, 48, 3), 255, np.uint8)).save(tmp_path / "white.png")
    gen = SyntheticForgeries(tmp_path, SynthConfig(size=None, chain=NO_CHAIN, pristine_fraction=0.0), seed=0)
    s = gen.sample(0)
    assert s.kind == "pristine" and s.label == 0 and not s.mask.any() and "fallback" in s.params


# ------------------------------------------------------------------------------------ writer / CLI
def test_write_dataset_lists_manifest_and_exact_bytes(sources, tmp_path):
    cfg = SynthConfig(size=64, pristine_fraction=0.3)
    counts = write_dataset(sources, tmp_path, 10, seed=4, config=cfg)
    assert sum(counts.values()) == 10
    fake, real = read_list(tmp_path / "fake_list.txt"), read_list(tmp_path / "real_list.txt")
    assert len(fake) + len(real) == 10 and fake and real
    assert all(len(t) == 2 for t in fake) and all(len(t) == 1 for t in real)
    gen = SyntheticForgeries(sources, cfg, seed=4)
    for rel in [t[0] for t in fake] + [t[0] for t in real]:
        assert not os.path.isabs(rel) and (tmp_path / rel).is_file()
        s = gen.sample(int(Path(rel).stem))
        data = (tmp_path / rel).read_bytes()
        if rel.endswith(".jpg"):
            assert data == s.jpeg_bytes  # the chain's own bytes, not re-encoded
        else:
            assert s.jpeg_bytes is None
        assert np.array_equal(read_image(tmp_path / rel).pixels, s.image)
    for img_rel, mask_rel in fake:
        m = np.asarray(Image.open(tmp_path / mask_rel))
        assert m.dtype == np.uint8 and set(np.unique(m)) <= {0, 255} and (m == 255).any()
        assert m.shape == read_image(tmp_path / img_rel).size
    with open(tmp_path / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 and set(rows[0]) >= {"file", "kind", "label", "params", "sources"}
    for r in rows:
        json.loads(r["params"])
        assert r["label"] == str(int(r["kind"] != "pristine"))
        assert all(n in {s.name for s in sources} for n in r["sources"].split(";"))


def test_written_lists_load_with_the_benchmark_reader(sources, tmp_path):
    datasets = pytest.importorskip("trufor.evaluation.datasets")
    write_dataset(sources, tmp_path, 6, seed=8, config=SynthConfig(size=64, pristine_fraction=0.5))
    ds = datasets.from_lists(tmp_path / "fake_list.txt", tmp_path / "real_list.txt", root=tmp_path)
    assert len(ds.samples) == 6
    assert not [s for s in ds.samples if s.skip or s.mask_issue]
    assert {s.label for s in ds.samples} == {0, 1}


def test_cli_synth_end_to_end(src_dir, tmp_path, capsys):
    assert "synth" in SUBCOMMANDS
    out = tmp_path / "out"
    rc = main(["synth", str(src_dir), str(out), "-n", "8", "--seed", "1", "--kinds", "splice,copymove",
               "--pristine-fraction", "0.25", "--size", "64", "-q"])
    assert rc == 0
    assert "wrote 8 samples" in capsys.readouterr().out
    with open(out / "manifest.csv", newline="") as f:
        kinds = {r["kind"] for r in csv.DictReader(f)}
    assert kinds <= {"splice", "copymove", "pristine"}
    n = len(read_list(out / "fake_list.txt")) + len(read_list(out / "real_list.txt"))
    assert n == 8
    with pytest.raises(SystemExit):
        main(["synth", str(src_dir), str(out), "-n", "2", "--kinds", "warp"])
    assert main(["synth", str(tmp_path / "missing"), str(out), "-n", "2"]) == 2


# ------------------------------------------------------------------------- optional: real photos
@pytest.mark.skipif(not SHARED_PRISTINE.is_dir(), reason=f"real pristine photos absent ({SHARED_PRISTINE})")
def test_real_photos_give_exact_masks():
    srcs = scan_sources(SHARED_PRISTINE / "bsds500") + scan_sources(SHARED_PRISTINE / "camera")[:20]
    assert any(s.camera for s in srcs)
    gen = SyntheticForgeries(srcs, SynthConfig(size=None, work_size=384, chain=NO_CHAIN, pristine_fraction=0.0), seed=1)
    for i in range(0, len(srcs), len(srcs) // 6):
        s = gen.sample(i)
        host = read_image(srcs[i % len(srcs)].path).pixels
        win = s.params.get("host_window")
        if win:
            host = host[win[0] : win[0] + win[2], win[1] : win[1] + win[3]]
        assert np.array_equal((s.image != host).any(-1), s.mask.astype(bool)) and s.mask.any()


# ------------------------------------------------------------------------------- donor JPEG history
def test_donor_jpeg_history_is_a_real_jpeg_on_a_shifted_grid():
    from trufor.synthesis.processing import jpeg_encode
    from trufor.synthesis.synthetic import donor_jpeg_history

    donor = _photo(np.random.default_rng(3), 96, 120)
    out, recipe = donor_jpeg_history(np.random.default_rng(5), donor, (60, 60))
    dy, dx = recipe["grid_shift"]
    assert recipe["quality"] == 60 and 0 <= dy < 8 and 0 <= dx < 8 and (dy, dx) != (0, 0)
    assert out.shape == donor.shape and np.array_equal(out[:dy], donor[:dy]) and np.array_equal(out[:, :dx], donor[:, :dx])
    out = out[dy:, dx:]
    # a JPEG saved again at its own quality on its own grid barely moves; on another grid it moves more
    same = jpeg_decode(jpeg_encode(out, 60, 2)).astype(int) - out
    off = out[3:, 5:] if (dy, dx) != (3, 5) else out[2:, 1:]
    other = jpeg_decode(jpeg_encode(np.ascontiguousarray(off), 60, 2)).astype(int) - off
    assert np.abs(same).mean() < 0.5 * np.abs(other).mean()


def test_donor_history_changes_only_the_donor(sources):
    """With donor_jpeg_prob the draws of everything else are those of the plain generator."""
    plain = SyntheticForgeries(sources, SynthConfig(size=64, kinds=("splice",), pristine_fraction=0.0), seed=4)
    hist = SyntheticForgeries(sources, SynthConfig(size=64, kinds=("splice",), pristine_fraction=0.0,
                                                   donor_jpeg_prob=1.0), seed=4)
    changed = same_mask = 0
    for i in range(5):
        a, b = plain.sample(i), hist.sample(i)
        assert "donor_jpeg" not in a.params and 50 <= b.params["donor_jpeg"]["quality"] <= 95
        drop_crop = lambda chain: {k: v for k, v in chain.items() if k != "crop"}  # noqa: E731 (crops follow the mask)
        assert a.kind == b.kind == "splice" and drop_crop(a.params["chain"]) == drop_crop(b.params["chain"])
        assert a.params.get("host_window") == b.params.get("host_window") and a.sources == b.sources
        same_mask += np.array_equal(a.mask, b.mask)  # a content-shaped region may follow the donor's new pixels
        changed += not np.array_equal(a.image, b.image)
    assert changed >= 4 and same_mask >= 3
    with pytest.raises(ValueError, match="donor_jpeg_prob"):
        SynthConfig(donor_jpeg_prob=1.5)
    with pytest.raises(ValueError, match="donor_quality_range"):
        SynthConfig(donor_quality_range=(90, 40))


def test_training_sources_take_donor_jpeg(src_dir):
    from trufor.training.config import ConfigError
    from trufor.training.data import build_pair_dataset

    spec = {"type": "synthetic", "sources": [str(src_dir)], "length": 4, "kinds": ["splice"], "donor_jpeg": 1.0,
            "pristine_fraction": 0.0}
    ds = build_pair_dataset([spec], 64, seed=0, default_split="all")
    assert ds.datasets[0].inner.config.donor_jpeg_prob == 1.0
    with pytest.raises(ConfigError, match="donor_jpeg must be a probability"):
        build_pair_dataset([{**spec, "donor_jpeg": 2}], 64, seed=0, default_split="all")


def test_training_sources_take_region_shapes(src_dir):
    """``shapes`` limits every kind's regions to the shapes named (run 12d: no content-following segments)."""
    from trufor.training.config import ConfigError
    from trufor.training.data import build_pair_dataset

    spec = {"type": "synthetic", "sources": [str(src_dir)], "length": 12, "pristine_fraction": 0.0,
            "shapes": ["polygon", "blob"]}
    ds = build_pair_dataset([spec], 64, seed=0, default_split="all")
    gen = ds.datasets[0].inner.generator
    assert gen.config.shapes == ("polygon", "blob")
    drawn = {gen.sample(i).params.get("manipulation", {}).get("shape") for i in range(12)} - {None}
    assert drawn and drawn <= {"polygon", "blob"}
    everything = build_pair_dataset([{**spec, "shapes": None}], 64, seed=0, default_split="all")
    assert everything.datasets[0].inner.generator.config.shapes == ("polygon", "blob", "segment")
    assert "segment" in {everything.datasets[0].inner.generator.sample(i).params.get("manipulation", {}).get("shape")
                         for i in range(12)}
    with pytest.raises(ConfigError, match="unknown region shape"):
        build_pair_dataset([{**spec, "shapes": ["polygon", "circle"]}], 64, seed=0, default_split="all")
    with pytest.raises(ConfigError, match="shapes must be a list"):
        build_pair_dataset([{**spec, "shapes": []}], 64, seed=0, default_split="all")


def test_synth_cli_takes_region_shapes(src_dir, tmp_path, capsys):
    out = tmp_path / "blobs"
    assert main(["synth", str(src_dir), str(out), "-n", "6", "--shapes", "blob", "--pristine-fraction", "0",
                 "-q"]) == 0
    with open(out / "manifest.csv", newline="") as f:
        shapes = {json.loads(r["params"]).get("manipulation", {}).get("shape") for r in csv.DictReader(f)} - {None}
    assert shapes == {"blob"}
    with pytest.raises(SystemExit):
        main(["synth", str(src_dir), str(out), "-n", "1", "--shapes", "star"])
    assert "unknown region shape(s) star" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- web-scale edits
@pytest.fixture(scope="module")
def large_sources(tmp_path_factory):
    """Two camera-sized stand-ins (larger than every web side), so a web copy really downscales them."""
    root = tmp_path_factory.mktemp("large")
    rng = np.random.default_rng(77)
    for name, (h, w) in {"big1.jpg": (900, 1200), "big2.png": (1100, 820)}.items():
        _save_with_camera(root / name, _photo(rng, h, w), None, None, "JPEG" if name.endswith("jpg") else "PNG")
    return scan_sources(root)


def test_web_scale_edits_a_web_copy_of_host_and_donor(large_sources):
    from trufor.synthesis.processing import WEB_SIDES, web_copy

    cfg = SynthConfig(size=None, chain=NO_CHAIN, kinds=("splice",), pristine_fraction=0.0, web_prob=1.0)
    gen = SyntheticForgeries(large_sources, cfg, seed=3)
    for i in range(3):
        s = gen.sample(i)
        assert s.kind == "splice" and s.mask.any() and set(s.params["web"]) == {"host", "donor"}
        assert max(s.image.shape[:2]) in WEB_SIDES and "host_window" not in s.params
        w, h = (int(v) for v in s.params["web"]["host"].split()[0].split("x"))
        assert s.image.shape[:2] == (h, w)
    # a pristine web-scale sample is exactly the web copy of its photo, drawn from the sample's own stream
    pristine = SyntheticForgeries(large_sources, SynthConfig(size=None, chain=NO_CHAIN, pristine_fraction=1.0,
                                                             web_prob=1.0), seed=3)
    s = pristine.sample(1, epoch=2)
    r_web = np.random.default_rng(np.random.SeedSequence([3, 2, 1]).spawn(6)[5])
    assert r_web.random() < 1.0
    expected, _, _, recipe = web_copy(read_image(large_sources[1].path).pixels, r_web)
    assert s.kind == "pristine" and np.array_equal(s.image, expected) and s.params["web"] == {"host": recipe}
    with pytest.raises(ValueError, match="web_prob"):
        SynthConfig(web_prob=-0.1)


def test_web_scale_leaves_the_other_samples_as_they_were(large_sources):
    """Samples that were not drawn for a web-scale edit are those of the plain generator, byte for byte."""
    plain = SyntheticForgeries(large_sources, SynthConfig(size=128), seed=9)
    mixed = SyntheticForgeries(large_sources, SynthConfig(size=128, web_prob=0.5), seed=9)
    kept = webbed = 0
    for i in range(12):
        a, b = plain.sample(i), mixed.sample(i)
        if "web" in b.params:
            webbed += 1
            assert a.kind == b.kind  # the kind is drawn before, from another stream
        else:
            kept += 1
            assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) and a.params == b.params
    assert kept >= 2 and webbed >= 2


def test_web_pristine_fraction_sets_the_share_of_authentic_web_items_only(large_sources):
    """web_pristine_fraction changes which web-scale samples are pristine, and nothing else: unset (or equal to
    pristine_fraction) it gives the same samples; the samples drawn without a web history are those of the plain
    generator, byte for byte; at 1 every web-scale sample is pristine, at 0 none is."""
    base = SynthConfig(size=96, web_prob=0.5, pristine_fraction=0.2)
    plain = SyntheticForgeries(large_sources, base, seed=5)
    same = SyntheticForgeries(large_sources, replace(base, web_pristine_fraction=0.2), seed=5)
    every = SyntheticForgeries(large_sources, replace(base, web_pristine_fraction=1.0), seed=5)
    never = SyntheticForgeries(large_sources, replace(base, web_pristine_fraction=0.0), seed=5)
    webbed = 0
    for i in range(10):
        a, b, c, d = plain.sample(i), same.sample(i), every.sample(i), never.sample(i)
        assert np.array_equal(a.image, b.image) and a.params == b.params
        assert ("web" in a.params) == ("web" in c.params) == ("web" in d.params)
        if "web" in a.params:
            webbed += 1
            assert c.kind == "pristine" and c.label == 0 and not c.mask.any()
            assert d.kind != "pristine" and d.label == 1
        else:
            for other in (c, d):
                assert np.array_equal(a.image, other.image) and a.params == other.params and a.kind == other.kind
    assert 2 <= webbed <= 8
    with pytest.raises(ValueError, match="web_pristine_fraction"):
        SynthConfig(web_pristine_fraction=1.5)


def test_training_sources_and_cli_take_web_scale(src_dir, tmp_path):
    from trufor.training.config import ConfigError
    from trufor.training.data import build_pair_dataset

    spec = {"type": "synthetic", "sources": [str(src_dir)], "length": 4, "web_scale": 0.25}
    ds = build_pair_dataset([spec], 64, seed=0, default_split="all")
    assert ds.datasets[0].inner.config.web_prob == 0.25
    with pytest.raises(ConfigError, match="web_scale must be a probability"):
        build_pair_dataset([{**spec, "web_scale": 2}], 64, seed=0, default_split="all")
    assert ds.datasets[0].inner.config.web_pristine_fraction is None  # unset: the sample's pristine_fraction
    ds = build_pair_dataset([{**spec, "web_pristine": 0.45}], 64, seed=0, default_split="all")
    assert ds.datasets[0].inner.config.web_pristine_fraction == 0.45
    with pytest.raises(ConfigError, match="web_pristine must be a probability"):
        build_pair_dataset([{**spec, "web_pristine": -1}], 64, seed=0, default_split="all")
    out = tmp_path / "web_authentic"
    assert main(["synth", str(src_dir), str(out), "-n", "3", "--web-scale", "1", "--web-pristine", "1", "-q"]) == 0
    with open(out / "manifest.csv", newline="") as f:
        assert [r["kind"] for r in csv.DictReader(f)] == ["pristine"] * 3
    out = tmp_path / "web"
    assert main(["synth", str(src_dir), str(out), "-n", "3", "--web-scale", "1", "-q"]) == 0
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and all("host" in json.loads(r["params"])["web"] for r in rows)


# ----------------------------------------------------------------------------------- gradient-domain pastes
def test_gradient_blend_keeps_the_layer_in_place_and_the_host_at_the_border():
    from trufor.synthesis.forgeries import gradient_blend, gradient_fits

    rng = np.random.default_rng(5)
    host, donor = _photo(rng, 120, 160), _photo(rng, 120, 160)
    region = np.zeros((120, 160), bool)
    region[30:90, 40:110] = True
    region[0:20, 0:30] = True  # a region on the image's corner needs no room around it
    same = gradient_blend(host, host, region)
    assert np.abs(same.astype(int) - host).max() <= 1  # the host's own gradients and border give the host back
    brighter = np.clip(host.astype(int) + 40, 0, 255).astype(np.uint8)
    assert np.abs(gradient_blend(host, brighter, region).astype(int) - host)[region].mean() < 3  # a colour shift melts
    out = gradient_blend(host, donor, region)
    inner = cv2.erode(region.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)[:, 1:]
    gx = lambda a: np.diff(a.astype(float).mean(-1), axis=1)  # noqa: E731
    assert np.corrcoef(gx(out)[inner], gx(donor)[inner])[0, 1] > 0.8  # the donor's detail, not shifted
    mixed = gradient_blend(host, donor, region, "mixed")
    assert mixed.dtype == np.uint8 and not np.array_equal(mixed[region], out[region])
    thin = np.zeros_like(region)
    thin[50:52, 20:90] = True  # two pixels high: too thin to solve
    for small in (np.zeros_like(region), thin):
        with pytest.raises(ValueError, match="at least 3 x 3"):
            gradient_blend(host, donor, small)
    f = make_forgery("splice", np.random.default_rng(2), host, donor, gradient="normal", area=(1e-4, 2e-4))
    assert ("gradient" in f.params) == gradient_fits(f.region)  # a tiny paste is alpha-blended instead
    assert np.array_equal(f.mask, np.any(f.image != host, axis=-1))
    with pytest.raises(ValueError, match="unknown gradient blend"):
        gradient_blend(host, donor, region, "soft")


@pytest.mark.parametrize("kind", ["splice", "copymove"])
@pytest.mark.parametrize("mode", ["normal", "mixed"])
def test_gradient_pastes_keep_the_mask_rule_and_the_draws(kind, mode):
    rng = np.random.default_rng(8)
    host, donor = _photo(rng, 140, 180), _photo(rng, 140, 180)
    plain = make_forgery(kind, np.random.default_rng(21), host, donor)
    f = make_forgery(kind, np.random.default_rng(21), host, donor, gradient=mode)
    assert f.params["gradient"] == mode and "feather_sigma" not in f.params
    assert np.array_equal(f.mask, np.any(f.image != host, axis=-1)) and not (f.mask & ~f.region).any()
    assert f.mask.sum() >= 16
    # the region, its shape and its transform are the draws of the alpha-blended paste
    same_keys = ("shape", "scale", "angle", "flip", "target_center")
    assert {k: f.params[k] for k in same_keys} == {k: plain.params[k] for k in same_keys}
    assert f.params["attempt"] == plain.params["attempt"] == 0


def test_gradient_prob_leaves_the_other_samples_as_they_were(sources):
    plain = SyntheticForgeries(sources, SynthConfig(size=64, pristine_fraction=0.1), seed=12)
    mixed = SyntheticForgeries(sources, SynthConfig(size=64, pristine_fraction=0.1, gradient_prob=0.5), seed=12)
    kept = blended = 0
    for i in range(24):
        a, b = plain.sample(i), mixed.sample(i)
        assert a.kind == b.kind
        if "gradient" in b.params.get("manipulation", {}):
            blended += 1
            assert b.kind in ("splice", "copymove") and b.mask.any()
        else:
            kept += 1
            assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) and a.params == b.params
    assert kept >= 4 and blended >= 2
    with pytest.raises(ValueError, match="gradient_prob"):
        SynthConfig(gradient_prob=1.2)


def test_training_sources_take_gradient_blend(src_dir):
    from trufor.training.config import ConfigError
    from trufor.training.data import build_pair_dataset

    spec = {"type": "synthetic", "sources": [str(src_dir)], "length": 4, "gradient_blend": 0.5}
    ds = build_pair_dataset([spec], 64, seed=0, default_split="all")
    assert ds.datasets[0].inner.config.gradient_prob == 0.5
    assert build_pair_dataset([{**spec, "gradient_blend": 0}], 64, seed=0,
                              default_split="all").datasets[0].inner.config.gradient_prob == 0.0
    with pytest.raises(ConfigError, match="gradient_blend must be a probability"):
        build_pair_dataset([{**spec, "gradient_blend": "yes"}], 64, seed=0, default_split="all")


def test_synth_cli_takes_gradient_blend(src_dir, tmp_path, capsys):
    out = tmp_path / "gradient"
    assert main(["synth", str(src_dir), str(out), "-n", "8", "--kinds", "splice,copymove", "--gradient-blend", "1",
                 "--pristine-fraction", "0", "-q"]) == 0
    with open(out / "manifest.csv", newline="") as f:
        blends = [json.loads(r["params"])["manipulation"].get("gradient") for r in csv.DictReader(f)]
    assert len(blends) == 8 and set(blends) - {None} and set(blends) <= {"normal", "mixed", None}
    with pytest.raises(SystemExit):
        main(["synth", str(src_dir), str(out), "-n", "1", "--gradient-blend", "2"])
    assert "--gradient-blend" in capsys.readouterr().err
