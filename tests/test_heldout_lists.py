"""scripts/make_heldout_lists.py: the held-out, calibration and training parts of the bundled model's data are
disjoint and are the parts the training configs draw (the same name hashes), on the real folders of ../shared."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, require_shared
from trufor.training.data import _keep


def _read(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def lists(tmp_path_factory) -> dict[str, list[str]]:
    require_shared("data/forgeries/imd2020_subset")
    require_shared("data/pristine/camera")
    out = tmp_path_factory.mktemp("lists")
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "make_heldout_lists.py"), str(out)],
                         capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    return {p.stem: _read(p) for p in out.glob("*.txt")}


def test_camera_parts_are_disjoint_and_cover_the_folder(lists):
    val, train, calib = (set(lists[f"camera_{part}_real"]) for part in ("val", "train", "calib"))
    assert calib and calib < train and not val & train
    folder = require_shared("data/pristine/camera")
    on_disk = {f"pristine/camera/{p.name}" for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")}
    assert val | train == on_disk
    # about 10 % held out, 20 % calibration (hash fractions of ~180 photos)
    assert 0.05 < len(val) / len(on_disk) < 0.16 and 0.12 < len(calib) / len(on_disk) < 0.3


def test_camera_calibration_part_is_what_holdout_0_3_leaves_out_of_training(lists):
    """Run 27's ingredients draw the camera photos as whole images with ``holdout: 0.3``: none of the calibration
    part, every other training-side photo; the 10 % held out of every phase stays out too."""
    calib = set(lists["camera_calib_real"])
    for entry in lists["camera_train_real"] + lists["camera_val_real"]:
        name = entry.removeprefix("pristine/camera/")
        assert _keep(name, 0.3, "train") == (entry not in calib and entry in lists["camera_train_real"])


def test_calibration_union_with_camera_group(lists):
    assert lists["calib_groups_camera_real"] == lists["calib_groups_real"] + lists["camera_calib_real"]
    assert not set(lists["calib_groups_camera_real"]) & set(lists["heldout_real"])


def test_calibrate_script_usage():
    run = subprocess.run(["bash", str(REPO / "scripts" / "calibrate_bundled.sh"), "only-one"], capture_output=True,
                         text=True)
    assert run.returncode == 2 and "usage: scripts/calibrate_bundled.sh UNCALIBRATED OUT [REAL_LIST]" in run.stderr
