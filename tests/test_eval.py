"""Tests of the evaluation runner, the report folder and ``trufor eval``, with a fake model on a tiny
synthetic dataset (and on a few real CASIA v1 images when ../shared is present)."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import trufor
from trufor.evaluation import datasets as D
from trufor.cli import main
from trufor.errors import ImageReadError
from trufor.evaluation import DETECTION_ONLY, OK, SKIPPED, evaluate, write_report
from trufor.errors import ResultFileError
from trufor.results import AnalysisResult

REPO = Path(__file__).resolve().parents[1]
CASIA1 = REPO.parent / "shared" / "data" / "benchmarks" / "casia1"

H, W = 96, 128


@dataclass
class FakeResult:
    score: float
    map: np.ndarray
    conf: np.ndarray
    warnings: list = field(default_factory=list)
    path: str | None = None
    seconds: float = 0.0

    @property
    def image_size(self):
        return self.map.shape

    def save_npz(self, path, include_noiseprint=False):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            np.savez(f, map=self.map, conf=self.conf, score=np.float64(self.score),
                     imgsize=np.asarray(self.map.shape, np.int64))


class FakeModel:
    """Calls the red areas of an image forged; the score grows with their size."""

    name = "fake model (tests)"

    def __init__(self, fail_on: tuple[str, ...] = ()):
        self.calls: list[str] = []
        self.fail_on = fail_on

    def analyze(self, image, noiseprint=False):
        path = getattr(image, "path", image)  # a LoadedImage from the runner, or a path
        self.calls.append(str(path))
        if any(f in str(path) for f in self.fail_on):
            raise ImageReadError(path, "cannot decode image: broken on purpose")
        rgb = (image.pixels if hasattr(image, "pixels") else np.asarray(Image.open(path).convert("RGB"))).astype(np.float32)
        redness = (rgb[..., 0] - rgb[..., 1:].mean(axis=-1)) / 255.0
        heat = np.clip(redness * 2, 0, 1).astype(np.float32)
        return FakeResult(float(min(1.0, heat.mean() * 8)), heat, np.ones_like(heat))


class NoModel:
    name = "must not run"

    def analyze(self, image, noiseprint=False):
        raise AssertionError(f"the model was called on {image} although its output is cached")


def _noise(rng):
    return np.clip(rng.normal(120, 12, (H, W, 3)), 0, 255).astype(np.uint8)


def make_dataset(root: Path) -> tuple[Path, Path]:
    """A tiny benchmark: 9 fake lines (one image missing, one mask missing, one transposed mask,
    one of another aspect ratio, one wrong mask) and 4 reals; returns the two list files."""
    rng = np.random.default_rng(0)
    fake_lines, real_lines = [], []
    boxes = [(10, 50, 20, 70), (40, 90, 60, 120), (5, 45, 5, 60), (30, 80, 30, 100), (20, 70, 40, 110),
             (10, 60, 10, 60), (50, 90, 70, 120), (10, 50, 60, 110)]
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        img = _noise(rng)
        img[y0:y1, x0:x1, 0] = 230
        img[y0:y1, x0:x1, 1:] = 40
        Image.fromarray(img).save(root / f"f{i}.png")
        mask = np.zeros((H, W), np.uint8)
        mask[y0:y1, x0:x1] = 255
        if i == 1:  # stored as RGB
            Image.fromarray(np.dstack([mask] * 3)).save(root / f"f{i}_gt.png")
        elif i == 3:  # stored rotated: re-oriented by the runner
            Image.fromarray(np.ascontiguousarray(np.rot90(mask, -1))).save(root / f"f{i}_gt.png")
        elif i == 4:  # another aspect ratio: unusable
            Image.fromarray(mask[:, :96]).save(root / f"f{i}_gt.png")
        elif i == 6:  # the mask marks another place: bad F1
            Image.fromarray(np.roll(mask, 60, axis=1)).save(root / f"f{i}_gt.png")
        elif i != 5:  # f5 has no mask
            Image.fromarray(mask).save(root / f"f{i}_gt.png")
        fake_lines.append(f"f{i}.png,f{i}_gt.png")
    fake_lines.append("missing.png,missing_gt.png")
    for i in range(4):
        img = _noise(rng)
        if i == 3:  # a false alarm
            img[10:30, 10:30, 0] = 230
            img[10:30, 10:30, 1:] = 40
        Image.fromarray(img).save(root / f"r{i}.png")
        real_lines.append(f"r{i}.png")
    (root / "fake.txt").write_text("\n".join(fake_lines) + "\n")
    (root / "real.txt").write_text("\n".join(real_lines) + "\n")
    return root / "fake.txt", root / "real.txt"


@pytest.fixture()
def synthetic(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    fake, real = make_dataset(root)
    return D.from_lists(fake, real, root=root), tmp_path


# ----------------------------------------------------------------------------------------------
# Runner
# ----------------------------------------------------------------------------------------------


def test_evaluate_statuses_and_metrics(synthetic):
    ds, tmp = synthetic
    model = FakeModel()
    res = evaluate(ds, model, tmp / "npz")
    by = {r.name: r for r in res.records}
    assert [by[f"f{i}.png"].status for i in range(8)] == [OK, OK, OK, OK, DETECTION_ONLY, DETECTION_ONLY, OK, OK]
    assert by["missing.png"].status == SKIPPED and by["missing.png"].reason.startswith("image file not found")
    assert by["f5.png"].reason.startswith("mask file not found")
    assert "different aspect ratio" in by["f4.png"].reason
    assert any("rotated 90 degrees" in w for w in by["f3.png"].warnings)
    for i in (0, 1, 2, 3, 7):
        assert by[f"f{i}.png"].metric("f1_best") == pytest.approx(1.0)
        assert by[f"f{i}.png"].metric("f1_th") == pytest.approx(1.0, abs=0.01)  # a few noisy pixels
    assert by["f6.png"].metric("f1_best") < 0.7
    assert by["f0.png"].forged_fraction == pytest.approx(40 * 50 / (H * W))
    assert len(model.calls) == 12  # every existing image once
    c = res.counts
    assert (c["samples"], c["evaluated"], c["skipped"], c["detection_only"], c["cached"]) == (13, 12, 1, 2, 0)
    assert res.localization["n_images"] == 6 and res.localization["n_no_forged_after_erosion"] == 0
    f1s = [by[f"f{i}.png"].metric("f1_best") for i in (0, 1, 2, 3, 6, 7)]
    assert res.localization["f1_best"] == pytest.approx(np.mean(f1s))
    det = res.detection
    assert (det.n_fake, det.n_real) == (8, 4)  # fakes without usable mask still count for detection
    assert 0.5 < det.auc <= 1.0
    assert res.model_name == "fake model (tests)"
    assert 0.5 < res.localization["pixel_auc_pooled"] <= 1.0


def test_cached_outputs_are_reused(synthetic):
    ds, tmp = synthetic
    first = evaluate(ds, FakeModel(), tmp / "npz")
    again = evaluate(ds, NoModel(), tmp / "npz")
    assert again.counts["cached"] == 12 and again.counts["analyzed"] == 0
    assert again.localization == first.localization
    assert again.detection == first.detection
    # a broken cache file is analysed again, with a warning
    (tmp / "npz" / "f0.png.npz").write_bytes(b"truncated")
    model = FakeModel()
    third = evaluate(ds, model, tmp / "npz")
    assert model.calls == [ds.samples[0].image]
    assert any("unreadable" in w for w in third.records[0].warnings)
    model = FakeModel()
    evaluate(ds, model, tmp / "npz", recompute=True)
    assert len(model.calls) == 12


def test_thin_forgery_is_counted_and_flagged(tmp_path):
    img = np.full((H, W, 3), 120, np.uint8)
    img[20:30, 10:100, 0] = 230  # a 10-px strip: nothing survives the 15x15 erosion
    Image.fromarray(img).save(tmp_path / "thin.png")
    mask = np.zeros((H, W), np.uint8)
    mask[20:30, 10:100] = 255
    Image.fromarray(mask).save(tmp_path / "thin_gt.png")
    ds = D.Benchmark("thin", str(tmp_path), [D.Sample("thin.png", str(tmp_path / "thin.png"), D.FAKE,
                                                    str(tmp_path / "thin_gt.png"))])
    res = evaluate(ds, FakeModel(), tmp_path / "npz")
    rec = res.records[0]
    assert rec.metric("f1_best") == 0.0 and rec.metrics["n_forged"] == 0
    assert any("thin forgery" in w for w in rec.warnings)
    assert res.localization["n_no_forged_after_erosion"] == 1


def test_no_model_and_failures(synthetic):
    ds, tmp = synthetic
    res = evaluate(ds, None, tmp / "empty")
    assert all(r.status == SKIPPED for r in res.records)
    assert res.records[0].reason == "no cached output and no model to analyse the image"
    assert math.isnan(res.detection.auc) and math.isnan(res.localization["f1_best"])
    res = evaluate(ds, FakeModel(fail_on=("f2.png",)), tmp / "npz")
    f2 = next(r for r in res.records if r.name == "f2.png")
    assert f2.status == SKIPPED and "broken on purpose" in f2.reason
    assert res.counts["evaluated"] == 11


def test_official_npz_without_score_or_conf(synthetic):
    ds, tmp = synthetic
    npz = tmp / "official"
    npz.mkdir()
    for s in ds.samples:
        if s.skip:
            continue
        heat = FakeModel().analyze(s.image).map
        np.savez(npz / f"{s.name}.npz", map=heat)  # the official tool without detection head
    res = evaluate(ds, NoModel(), npz)
    assert res.counts["cached"] == 12
    assert res.records[0].metric("f1_best") == pytest.approx(1.0)
    assert math.isnan(res.records[0].score) and res.detection.n_nan == 12
    with pytest.raises(ResultFileError, match="not found"):
        AnalysisResult.from_npz(npz / "nothing.npz")


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------


def _strict_json(path: Path):
    def no_nan(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(path.read_text(), parse_constant=no_nan)


def test_report_folder(synthetic):
    ds, tmp = synthetic
    res = evaluate(ds, FakeModel(), tmp / "npz")
    files = write_report(res, tmp / "report", gallery_size=3)
    for key in ("metrics", "csv", "summary", "html", "roc", "scores", "f1_hist", "gallery_worst", "gallery_best"):
        assert files[key].is_file() and files[key].stat().st_size > 0, key
    doc = _strict_json(files["metrics"])
    assert doc["counts"]["skipped"] == 1 and doc["skipped"][0]["name"] == "missing.png"
    assert {d["name"] for d in doc["detection_only"]} == {"f4.png", "f5.png"}
    assert doc["localization"]["f1_best"] == pytest.approx(res.localization["f1_best"])
    assert doc["protocol"]["erode_size"] == 15 and doc["protocol"]["dilate_size"] == 11
    assert doc["model"] == "fake model (tests)"
    with open(files["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 13 and rows[0]["name"] == "f0.png" and float(rows[0]["f1_best"]) == pytest.approx(1.0)
    assert rows[4]["status"] == DETECTION_ONLY and rows[4]["f1_best"] == ""
    html = files["html"].read_text()
    for name in ("metrics.json", "per_image.csv", "summary.md", "roc.png", "f1_hist.png", "gallery_worst.png",
                 "gallery_best.png", "missing.png", "different aspect ratio"):
        assert name in html, name
    md = files["summary"].read_text()
    assert "| localization | F1, best threshold per image |" in md
    worst = Image.open(files["gallery_worst"])
    assert worst.size[0] > 600  # four panels wide


def test_report_with_one_class_and_no_plots(synthetic):
    ds, tmp = synthetic
    reals = D.Benchmark("reals", ds.root, ds.reals)
    res = evaluate(reals, FakeModel(), tmp / "npz")
    files = write_report(res, tmp / "r2")
    doc = _strict_json(files["metrics"])
    assert doc["detection"]["auc"] is None and doc["localization"]["f1_best"] is None
    assert "gallery_worst" not in files and files["roc"].is_file()
    files = write_report(res, tmp / "r3", plots_too=False)
    assert not (tmp / "r3" / "roc.png").exists() and files["html"].is_file()


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------


def test_cli_eval_runs_then_reuses_cache(synthetic, monkeypatch, capsys):
    ds, tmp = synthetic
    loads = []

    def fake_load_model(weights=None, device="cpu", tta="none"):
        loads.append((weights, device, tta))
        return FakeModel()

    monkeypatch.setattr(trufor, "load_model", fake_load_model)
    out = tmp / "rep"
    argv = ["eval", "list:fake.txt,real.txt", "--root", ds.root, "-o", str(out), "--device", "cpu", "--gallery", "2"]
    assert main(argv) == 0
    assert loads == [(None, "cpu", "none")]
    text = capsys.readouterr().out
    assert "TruFor evaluation" in text and "ROC AUC" in text and "report.html" in text
    assert json.loads((out / "npz" / "model.json").read_text())["name"] == "fake model (tests)"
    # everything cached: the model is not even loaded, its name comes from the cache
    assert main(argv + ["-q"]) == 0
    assert len(loads) == 1
    assert _strict_json(out / "metrics.json")["model"] == "fake model (tests) (cached outputs)"
    # --tta reaches the model (a new report folder: nothing cached)
    assert main(["eval", "list:fake.txt,real.txt", "--root", ds.root, "-o", str(tmp / "views"), "--device", "cpu",
                 "--tta", "flips", "-q", "--no-plots"]) == 0
    assert loads[-1] == (None, "cpu", "flips")


def test_cli_limit_and_mask_options(synthetic, monkeypatch):
    ds, tmp = synthetic
    monkeypatch.setattr(trufor, "load_model", lambda weights=None, device="cpu", tta="none": FakeModel())
    out = tmp / "lim"
    assert main(["eval", "list:fake.txt,real.txt", "--root", ds.root, "-o", str(out), "--limit", "4", "-q",
                 "--no-plots", "--invert-masks", "--mask-mismatch", "skip"]) == 0
    with open(out / "per_image.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["f0.png", "r0.png", "f1.png", "r1.png"]
    doc = _strict_json(out / "metrics.json")
    assert doc["dataset"]["mask_format"] == "forged where grey level <= 0"
    assert doc["protocol"]["mask_mismatch"] == "skip"
    assert "are they inverted?" in doc["notes"][0]  # these masks were not inverted: flagged


def test_cli_model_that_cannot_load_stops_the_run(synthetic, monkeypatch, capsys):
    ds, tmp = synthetic
    calls = []

    def broken(weights=None, device="cpu", tta="none"):
        calls.append(weights)
        raise trufor.WeightsError(f"{weights}: weights file not found")

    monkeypatch.setattr(trufor, "load_model", broken)
    rc = main(["eval", "list:fake.txt,real.txt", "--root", ds.root, "-o", str(tmp / "x"), "--weights", "nope.pth",
               "--device", "cpu", "-q"])
    assert rc == 1 and calls == ["nope.pth"]  # tried once, not once per image
    err = capsys.readouterr().err
    assert "nope.pth: weights file not found" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["eval", "casia9", "--root", "."], "unknown dataset"),
        (["eval", "casia1", "--root", "/nonexistent/dir"], "dataset root folder not found"),
        (["eval", "list:nope.txt", "--root", "."], "list file not found"),
        (["eval", "casia1", "--root", ".", "--limit", "0"], "--limit"),
    ],
)
def test_cli_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_help_lists_eval(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    assert "list:FAKE_LIST" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------
# Real CASIA v1 images (../shared)
# ----------------------------------------------------------------------------------------------


def test_casia1_defects_end_to_end(tmp_path):
    if not CASIA1.is_dir():
        pytest.skip(f"{CASIA1} not available (the shared data folder lives beside the repository)")
    full = D.load_dataset("casia1", CASIA1)
    wanted = ("0275", "0542")
    picked = [s for s in full.fakes if s.name.endswith(tuple(f"_{w}.jpg" for w in wanted))]
    picked += full.fakes[:2] + full.reals[:2]
    ds = D.Benchmark("casia1-subset", full.root, picked, full.mask_format)
    res = evaluate(ds, FakeModel(), tmp_path / "npz")
    by = {r.name.split("_")[-1]: r for r in res.records}
    assert by["0275.jpg"].status == OK
    assert any("rotated 90 degrees counter-clockwise" in w for w in by["0275.jpg"].warnings)
    assert by["0542.jpg"].status == DETECTION_ONLY and by["0542.jpg"].reason.startswith("no ground-truth mask")
    assert res.counts["evaluated"] == 6 and res.detection.n_fake == 4 and res.detection.n_real == 2


def test_real_inference_api_small_random_model(synthetic, small_weights):
    """The runner against the real load_model()/analyze() contract (random small model, CPU)."""
    ds, tmp = synthetic
    model = trufor.load_model(small_weights, device="cpu")
    sub = D.Benchmark("sub", ds.root, [ds.samples[0], ds.samples[-1]], ds.mask_format)
    res = evaluate(sub, model, tmp / "npz")
    assert [r.status for r in res.records] == [OK, OK]
    assert res.model_name == model.name
    cached = AnalysisResult.from_npz(tmp / "npz" / "f0.png.npz")
    assert cached.map.shape == (H, W) and cached.conf.shape == (H, W)
    assert 0.0 <= cached.score <= 1.0 and not math.isnan(res.records[0].metric("f1_best"))
