"""Phase 1 with camera-model positives: cameras from EXIF or a manifest, whole cameras held out, the camera probe."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trufor.exif import EXIF_MAKE, EXIF_MODEL
from trufor.training.config import ConfigError
from trufor.training.data import Photo, build_photo_sources, held_out, read_camera_manifest
from trufor.training.noiseprint_phase import (CameraProbe, build_camera_probe, camera_pair_scores,
                                              camera_probe_metrics, highpass_residual)

CAMERAS = [f"Maker{k} Model{k}" for k in range(8)]


def camera_pattern(k: int) -> np.ndarray:
    """A camera's fixed 8x8-periodic trace (its 'fingerprint' in these tests)."""
    tile = np.random.default_rng(1000 + k).normal(0, 6, (8, 8, 1))
    return np.tile(tile, (12, 12, 3))


def make_photos(root: Path, shots: int = 4, exif_for: set[int] | None = None) -> list[dict]:
    """``shots`` photos per camera, 96x96: smooth random content + the camera's trace; EXIF only for
    cameras in ``exif_for`` (default all); a manifest.csv naming every file's source Make/Model/file."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    yy, xx = np.mgrid[0:96, 0:96]
    for k, cam in enumerate(CAMERAS):
        make, model = cam.split()
        for s in range(shots):
            rng = np.random.default_rng(k * 100 + s)
            content = 128 + 60 * np.sin(xx / rng.uniform(5, 20) + rng.uniform(0, 6))[..., None] \
                * np.cos(yy / rng.uniform(5, 20))[..., None] * np.ones((1, 1, 3))
            pixels = np.clip(content + camera_pattern(k), 0, 255).astype(np.uint8)
            name = f"{make}_{model}_{s}.png"
            exif = Image.Exif()
            if exif_for is None or k in exif_for:
                exif[EXIF_MAKE], exif[EXIF_MODEL] = make, model
            Image.fromarray(pixels).save(root / name, exif=exif)
            rows.append({"file": name, "source": f"{make}/{model}/IMG_{s}.JPG"})
    with (root / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "source"])
        w.writeheader()
        w.writerows(rows)
    return rows


def test_cameras_come_from_the_manifest_when_exif_has_none(tmp_path):
    make_photos(tmp_path / "p", exif_for={0, 1})
    spec = {"type": "pristine", "folders": [str(tmp_path / "p")]}
    plain = build_photo_sources([spec], default_split="all")
    assert sum(p.known_camera for p in plain) == 8  # EXIF only: 2 cameras x 4 shots
    with_manifest = build_photo_sources([{**spec, "camera_manifest": "auto"}], default_split="all")
    assert all(p.known_camera for p in with_manifest)
    assert len({p.camera for p in with_manifest}) == 8
    # EXIF and manifest spell a camera the same way: one group per camera, not two
    assert {p.camera for p in with_manifest if p.name.split("/")[-1].startswith("Maker0")} == {"camera:maker0 model0"}
    explicit = build_photo_sources([{**spec, "camera_manifest": str(tmp_path / "p" / "manifest.csv")}],
                                   default_split="all")
    assert [p.camera for p in explicit] == [p.camera for p in with_manifest]


def test_a_bad_manifest_is_a_config_error_naming_it(tmp_path):
    bad = tmp_path / "m.csv"
    bad.write_text("name,camera\na.jpg,x\n")
    with pytest.raises(ConfigError, match="m.csv: a camera manifest needs the columns 'file' and 'source'"):
        read_camera_manifest(bad)
    with pytest.raises(ConfigError, match="cannot read the camera manifest"):
        read_camera_manifest(tmp_path / "missing.csv")
    make_photos(tmp_path / "p", shots=1)
    with pytest.raises(ConfigError, match="camera_holdout must be in"):
        build_photo_sources([{"type": "pristine", "folders": [str(tmp_path / "p")], "camera_holdout": 1.5}],
                            default_split="train")


def test_whole_cameras_held_out_never_reach_training(tmp_path):
    make_photos(tmp_path / "p", shots=6)
    spec = {"type": "pristine", "folders": [str(tmp_path / "p")], "holdout": 0.3, "camera_holdout": 0.4}
    train = build_photo_sources([spec], default_split="train")
    val = build_photo_sources([spec], default_split="val")
    unseen = {c for c in {p.camera for p in val} if held_out(c, 0.4)}
    assert unseen and unseen != {p.camera for p in val}  # this draw holds some cameras out, not all
    assert not any(p.unseen_camera for p in train)
    assert not unseen & {p.camera for p in train}
    # every photo of an unseen camera is in validation; seen cameras by file name only
    assert all(p.unseen_camera == (p.camera in unseen) for p in val)
    assert sum(p.unseen_camera for p in val) == 6 * len(unseen)
    assert all(held_out(p.name.split("/", 1)[1], 0.3) for p in val if not p.unseen_camera)
    assert {p.path for p in train}.isdisjoint({p.path for p in val})
    assert len(train) + len(val) == 48


def probe_of(tmp_path: Path) -> CameraProbe:
    make_photos(tmp_path / "p", shots=6)
    spec = {"type": "pristine", "folders": [str(tmp_path / "p")], "camera_manifest": "auto", "holdout": 0.3,
            "camera_holdout": 0.4}
    probe = build_camera_probe(build_photo_sources([spec], default_split="val"),
                               build_photo_sources([spec], default_split="train"), patches=3, size=32, references=2)
    assert probe is not None
    return probe


def test_camera_pairs_compare_different_photos_only(tmp_path):
    probe = probe_of(tmp_path)
    n = len(probe.patches)
    assert probe.patches.shape == (n, 3, 32, 32) and n == 3 * probe.photos
    # references are training photos of the queries' seen cameras, at most 2 each
    refs = ~probe.query & ~probe.unseen
    for cam in set(probe.camera[refs]):
        assert cam in set(probe.camera[probe.query])
        assert len(set(probe.photo[refs & (probe.camera == cam)])) <= 2
    dist = torch.rand(n, n)
    dist = dist + dist.T
    scores = camera_pair_scores(dist, probe)
    i, j = np.triu_indices(n, 1)
    other = probe.photo[i] != probe.photo[j]
    seen = other & (probe.query[i] | probe.query[j]) & ~probe.unseen[i] & ~probe.unseen[j]
    assert len(scores["camera_auc"][0]) == seen.sum() > 0
    assert scores["camera_auc"][0].any() and not scores["camera_auc"][0].all()  # both kinds of pairs
    assert len(scores["camera_unseen_auc"][0]) == (other & probe.unseen[i] & probe.unseen[j]).sum() > 0
    assert np.allclose(scores["camera_auc"][1], -dist.numpy()[i[seen], j[seen]])


class HighPass(torch.nn.Module):
    def forward(self, x):
        return highpass_residual(x)


class Constant(torch.nn.Module):
    def forward(self, x):
        return torch.zeros(x.shape[0], 1, *x.shape[-2:])


def test_a_fingerprint_that_carries_the_camera_scores_high_and_one_that_does_not_scores_half(tmp_path):
    probe = probe_of(tmp_path)
    good = camera_probe_metrics(HighPass(), probe, border=2)
    assert good["camera_auc"] > 0.9 and good["camera_unseen_auc"] > 0.9
    assert good["baseline_camera_auc"] == pytest.approx(good["camera_auc"])  # the baseline is that very filter
    flat = camera_probe_metrics(Constant(), probe, border=2)
    assert flat["camera_auc"] == pytest.approx(0.5) and flat["camera_unseen_auc"] == pytest.approx(0.5)


def test_no_probe_without_known_cameras(tmp_path):
    assert build_camera_probe([Photo("x.png", "f/x.png", "image:f/x.png")], []) is None


def test_a_source_can_train_on_its_calibration_half_only(tmp_path):
    """As run 4's digicam: phase 1 takes the calibration half; the other half stays for the false-positive test."""
    from trufor.training.data import in_calibration_part

    make_photos(tmp_path / "p", shots=5)
    spec = {"type": "pristine", "folders": [str(tmp_path / "p")], "camera_manifest": "auto", "holdout": 0.9999,
            "calibration": 0.5}
    calib = build_photo_sources([{**spec, "split": "calib"}], default_split="train")
    val = build_photo_sources([{**spec, "split": "val"}], default_split="val")
    names = lambda photos: {p.name.split("/")[-1] for p in photos}  # noqa: E731
    assert names(calib) == {n for n in names(calib) | names(val) if in_calibration_part(n, 0.5)}
    assert names(calib).isdisjoint(names(val)) and len(calib) + len(val) == 40 and calib and val


def test_normalized_distances_are_two_minus_twice_the_correlation_and_ignore_amplitude():
    from trufor.training.losses import pairwise_sq_distances

    x = torch.randn(5, 1, 20, 20, generator=torch.Generator().manual_seed(0))
    d = pairwise_sq_distances(x, border=2, center=True, normalize=True)
    flat = x[..., 2:-2, 2:-2].reshape(5, -1)
    corr = torch.corrcoef(flat)
    assert torch.allclose(d, 2 * (1 - corr), atol=1e-5)
    scaled = x * torch.tensor([1.0, 10.0, 0.1, 3.0, 50.0]).view(5, 1, 1, 1)  # textured patches: larger residuals
    assert torch.allclose(pairwise_sq_distances(scaled, 2, True, True), d, atol=1e-5)
    assert not torch.allclose(pairwise_sq_distances(scaled, 2, True, False), pairwise_sq_distances(x, 2, True, False))
