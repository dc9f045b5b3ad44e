"""`trufor detect` and friends, end to end on a small random model (fast)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trufor.cli import main


@pytest.fixture()
def images(tmp_path) -> Path:
    root = tmp_path / "in"
    (root / "sub dir").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(root / "a.png")
    Image.fromarray(rng.integers(0, 256, (36, 30, 3), dtype=np.uint8)).save(root / "sub dir" / "b é.jpg")
    (root / "notes.txt").write_text("not an image")
    return root


def _run(*args) -> int:
    return main([str(a) for a in args])


def test_folder_layout_reports_and_resume(images, tmp_path, small_weights, capsys):
    out = tmp_path / "out"
    assert _run("detect", images, "-o", out, "--weights", small_weights) == 0
    npz_a, npz_b = out / "a.png.npz", out / "sub dir" / "b é.jpg.npz"
    with np.load(npz_a) as d:
        assert set(d.files) == {"map", "conf", "score", "imgsize"}
        assert d["map"].shape == (40, 48) and tuple(d["imgsize"]) == (40, 48)
    assert npz_b.exists()
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert all("trufor_small" in r["model"] for r in rows)
    doc = json.loads((out / "results.json").read_text())
    assert doc["counts"] == {"ok": 2, "skipped": 0, "failed": 0}
    with np.load(npz_a) as d:
        assert float(rows[0]["score"]) == pytest.approx(float(d["score"]))

    mtime = npz_a.stat().st_mtime_ns
    assert _run("detect", images, "-o", out, "--weights", small_weights) == 0
    assert npz_a.stat().st_mtime_ns == mtime  # skipped, not rewritten
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["status"] for r in rows] == ["skipped", "skipped"]
    assert rows[0]["score"] != ""

    assert _run("detect", images, "-o", out, "--weights", small_weights, "--overwrite") == 0
    assert npz_a.stat().st_mtime_ns != mtime


def test_half_written_output_is_redone(images, tmp_path, small_weights):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png.npz").write_bytes(b"PK\x03\x04garbage")  # as if a foreign tool died mid-write
    assert _run("detect", images / "a.png", "-o", out, "--weights", small_weights) == 0
    with np.load(out / "a.png.npz") as d:
        assert "map" in d.files


def test_bad_file_reported_batch_continues(images, tmp_path, small_weights):
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    out = tmp_path / "out"
    assert _run("detect", images, "-o", out, "--weights", small_weights) == 1
    rows = {Path(r["image"]).name: r for r in csv.DictReader(open(out / "results.csv"))}
    assert rows["broken.jpg"]["status"] == "failed" and "broken.jpg" in rows["broken.jpg"]["message"]
    assert rows["a.png"]["status"] == "ok"
    assert not (out / "broken.jpg.npz").exists()
    assert not list(out.rglob("*.part"))


def test_official_flags_single_file_output_name(images, tmp_path, small_weights):
    target = tmp_path / "res" / "single.npz"
    assert _run("-gpu", "-1", "-in", images / "a.png", "-out", target, "-save_np",
                "TEST.MODEL_FILE", small_weights) == 0
    with np.load(target) as d:
        assert "np++" in d.files and d["np++"].shape == (40, 48)
    other = tmp_path / "res2" / "named.out"
    assert _run("detect", images / "a.png", "-o", other, "--weights", small_weights) == 0
    assert (tmp_path / "res2" / "named.out.npz").exists()


def test_glob_root_and_png(images, tmp_path, small_weights):
    out = tmp_path / "out"
    assert _run("detect", f"{images}/**/*.jpg", "-o", out, "--weights", small_weights, "--save-png", "-q") == 0
    assert (out / "sub dir" / "b é.jpg.npz").exists()
    fig = Image.open(out / "sub dir" / "b é.jpg.figure.png")
    assert fig.size[0] > 300
    overlay = Image.open(out / "sub dir" / "b é.jpg.overlay.png")
    assert overlay.size == (30, 36)


def test_no_input_and_missing_input(tmp_path, small_weights, capsys):
    assert _run("detect", "--weights", small_weights) == 1
    assert _run("detect", tmp_path / "nothing_here", "--weights", small_weights) == 1
    assert "nothing_here: no such file or folder" in capsys.readouterr().err


def test_no_weights_message(images, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRUFOR_CACHE_DIR", str(tmp_path / "empty_cache"))
    monkeypatch.delenv("TRUFOR_WEIGHTS", raising=False)
    monkeypatch.setattr("trufor.weights.discovery.bundled_weights", lambda: None)
    assert _run("detect", images, "-o", tmp_path / "o") == 1
    err = capsys.readouterr().err
    assert "trufor weights download" in err and "--weights" in err


def test_visualize_and_info(images, tmp_path, small_weights, capsys):
    out = tmp_path / "out"
    assert _run("detect", images / "a.png", "-o", out, "--weights", small_weights, "-q") == 0
    mask = tmp_path / "mask.png"
    Image.fromarray((np.arange(40 * 48).reshape(40, 48) % 2 * 255).astype(np.uint8)).save(mask)
    fig = tmp_path / "fig.png"
    assert _run("visualize", images / "a.png", out / "a.png.npz", "--mask", mask, "-o", fig) == 0
    assert Image.open(fig).size[0] > 4 * 200  # four panels
    capsys.readouterr()
    assert _run("info", "--weights", small_weights, "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"]["variant"] == "trufor_small"
    assert info["model"]["provenance"] == "random init for tests"


def test_convert_cli(tmp_path, capsys):
    import torch

    from trufor.modeling import build_model
    from trufor.weights import read_weights

    src = tmp_path / "x.pth.tar"
    torch.save({"state_dict": build_model("trufor_small").state_dict()}, src)
    assert _run("convert", src, tmp_path / "x.safetensors") == 0
    assert read_weights(tmp_path / "x.safetensors").metadata["variant"] == "trufor_small"
    (tmp_path / "bad.pth.tar").write_bytes(b"junk")
    assert _run("convert", tmp_path / "bad.pth.tar") == 1


def test_ray_refuses_the_options_its_actors_do_not_run(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from trufor.cli import main

    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "a.png")
    for extra in (["--backend", "onnxruntime"], ["--batch-size", "4"]):
        assert main(["detect", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--ray", "local", *extra]) == 1
        assert "--ray runs the torch engine one image at a time" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
