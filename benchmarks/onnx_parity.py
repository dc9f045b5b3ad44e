#!/usr/bin/env python
"""Deviation of the exported graph from the official goldens, per runtime and graph-optimisation level.

    python benchmarks/onnx_parity.py [--onnx parity.onnx]

Rebuilds the seed-1 parity weights from ../shared/parity (exports them when --onnx is not given), runs every
fixture with ONNX Runtime at each graph optimisation level (ORT_DISABLE_ALL = `--mode exact`, ORT_ENABLE_BASIC,
ORT_ENABLE_EXTENDED, ORT_ENABLE_ALL = `--mode fast`) and OpenVINO (exact: f32 inference precision, fast: default
hints), and prints per configuration the max and mean |golden - output| of map, conf, np++ and score over the
fixtures, and the max distance of ONNX Runtime, of the goldens and of the torch engine to a float64 evaluation.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

KEYS = ("map", "conf", "np++", "score")
PARITY = Path(__file__).resolve().parents[1].parent / "shared" / "parity"


def parity_checkpoint(folder: Path) -> Path:
    import torch

    spec = importlib.util.spec_from_file_location("mw", PARITY / "make_weights.py")
    mw = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mw)
    sd = mw.build_state_dict(str(PARITY / "trufor_state_dict_keys.tsv"), 1, str(PARITY / "overrides_seed1.npz"),
                             str(PARITY / "noiseprint++.th"))
    path = folder / "trufor.pth.tar"
    torch.save({"state_dict": sd}, path)
    return path


def arrays(result) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, np.float64) for k, v in result.npz_arrays(include_noiseprint=True).items() if k in KEYS}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--onnx", default=None)
    p.add_argument("--weights", default=None, help="the parity checkpoint (rebuilt when not given)")
    args = p.parse_args()
    import onnxruntime as ort

    from trufor.deploy.backends import RuntimeModel
    from trufor.deploy.onnx_export import export_onnx

    tmp = tempfile.TemporaryDirectory()
    weights = Path(args.weights) if args.weights else parity_checkpoint(Path(tmp.name))
    onnx = Path(args.onnx) if args.onnx else export_onnx(Path(tmp.name) / "parity.onnx", weights)
    images = sorted((PARITY / "images").iterdir())
    goldens = {im.name: np.load(PARITY / "golden" / "seed1" / f"{im.name}.npz") for im in images}
    configs = []
    for level in ("ORT_DISABLE_ALL", "ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED", "ORT_ENABLE_ALL"):
        model = RuntimeModel(onnx, backend="onnxruntime", mode="exact")
        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        model._run.session = ort.InferenceSession(str(onnx), options, providers=["CPUExecutionProvider"])
        configs.append((f"onnxruntime {level}", model))
    try:
        configs += [(f"openvino {mode}", RuntimeModel(onnx, backend="openvino", mode=mode)) for mode in ("exact", "fast")]
    except Exception as exc:
        print(f"openvino not measured: {exc}")
    from trufor import load_model

    configs.append(("torch engine (oneDNN)", load_model(weights)))
    print(f"{'configuration':<34} " + " ".join(f"{k + ' max':>10} {k + ' mean':>10}" for k in KEYS))
    outputs = {}
    for label, model in configs:
        worst = {k: 0.0 for k in KEYS}
        means = {k: [] for k in KEYS}
        for im in images:
            ours = arrays(model.analyze(im))
            outputs[(label, im.name)] = ours
            for k in KEYS:
                d = np.abs(ours[k] - goldens[im.name][k])
                worst[k] = max(worst[k], float(d.max()))
                means[k].append(float(d.mean()))
        print(f"{label:<34} " + " ".join(f"{worst[k]:>10.2e} {np.mean(means[k]):>10.2e}" for k in KEYS), flush=True)
    import torch

    from trufor.weights import load_network

    net = load_network(weights).net.double()
    print("\nmax distance to a float64 evaluation over the fixtures:")
    dist = {}
    for im in images:
        pixels = np.asarray(Image.open(im).convert("RGB"))
        with torch.no_grad():
            out = net(torch.from_numpy(pixels.transpose(2, 0, 1).copy())[None].double() / 256.0)
        truth = {"map": torch.softmax(out.loc_logits[0], 0)[1].numpy(),
                 "conf": torch.sigmoid(out.conf_logits[0, 0]).numpy(), "np++": out.noiseprint[0, 0].numpy(),
                 "score": torch.sigmoid(out.det_logit).reshape(()).numpy()}
        rows = {"goldens (official, oneDNN AVX-512)": {k: np.asarray(goldens[im.name][k], np.float64) for k in KEYS}}
        rows.update({label: outputs[(label, im.name)] for label, _ in configs})
        for label, vals in rows.items():
            d = dist.setdefault(label, {k: 0.0 for k in KEYS})
            for k in KEYS:
                d[k] = max(d[k], float(np.max(np.abs(vals[k] - truth[k]))))
    for label, d in dist.items():
        print(f"{label:<34} " + " ".join(f"{k} {d[k]:.2e}" for k in KEYS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
