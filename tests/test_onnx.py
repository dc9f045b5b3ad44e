"""ONNX export and the ONNX Runtime / OpenVINO backends (docs/DEPLOY.md).

The exported graph runs the parity weights on every fixture of ../shared/parity within the tolerances of
``conftest.runtime_tolerances``: the kit's 1e-4 is reachable only with oneDNN's AVX-512 kernels (the goldens'
own float32 rounding), so another runtime is held to the measured cross-runtime bound, and, more sharply,
to being no farther from a float64 evaluation than the goldens themselves are. These tests run in CI.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import IN_CI, PARITY, require_shared, runtime_tolerances

if not IN_CI:
    pytest.importorskip("onnxruntime")

KEYS = ("map", "conf", "np++", "score")


def _names():
    folder = PARITY / "images"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else ["(parity kit absent)"]


@pytest.fixture(scope="module")
def parity_onnx(parity_checkpoint, tmp_path_factory):
    """The parity weights exported with the defaults of `trufor export onnx`."""
    from trufor.deploy.onnx_export import export_onnx

    return export_onnx(tmp_path_factory.mktemp("onnx") / "parity.onnx", parity_checkpoint)


@pytest.fixture(scope="module")
def ort_exact(parity_onnx):
    from trufor import load_model

    return load_model(parity_onnx, backend="onnxruntime", mode="exact")


def _diffs(result, golden) -> dict[str, float]:
    ours = result.npz_arrays(include_noiseprint=True)
    assert tuple(ours["imgsize"]) == tuple(golden["imgsize"])
    return {k: float(np.max(np.abs(np.asarray(ours[k], np.float64) - np.asarray(golden[k], np.float64)))) for k in KEYS}


@pytest.mark.parity
@pytest.mark.parametrize("name", _names())
def test_onnxruntime_exact_matches_golden(ort_exact, name):
    parity = require_shared("parity")
    tol = runtime_tolerances("onnxruntime")
    result = ort_exact.analyze(parity / "images" / name, noiseprint=True)
    diffs = _diffs(result, np.load(parity / "golden" / "seed1" / f"{name}.npz"))
    print(name, {k: f"{v:.2e}" for k, v in diffs.items()})
    for key in KEYS:
        assert diffs[key] <= tol[key], f"{name}: {key} differs by {diffs[key]:.3g} > {tol[key]}"


@pytest.mark.slow
@pytest.mark.parity
def test_onnxruntime_as_close_to_float64_as_the_goldens(ort_exact, parity_checkpoint):
    """On the fixture where ONNX Runtime is farthest from the goldens, it is no farther from a float64
    evaluation of the same network than the goldens (oneDNN float32) are: the deviation is float32 rounding."""
    import torch

    from trufor.weights import load_network

    parity = require_shared("parity")
    name = "b_odd_333x197.jpg"
    pixels = np.asarray(Image.open(parity / "images" / name).convert("RGB"))
    net = load_network(parity_checkpoint).net.double()
    with torch.no_grad():
        out = net(torch.from_numpy(pixels.transpose(2, 0, 1).copy())[None].double() / 256.0)
    truth = {"map": torch.softmax(out.loc_logits[0], 0)[1].numpy(), "conf": torch.sigmoid(out.conf_logits[0, 0]).numpy(),
             "np++": out.noiseprint[0, 0].numpy(), "score": torch.sigmoid(out.det_logit).reshape(()).numpy()}
    golden = np.load(parity / "golden" / "seed1" / f"{name}.npz")
    ours = ort_exact.analyze(pixels).npz_arrays(include_noiseprint=True)
    for key in KEYS:
        ort_err = float(np.max(np.abs(np.asarray(ours[key], np.float64) - truth[key])))
        golden_err = float(np.max(np.abs(np.asarray(golden[key], np.float64) - truth[key])))
        print(key, f"onnxruntime {ort_err:.2e}  goldens {golden_err:.2e}")
        assert ort_err <= 1.5 * golden_err + 1e-6, f"{key}: {ort_err:.3g} from float64, goldens {golden_err:.3g}"


@pytest.mark.slow
@pytest.mark.parity
def test_onnxruntime_fast_mode_within_tolerance(parity_onnx):
    from trufor import load_model

    parity = require_shared("parity")
    tol = runtime_tolerances("onnxruntime")
    model = load_model(parity_onnx, backend="onnxruntime", mode="fast")
    assert model.describe()["mode"] == "fast"
    for name in ("c_splice_384x256.jpg", "d_tiny_37x61.png"):
        diffs = _diffs(model.analyze(parity / "images" / name), np.load(parity / "golden" / "seed1" / f"{name}.npz"))
        assert all(diffs[k] <= tol[k] for k in KEYS), (name, diffs)


@pytest.mark.slow
@pytest.mark.parity
def test_openvino_matches_golden(parity_onnx):
    if not IN_CI:
        pytest.importorskip("openvino")
    from trufor import load_model

    parity = require_shared("parity")
    tol = runtime_tolerances("openvino")
    model = load_model(parity_onnx, backend="openvino")
    for name in ("b_odd_333x197.jpg", "d_tiny_37x61.png"):
        diffs = _diffs(model.analyze(parity / "images" / name), np.load(parity / "golden" / "seed1" / f"{name}.npz"))
        print(name, {k: f"{v:.2e}" for k, v in diffs.items()})
        assert all(diffs[k] <= tol[k] for k in KEYS), (name, diffs)


def test_metadata_and_graph(parity_onnx):
    import onnx

    from trufor.deploy.onnx_export import MIN_SIDE, read_metadata
    from trufor.inference import MIN_SIDE as ENGINE_MIN_SIDE

    assert MIN_SIDE == ENGINE_MIN_SIDE
    meta = read_metadata(parity_onnx)
    assert meta["variant"] == "trufor_b2" and meta["input_type"] == "uint8"
    assert "GRIP" in meta["licence"] and meta["provenance"] and "opset 17" in meta["exporter"]
    model = onnx.load(str(parity_onnx), load_external_data=False)
    onnx.checker.check_model(str(parity_onnx))
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["map", "conf", "score", "np++"]
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    # exact export: no BatchNorm folded away by the exporter (25 BatchNorm layers in the b2 network)
    assert sum(n.op_type == "BatchNormalization" for n in model.graph.node) == 25


def test_small_image_and_batch_as_torch_engine(ort_exact, parity_model):
    """A 20x40 image (mirror-padded inside the graph) gives the torch engine's outputs; two images in one
    call give the same outputs as one at a time."""
    rng = np.random.default_rng(5)
    tol = runtime_tolerances("onnxruntime")
    tiny = rng.integers(0, 256, (20, 40, 3), dtype=np.uint8)
    ours, ref = ort_exact.analyze(tiny), parity_model.analyze(tiny)
    assert ours.map.shape == (20, 40) and ours.noiseprint.shape == (20, 40)
    assert any("mirror-padded" in w for w in ours.warnings)
    for key in KEYS:
        a, b = ours.npz_arrays(include_noiseprint=True)[key], ref.npz_arrays(include_noiseprint=True)[key]
        assert np.max(np.abs(np.asarray(a, np.float64) - b)) <= tol[key], key
    pair = rng.integers(0, 256, (2, 48, 64, 3), dtype=np.uint8)
    heat, conf, score, npp = ort_exact.run_pixels(pair)
    assert heat.shape == (2, 48, 64) and score.shape == (2,)
    one = ort_exact.analyze(pair[1])
    assert np.max(np.abs(heat[1] - one.map)) <= 1e-5 and abs(float(score[1]) - one.score) <= 1e-6


def test_pixel_cap_refuses_with_a_clear_message(parity_onnx):
    from trufor import TruForError, load_model

    model = load_model(parity_onnx, backend="onnxruntime", max_memory=3000 * 50 * 50)
    assert model.max_pixels == 2500
    with pytest.raises(TruForError, match=r"photo\.png: 60x60 .*above the onnxruntime backend's cap.*--backend torch"):
        model.check_size(60, 60, "photo.png")


def test_bad_files_named(tmp_path):
    from trufor import TruForError, load_model

    with pytest.raises(TruForError, match="missing.onnx: no such ONNX file"):
        load_model(tmp_path / "missing.onnx", backend="onnxruntime")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(TruForError, match="junk.onnx: not a readable ONNX file"):
        load_model(junk, backend="onnxruntime")
    with pytest.raises(TruForError, match="needs --backend onnxruntime or openvino"):
        load_model(junk)
    with pytest.raises(TruForError, match="precision"):
        load_model(junk, backend="onnxruntime", precision="bf16")


def test_cli_detect_onnxruntime_reports_backend(parity_onnx, tmp_path, capsys):
    """`trufor detect --backend onnxruntime --weights FILE.onnx` writes the official npz layout; the backend and
    mode are in results.json; a missing weights file for `export onnx` is a clear error."""
    import json

    from trufor.cli import main

    parity = require_shared("parity")
    res = tmp_path / "res"
    assert main(["detect", str(parity / "images" / "d_tiny_37x61.png"), "-o", str(res), "--backend", "onnxruntime",
                 "--mode", "fast", "--weights", str(parity_onnx), "-q"]) == 0
    with np.load(res / "d_tiny_37x61.png.npz") as data:
        assert set(data.files) == {"map", "conf", "score", "imgsize"}
    text = (res / "results.json").read_text()
    assert '"backend": "onnxruntime"' in text and '"mode": "fast"' in text
    assert json.loads(text)
    capsys.readouterr()
    assert main(["export", "onnx", str(tmp_path / "x.onnx"), "--weights", str(tmp_path / "nope.safetensors")]) != 0
    assert "nope.safetensors" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_export_and_detect(small_weights, tmp_path, capsys):
    """`trufor export onnx` then `trufor detect --backend onnxruntime` on the file, against the torch engine."""
    from trufor import load_model
    from trufor.cli import main

    out = tmp_path / "small.onnx"
    assert main(["export", "onnx", str(out), "--weights", str(small_weights), "--opset", "18"]) == 0
    assert "trufor_small" in capsys.readouterr().out
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(images / "a.png")
    res = tmp_path / "res"
    assert main(["detect", str(images), "-o", str(res), "--backend", "onnxruntime", "--weights", str(out), "-q",
                 "--save-np"]) == 0
    ref = load_model(small_weights).analyze(images / "a.png")
    with np.load(res / "a.png.npz") as data:
        assert np.max(np.abs(data["map"] - ref.map)) <= 1e-4
        assert np.max(np.abs(data["np++"] - ref.noiseprint)) <= 1e-4
        assert abs(float(data["score"]) - ref.score) <= 1e-5
    import json

    report = json.loads((res / "results.json").read_text())
    assert "onnxruntime" in json.dumps(report)


@pytest.mark.slow
def test_float32_input_export(small_weights, tmp_path):
    """`--input-type float32`: the graph reads pixels / 256 and gives the torch engine's outputs; the backends
    (which feed uint8) refuse such a file with a clear message."""
    import onnxruntime as ort

    from trufor import TruForError, load_model
    from trufor.cli import main

    out = tmp_path / "f32.onnx"
    assert main(["export", "onnx", str(out), "--weights", str(small_weights), "--input-type", "float32"]) == 0
    img = np.random.default_rng(0).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    heat, conf, score, npp = session.run(None, {"image": (img.transpose(2, 0, 1)[None] / 256.0).astype(np.float32)})
    ref = load_model(small_weights).analyze(img)
    assert np.max(np.abs(heat[0] - ref.map)) <= 1e-5 and np.max(np.abs(npp[0] - ref.noiseprint)) <= 1e-5
    assert abs(float(score[0]) - ref.score) <= 1e-6
    with pytest.raises(TruForError, match="exported for float32 input"):
        load_model(out, backend="onnxruntime")
